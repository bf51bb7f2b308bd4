# churnmodel: the commands a user and CI run. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
EXTRAS ?= dev,spark
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: help setup run ui serve test lint bench forward-test plan-benchmark fuzz load-test clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# --compile-bytecode: installed packages ship compiled, so no process compiles scikit-learn,
# pandas or MLflow from source when PYTHONDONTWRITEBYTECODE is set (as on our CI machines):
# that cost every command, test worker and model load several seconds.
$(STAMP): pyproject.toml | $(BIN)/python
	$(UV) pip install --python $(BIN)/python --quiet --compile-bytecode -e ".[$(EXTRAS)]"
	@touch $@

setup: $(STAMP)  ## create .venv and install churnmodel with its dev tools

SCORES ?= data/processed/cdnow_scores.parquet

run: setup  ## set up, train on CDNOW (MLflow run, registry), score every CDNOW customer
	$(BIN)/churnmodel train
	$(BIN)/churnmodel score --output $(SCORES)
	@echo
	@echo "scores:    $(SCORES) (one row per customer; columns in docs/mlflow.md)"
	@echo "MLflow UI: make ui, then open http://127.0.0.1:5000 (runs, metrics, plots, registry)"
	@echo "REST API:  make serve, then POST transactions to http://127.0.0.1:5001/invocations"

ui: setup  ## the MLflow UI on the project's store, http://127.0.0.1:5000
	$(BIN)/churnmodel ui

serve: setup  ## serve models:/churnmodel@champion over REST, http://127.0.0.1:5001/invocations
	$(BIN)/churnmodel serve

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

bench: setup  ## benchmarks against lifetimes, measured in the same run (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.run

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
