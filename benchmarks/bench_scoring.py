"""Batch scoring and REST latency of the MLflow model.

Cases (no reference implementation: the targets are absolute):

* ``batch score (parquet -> scores)``: ``churnmodel score`` end to end on the simulated
  10M-row log of 1M customers (``bench_features.simulated_log(1_000_000)``): load + validate
  the log, score every customer chunk by chunk, write the scores Parquet. Target: <= 30 s
  wall, peak <= 3 GB.
* ``batch score process``: the same job as a user runs it, ``churnmodel score --data log
  --model folder --output scores.parquet`` in a process of its own (interpreter start, imports
  and model loading included), beside ``churnmodel features`` on the same log as the
  reference measured in the same run: the ratio says what scoring costs over computing the
  features. Wall time and the command's peak resident memory (the largest child the
  measuring process waited for). Target: <= 30 s wall, peak <= 3 GB.
* ``REST latency``: 500 sequential single-customer requests to ``churnmodel serve``
  (MLflow's scoring app behind churnmodel's request guard, one worker) on loopback; the
  time is the whole loop, and p50/p99 per request are printed and written to
  ``benchmarks/results/rest_latency.json``. Targets: p50 <= 25 ms, p99 <= 60 ms.

The model is trained once on the 10,000-customer simulated log (last 90 days as holdout) and
kept as an MLflow model folder in ``benchmarks/.cache/scoring/model-<hash of src/churnmodel>``
(the model carries the package code, so a change to the code trains a new one). As in the other
modules, imports happen in the untimed set-up (mlflow alone takes seconds); loading the model
is timed, the server's start-up is not.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._harness import Case
from benchmarks.bench_features import CACHE, simulated_log

SCORING = CACHE / "scoring"
SOURCE = Path(__file__).parents[1] / "src" / "churnmodel"
RESULTS = Path(__file__).parent / "results"


def _code_version() -> str:
    """A hash of the package source: the model carries its code, so a cached one goes stale."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE.rglob("*.py")):
        digest.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def trained_model() -> Path:
    """Return the cached model folder for this source, training it on the 10k log if missing."""
    model = SCORING / f"model-{_code_version()}"
    if (model / "MLmodel").exists():
        return model
    import mlflow

    from churnmodel.config import load_settings
    from churnmodel.workflows.train import train_job

    SCORING.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        None,
        {
            "data": {"order_col": "order_id"},
            "tracking": {
                "uri": f"sqlite:///{SCORING / 'mlflow.db'}",
                "artifact_root": str(SCORING / "mlartifacts"),
            },
        },
    )
    result = train_job(settings, data=simulated_log(10_000))
    mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(model))
    return model


def _settings() -> Any:
    from churnmodel.config import load_settings

    return load_settings(None, {"data": {"order_col": "order_id"}})


def batch_setup(n_customers: int) -> tuple[Path, Path]:
    """Return the log and the model; import what the job needs (imports are not timed)."""
    # As the `churnmodel` command does before anything loads OpenMP (churnmodel.cli.run).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import churnmodel.serving  # imports mlflow
    import churnmodel.workflows.score  # noqa: F401

    return simulated_log(n_customers), trained_model()


def batch_score(args: tuple[Path, Path]) -> None:
    from churnmodel.workflows.score import score_job

    log, model = args
    result = score_job(
        _settings(),
        data=log,
        output=CACHE / "scores.parquet",
        model_uri=str(model),
        progress=False,
    )
    print(
        f"    scored {result.n_customers:,} customers in {result.n_chunks} chunks",
        file=sys.stderr,
        flush=True,
    )


