# churnmodel: the commands a user and CI run. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
EXTRAS ?= dev,spark
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: help setup install-run lock-check upgrade run ui serve team-server notebook test lint bench forward-test plan-benchmark fuzz load-test clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Every install comes from uv.lock (`uv sync --locked`): a new release of any dependency cannot
# change a fresh install, and a pyproject.toml whose lock is stale stops the install. The
# package's own ranges (pyproject.toml) stay open for `pip install churnmodel`; `make upgrade`
# moves the lock to new releases and runs the tests. The venv starts with the uv release that
# uv.lock pins (group `tools`, synced with everything else).
UV_VERSION := $(shell awk '/^name = "uv"$$/ { getline; gsub(/version = |"/, ""); print; exit }' uv.lock)
comma := ,
EXTRA_FLAGS := $(addprefix --extra ,$(subst $(comma), ,$(EXTRAS)))
# --compile-bytecode: installed packages ship compiled, so no process compiles scikit-learn,
# pandas or MLflow from source when PYTHONDONTWRITEBYTECODE is set (as on our CI machines):
# that cost every command, test worker and model load several seconds.
SYNC := UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) $(UV) sync --locked --quiet --compile-bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# The developer install: the package, its extras (dev, spark) and nothing else (sync is exact).
$(STAMP): pyproject.toml uv.lock | $(BIN)/python
	$(SYNC) $(EXTRA_FLAGS)
	@touch $@

# What `make run`, `make ui` and `make serve` need: the package and its runtime dependencies
# (about a third of the developer install). --inexact keeps a developer install as it is.
$(VENV)/.installed-run: pyproject.toml uv.lock | $(BIN)/python
	$(SYNC) --inexact
	@touch $@

setup: $(STAMP)  ## create .venv and install churnmodel with its dev tools and Spark, from uv.lock

install-run: $(VENV)/.installed-run

lock-check: | $(BIN)/python  ## fail unless uv.lock matches pyproject.toml and .venv matches uv.lock
	$(SYNC) $(EXTRA_FLAGS) --check

upgrade: | $(BIN)/python  ## move uv.lock to the newest releases pyproject.toml allows, install them, run the tests
	$(UV) lock --upgrade
	$(MAKE) test

SCORES ?= data/processed/cdnow_scores.parquet

run: install-run  ## set up, train on CDNOW (MLflow run, registry), score every CDNOW customer
	$(BIN)/churnmodel train
	$(BIN)/churnmodel score --output $(SCORES)
	@echo
	@echo "scores:    $(SCORES) (one row per customer; columns in docs/mlflow.md)"
	@echo "MLflow UI: make ui, then open http://127.0.0.1:5000 (runs, metrics, plots, registry)"
	@echo "REST API:  make serve, then POST transactions to http://127.0.0.1:5001/invocations"

ui: install-run  ## the MLflow UI on the project's store, http://127.0.0.1:5000
	$(BIN)/churnmodel ui

serve: install-run  ## serve models:/churnmodel@champion over REST, http://127.0.0.1:5001/invocations
	$(BIN)/churnmodel serve

# The team's tracking server (docs/team-server.md): the runtime dependencies and the `server`
# extra (MLflow's basic auth, the PostgreSQL driver); settings from [server] and the environment.
$(VENV)/.installed-server: pyproject.toml uv.lock | $(BIN)/python
	$(SYNC) --inexact --extra server
	@touch $@

SERVER_ARGS ?=
team-server: $(VENV)/.installed-server  ## MLflow tracking server for a team: PostgreSQL, proxied artifacts, basic auth (docs/team-server.md)
	$(BIN)/churnmodel server $(SERVER_ARGS)

NOTEBOOK_DIR ?= notebooks
NOTEBOOK_PORT ?= 8888
NOTEBOOK_ARGS ?=
# JUPYTER_PATH puts the venv's kernelspec first, so the kernel is .venv's python even when a
# python3 kernel of another environment sits in ~/.local/share/jupyter.
notebook: setup  ## JupyterLab on notebooks/ (http://127.0.0.1:8888), kernel: .venv; jupytext keeps each .py twin in step
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	JUPYTER_PATH=$(abspath $(VENV))/share/jupyter $(BIN)/jupyter lab --notebook-dir=$(NOTEBOOK_DIR) \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(NOTEBOOK_PORT) \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(NOTEBOOK_ARGS)

test: setup  ## set up, then lint, type-check, check layers and run the tests
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks notebooks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 -q -m "not spark" tests --nbmake notebooks  # notebooks run top to bottom
	$(BIN)/pytest -q -m spark  # one process: the Spark tests share one JVM (docs/spark.md)

lint: setup  ## ruff only (lint and format)
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks notebooks

BENCH_ARGS ?=
bench: setup  ## benchmarks against references measured in the same run (benchmarks/README.md); BENCH_ARGS=--train-3m adds 3M customers
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

SEEDS ?= 0 1 2
VARIANTS ?= all
forward-test: setup  ## train-then-score on the seasonal_retailer scenario, scored against its truth (VARIANTS, SEEDS)
	$(BIN)/python -m benchmarks.served --seeds $(SEEDS) --variants $(VARIANTS)

plan-benchmark: setup  ## retention plans on simulated campaigns, scored against the true effect (SEEDS)
	$(BIN)/python -m benchmarks.plan --seeds $(SEEDS) --mlflow

FUZZ_MINUTES ?= 10
fuzz: setup  ## fuzz the transaction loader for FUZZ_MINUTES (default 10); not part of `make test`
	$(BIN)/python -m tests.fuzz.fuzz_loader --minutes $(FUZZ_MINUTES)

LOAD_CLIENTS ?= 50
LOAD_SECONDS ?= 60
load-test: setup  ## LOAD_CLIENTS (50) clients for LOAD_SECONDS (60) against the REST server on loopback; fails on any 5xx
	$(BIN)/python -m benchmarks.load_test --clients $(LOAD_CLIENTS) --seconds $(LOAD_SECONDS)

clean:  ## remove the virtual environment and caches (keeps data/ and models/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
