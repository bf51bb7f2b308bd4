"""What training on a customer sample costs in accuracy: ``[model] training_customers``.

``churnmodel train`` lets the lapse and spend models learn from the training snapshots of at
most ``training_customers`` customers (default 100,000; a sample stratified by month of first
purchase) and scores every customer. This script trains the same simulated log (``--customers``,
default 300,000; cached in ``benchmarks/.cache/`` like the other benchmarks) once per sample size
(``--sizes``, default ``0`` = every customer, then 100,000 and 30,000), each in a fresh process
with a throw-away MLflow store, and prints what the holdout and the season-aligned evaluation
measured on **every** customer: lapse ROC AUC and Brier score, spend Spearman and total error,
beside the BG/NBD baseline, with the wall time. The reference is the run on every customer, in
the same invocation. Results go to ``benchmarks/results/train_sample.json``.

    python -m benchmarks.train_sample [--customers 300000] [--sizes 0 100000 30000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_features import simulated_log

RESULTS = Path(__file__).parent / "results"
METRICS = (
    "lapse_roc_auc",
    "lapse_brier",
    "baseline_bgnbd_roc_auc",
    "spend_spearman",
    "spend_total_relative_error",
    "aligned_lapse_roc_auc",
    "aligned_spend_spearman",
)
_CHILD = """
import json, sys
from churnmodel.config import load_settings
from churnmodel.workflows import train_job
settings = load_settings(overrides={"model": {"training_customers": int(sys.argv[2])}})
result = train_job(settings, data=sys.argv[1])
print(json.dumps({k: float(v) for k, v in result.metrics.items()}))
"""


def train(log: Path, size: int) -> dict[str, Any]:
    """One training run in a fresh process: its metrics and wall seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-sample-") as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{Path(tmp) / 'mlflow.db'}"}
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(log), str(size)],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"training with training_customers={size} failed: {tail[0]}")
    metrics = json.loads(done.stdout.strip().splitlines()[-1])
    return {"training_customers": size, "wall_s": wall, **{k: metrics.get(k) for k in METRICS}}


def main(argv: list[str] | None = None) -> int:
    """Train once per sample size and print the metrics side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 100_000, 30_000])
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    log = simulated_log(args.customers, args.seed)
    runs = []
    for size in args.sizes:
        label = "every customer" if size == 0 else f"{size:,}"
        print(f"training on {label} of {args.customers:,} ...", file=sys.stderr, flush=True)
        runs.append(train(log, size))
    head = f"{'training customers':<22}{'wall s':>8}" + "".join(f"{m:>28}" for m in METRICS)
    print(head)
    for run in runs:
        label = "all" if run["training_customers"] == 0 else f"{run['training_customers']:,}"
        cells = "".join(f"{run[m]:>28.4f}" if run[m] is not None else f"{'-':>28}" for m in METRICS)
        print(f"{label:<22}{run['wall_s']:>8.1f}{cells}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "train_sample.json"
    out.write_text(json.dumps({"customers": args.customers, "runs": runs}, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
