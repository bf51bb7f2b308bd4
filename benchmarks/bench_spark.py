"""The Spark engine (local mode, ``local[2]``) against the embedded DuckDB engine.

Both run the features job the CLI runs, on the same cached simulated Parquet log
(``bench_features.simulated_log``; nanosecond timestamps, order ids): read + validate +
de-duplicate + ledger + all customer features + life-cycle stages + write the table
(DuckDB: one Parquet file; Spark: a Parquet folder). Both get two threads.

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


def cases(quick: bool) -> list[Case]:
    """Return the Spark-vs-DuckDB cases (10M rows, 1M customers; 100k rows when quick)."""
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
    return out