def _churnmodel(*args: str) -> None:
    """Run ``churnmodel *args`` in a fresh process (as a user does); fail if it fails."""
    command = [str(Path(sys.executable).with_name("churnmodel")), *args]
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        # A throw-away store: the model is a folder, but the job opens the tracking store.
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        env.pop("CHURNMODEL_CONFIG", None)
        done = subprocess.run(
            command, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {tail}")


def score_process(args: tuple[Path, Path]) -> None:
    log, model = args
    _churnmodel(
        "score",
        "--data",
        str(log),
        "--model",
        str(model),
        "--order-col",
        "order_id",
        "--output",
        str(CACHE / "scores_process.parquet"),
    )


def features_process(args: tuple[Path, Path]) -> None:
    log, _ = args
    _churnmodel(
        "features",
        "--data",
        str(log),
        "--order-col",
        "order_id",
        "--output",
        str(CACHE / "features_process.parquet"),
    )


def process_setup(n_customers: int) -> tuple[Path, Path]:
    """Return the log and the model (trained if missing); nothing is imported for the command."""
    return simulated_log(n_customers), trained_model()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rest_setup(n_requests: int) -> dict[str, Any]:
    """Start the server on the cached model; build ``n_requests`` one-customer request bodies."""
    model = trained_model()
    tx = pd.read_parquet(simulated_log(10_000), columns=["customer_id", "timestamp", "amount"])
    rng = np.random.default_rng(0)
    ids = rng.choice(tx["customer_id"].unique(), size=n_requests, replace=True)
    groups = dict(tuple(tx.groupby("customer_id")))
    bodies = []
    for cid in ids:
        rows = groups[cid]
        bodies.append(
            json.dumps(
                {
                    "dataframe_split": {
                        "columns": ["customer_id", "timestamp", "amount"],
                        "data": [
                            [str(c), t.isoformat(), float(a)]
                            for c, t, a in rows.itertuples(index=False)
                        ],
                    },
                    "params": {"as_of": "2023-12-31"},
                }
            ).encode()
        )
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "churnmodel.cli",
        "serve",
        "--model",
        str(model),
        "--port",
        str(port),
    ]
    log = (SCORING / "server.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited; see {SCORING / 'server.log'}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ping", timeout=2):
            break
        time.sleep(0.5)
    else:
        os.killpg(server.pid, signal.SIGTERM)
        raise TimeoutError("server did not start within 300 s")
    # One warm-up request: the first one pays for lazy imports inside the server.
    _post(f"{url}/invocations", bodies[0])
    return {"url": f"{url}/invocations", "bodies": bodies, "server": server}


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def rest_latency(state: dict[str, Any]) -> None:
    server = state["server"]
    try:
        latencies = []
        for body in state["bodies"]:
            start = time.perf_counter()
            _post(state["url"], body)
            latencies.append((time.perf_counter() - start) * 1000)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    ms = np.array(latencies)
    summary = {
        "requests": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "targets": "p50 <= 25 ms, p99 <= 60 ms",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rest_latency.json").write_text(json.dumps(summary, indent=2))
    print(
        f"    REST latency over {len(ms)} requests: p50 {summary['p50_ms']:.1f} ms, "
        f"p90 {summary['p90_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms",
        file=sys.stderr,
        flush=True,
    )


def cases(quick: bool) -> list[Case]:
    """Batch scoring, in process and as a process (1M customers; 10k when quick), and REST
    latency (500 requests; 50 when quick)."""
    n_customers = 10_000 if quick else 1_000_000
    n_requests = 50 if quick else 500
    log = simulated_log(n_customers)
    rows = pd.read_parquet(log, columns=["amount"]).shape[0]
    return [
        Case(
            name=f"batch score parquet->scores ({rows / 1e6:.1f}M rows, {n_customers:,} cust.)",
            ours=batch_score,
            setup=functools.partial(batch_setup, n_customers),
            rows=rows,
            target="<= 30 s, peak <= 3 GB" if not quick else "",
        ),
        Case(
            name=f"batch score process ({rows / 1e6:.1f}M rows, {n_customers:,} cust.)",
            ours=score_process,
            reference=features_process,
            reference_name="churnmodel features",
            setup=functools.partial(process_setup, n_customers),
            rows=rows,
            target="<= 30 s, peak <= 3 GB (whole process)" if not quick else "",
        ),
        Case(
            name=f"REST {n_requests} single-customer requests",
            ours=rest_latency,
            setup=functools.partial(rest_setup, n_requests),
            target="p50 <= 25 ms, p99 <= 60 ms (printed above)",
        ),
    ]
