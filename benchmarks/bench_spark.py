"""The Spark engine (local mode, ``local[2]``) against the embedded DuckDB engine.

Features: both run the features job the CLI runs, on the same cached simulated Parquet log
(``bench_features.simulated_log``; nanosecond timestamps, order ids): read + validate +
de-duplicate + ledger + all customer features + life-cycle stages + write the table
(DuckDB: one Parquet file; Spark: a Parquet folder). Both get two threads.

Scoring: ``spark_score_job`` (the ``churnmodel score --engine spark`` job) against the
in-process ``score_job`` on the same log of 100k customers (10k when quick), with the model
``bench_scoring`` trains once and caches (an MLflow model folder): load + validate, score
every customer, write the scores, print the summary. The Spark case includes shipping the
model to the executors and, once per task, loading it there.

Training: ``train_job(engine="spark")`` (the ``churnmodel train --engine spark`` job) against
the in-process ``train_job`` on the same log of 100k customers (10k when quick), each into a
fresh MLflow store: load, snapshots, fits, evaluations, logging and registration. With the
default ``[model] training_customers`` (100,000) every customer is in the sample, so both
train the same model; Spark builds the snapshots and the purchase models' inputs.

Spark's session (JVM start, about 15 s) is created in the case's setup and not timed; its
first queries still pay for JIT warm-up, as a real job does. The harness's peak memory is the
Python process only: the JVM is a separate process, so its peak resident memory (VmHWM) is
printed to stderr and stored in the case's note as the configured heap.
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks._harness import Case
from benchmarks.bench_features import AS_OF, simulated_log

DRIVER_MEMORY = "4g"


def _spark_setup(path: Path) -> tuple[Any, Path]:
    from churnmodel.features.spark import spark_session

    spark = spark_session("local[2]", "churnmodel-bench", driver_memory=DRIVER_MEMORY)
    spark.range(1).count()  # the JVM is up
    return spark, path


def _jvm_peak_mb() -> float | None:
    """Peak resident memory of the Spark JVM (a child of this process), from /proc."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dev dependency
        return None
    peaks = []
    for child in psutil.Process().children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks) if peaks else None


def _python_workers_peak_mb() -> float | None:
    """Largest peak resident memory of Spark's Python workers (children of the JVM)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dev dependency
        return None
    peaks = []
    for child in psutil.Process().children(recursive=True):
        try:
            # python -m pyspark.daemon and its forked workers (not the JVM: its class path
            # mentions pyspark too).
            if not any(part.startswith("pyspark.") for part in child.cmdline()):
                continue
            status = Path(f"/proc/{child.pid}/status").read_text()
        except (OSError, psutil.Error):
            continue
        peaks += [int(x.split()[1]) / 1024 for x in status.splitlines() if x.startswith("VmHWM:")]
    return max(peaks) if peaks else None


def spark_features(arg: tuple[Any, Path]) -> None:
    from churnmodel.features.spark import SparkEngine

    spark, path = arg
    out = Path(tempfile.mkdtemp(prefix="bench_spark_")) / "features.parquet"
    try:
        with SparkEngine(spark) as engine:
            tx, _ = engine.load_transactions(
                str(path), order_col="order_id", as_of=AS_OF, count_customers=False
            )
            features = engine.customer_features(tx, AS_OF)
            features.frame.write.parquet(str(out))
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    print(f"  spark JVM peak RSS: {_jvm_peak_mb() or float('nan'):.0f} MB", file=sys.stderr)


def duckdb_features(path: Path) -> None:
    from churnmodel.features import customer_features
    from churnmodel.io import connect, load_transactions, write_table

    con = connect(threads=2)
    table, _ = load_transactions(con, path, order_col="order_id", as_of=AS_OF)
    frame = customer_features(table, AS_OF).reset_index()
    frame["lifecycle_stage"] = frame["lifecycle_stage"].astype(str)
    out = Path(tempfile.mkdtemp(prefix="bench_duckdb_")) / "features.parquet"
    try:
        write_table(frame, out)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def _path(path: Path) -> Path:
    return path


def _score_settings() -> Any:
    from benchmarks.bench_scoring import SCORING
    from churnmodel.config import load_settings

    return load_settings(
        None,
        {
            "data": {"order_col": "order_id"},
            "tracking": {"uri": f"sqlite:///{SCORING / 'mlflow.db'}"},
        },
    )


def _spark_score_setup(path: Path) -> tuple[Any, tuple[Path, Path]]:
    """The Spark session and the input (log, model); imports are not timed."""
    from benchmarks.bench_scoring import batch_setup

    spark, _ = _spark_setup(path)
    import churnmodel.workflows.spark_score  # noqa: F401

    return spark, (path, batch_setup(10_000)[1])


def _in_process_score_setup(path: Path) -> tuple[Path, Path]:
    from benchmarks.bench_scoring import batch_setup

    return path, batch_setup(10_000)[1]


def spark_score(arg: tuple[Any, tuple[Path, Path]]) -> None:
    from churnmodel.workflows.spark_score import spark_score_job

    _, (log, model) = arg
    out = Path(tempfile.mkdtemp(prefix="bench_spark_score_")) / "scores.parquet"
    try:
        result = spark_score_job(
            _score_settings(), data=str(log), output=out, model_uri=str(model), master="local[2]"
        )
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    print(
        f"    spark scored {result.n_customers:,} customers in {result.n_chunks} chunks; "
        f"JVM peak RSS {_jvm_peak_mb() or float('nan'):.0f} MB, largest Python worker "
        f"{_python_workers_peak_mb() or float('nan'):.0f} MB",
        file=sys.stderr,
        flush=True,
    )


def in_process_score(arg: tuple[Path, Path]) -> None:
    from churnmodel.workflows.score import score_job

    log, model = arg
    out = Path(tempfile.mkdtemp(prefix="bench_score_")) / "scores.parquet"
    try:
        score_job(_score_settings(), data=log, output=out, model_uri=str(model), progress=False)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def _train(engine: str, path: Path) -> None:
    from churnmodel.config import load_settings
    from churnmodel.workflows.train import train_job

    store = Path(tempfile.mkdtemp(prefix=f"bench_train_{engine}_"))
    settings = load_settings(
        None,
        {
            "data": {"order_col": "order_id"},
            "tracking": {
                "uri": f"sqlite:///{store / 'mlflow.db'}",
                "artifact_root": str(store / "mlartifacts"),
            },
        },
    )
    try:
        train_job(settings, data=str(path), engine=engine, spark_master="local[2]")
    finally:
        shutil.rmtree(store, ignore_errors=True)
    if engine == "spark":
        print(
            f"    spark training: JVM peak RSS {_jvm_peak_mb() or float('nan'):.0f} MB, largest "
            f"Python worker {_python_workers_peak_mb() or float('nan'):.0f} MB",
            file=sys.stderr,
            flush=True,
        )


def _spark_train_setup(path: Path) -> tuple[Any, Path]:
    spark, _ = _spark_setup(path)
    import churnmodel.workflows.spark_train
    import churnmodel.workflows.train  # noqa: F401

    return spark, path


def spark_train(arg: tuple[Any, Path]) -> None:
    _train("spark", arg[1])


def in_process_train(path: Path) -> None:
    _train("duckdb", path)


def cases(quick: bool) -> list[Case]:
    """Return the Spark-vs-DuckDB cases.

    Features on 10M rows (1M customers; 100k rows when quick); scoring on 100k customers (10k
    when quick).
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("skip bench_spark: pyspark is not installed (pip install -e '.[spark]')",
              file=sys.stderr)  # fmt: skip
        return []
    sizes = [10_000] if quick else [1_000_000]
    out = []
    for n_customers in sizes:
        path = simulated_log(n_customers)
        rows = pd.read_parquet(path, columns=["amount"]).shape[0]
        out.append(
            Case(
                name=f"spark local[2] parquet->features ({rows / 1e6:.1f}M rows)",
                ours=spark_features,
                reference=duckdb_features,
                reference_name="duckdb (2 threads)",
                setup=functools.partial(_spark_setup, path),
                reference_setup=functools.partial(_path, path),
                rows=rows,
                extra={
                    "note": "speedup < 1 means Spark is slower; ours peak excludes the JVM "
                    f"(heap {DRIVER_MEMORY}, VmHWM printed to stderr)"
                },
            )
        )
    n_customers = 10_000 if quick else 100_000
    path = simulated_log(n_customers)
    rows = pd.read_parquet(path, columns=["amount"]).shape[0]
    out.append(
        Case(
            name=f"spark local[2] parquet->scores ({rows / 1e6:.1f}M rows, {n_customers:,} cust.)",
            ours=spark_score,
            reference=in_process_score,
            reference_name="score_job in-process",
            setup=functools.partial(_spark_score_setup, path),
            reference_setup=functools.partial(_in_process_score_setup, path),
            rows=rows,
            extra={
                "note": "speedup < 1 means Spark is slower; ours peak excludes the JVM "
                f"(heap {DRIVER_MEMORY}) and the Python workers"
            },
        )
    )
    out.append(
        Case(
            name=f"spark local[2] train ({rows / 1e6:.1f}M rows, {n_customers:,} cust.)",
            ours=spark_train,
            reference=in_process_train,
            reference_name="train_job in-process",
            setup=functools.partial(_spark_train_setup, path),
            reference_setup=functools.partial(_path, path),
            rows=rows,
            extra={
                "note": "speedup < 1 means Spark is slower; ours peak is the driver's (the "
                f"JVM, heap {DRIVER_MEMORY}, and the Python workers are printed to stderr)"
            },
        )
    )
    return out
