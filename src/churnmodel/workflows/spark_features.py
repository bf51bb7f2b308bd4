"""The features job on Spark: a Parquet log in, a Parquet folder of features out.

Same settings, rules and results as :func:`churnmodel.workflows.features_job` (the
``churnmodel features`` command), run by :class:`churnmodel.features.spark.SparkEngine`:

* input: a Parquet file or a folder of Parquet files (local path or a URI Spark reads);
* output: a **folder** of Parquet part files written by Spark (``features.parquet/``), which
  pandas, DuckDB and Spark read as one table; a local output is written beside the target and
  renamed into place, so readers never see half of it;
* quarantine: ``<stem>.quarantine.csv`` beside the output, one CSV file as with the embedded
  engine (for a remote output, a folder Spark writes with one CSV part).

pyspark is imported only when the job runs.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnmodel.config import Settings
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features.customer import to_date
from churnmodel.io import LoadReport, write_table
from churnmodel.schemas import LIFECYCLE_STAGES
from churnmodel.workflows.features import CDNOW, load_quarantined, purchase_rule, quarantine_path

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from churnmodel.features.spark import SparkEngine

__all__ = [
    "SparkFeaturesJobResult",
    "is_local_path",
    "local_path",
    "require_spark_input",
    "spark_features_job",
    "spark_job_paths",
    "spark_load_log",
]

_URI = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


@dataclass(frozen=True)
class SparkFeaturesJobResult:
    """What the Spark features job produced (the table itself stays in the output folder)."""

    report: LoadReport
    output: str
    quarantine: str
    n_customers: int
    attrs: dict[str, Any]
    stage_counts: dict[str, int] = field(default_factory=dict)


def is_local_path(path: str) -> bool:
    """Return whether ``path`` is on this machine: no URI scheme, or ``file://``."""
    match = _URI.match(path)
    return match is None or match.group(1).lower() == "file"


def local_path(path: str) -> Path:
    """Return ``path`` without a ``file://`` scheme."""
    return Path(re.sub(r"^file://", "", path))


def spark_job_paths(data: Any, output: str | Path, *, example: str) -> tuple[str, str]:
    """Check a Spark job's input and output; return the output and its quarantine file.

    Raises
    ------
    ConfigError
        No ``--data`` (the bundled CDNOW log runs on the embedded engine) or a CSV output (the
        Spark engine writes a Parquet folder; ``example`` names a good output).
    """
    require_spark_input(data)
    out = str(output)
    if out.lower().endswith(".csv"):
        raise ConfigError(
            f"the Spark engine writes a Parquet folder; got output {out!r}: "
            f"use a name like {example}"
        )
    q_path = str(quarantine_path(out)) if is_local_path(out) else _sibling(out, ".quarantine.csv")
    return out, q_path


def require_spark_input(data: Any) -> None:
    """Raise ConfigError unless ``data`` names a log (the CDNOW sample is not on Spark)."""
    if data is None or str(data) == CDNOW:
        raise ConfigError(
            "the Spark engine reads Parquet logs: pass --data PATH (a Parquet file or folder); "
            "the bundled CDNOW log runs on the embedded engine (--engine duckdb)"
        )


def spark_load_log(
    engine: SparkEngine,
    data: Any,
    settings: Settings,
    *,
    as_of: date | None,
    quarantine: str | None,
    count_customers: bool = True,
) -> tuple[str, LoadReport]:
    """Load ``data`` on Spark with the ``[data]`` settings; write the quarantine file.

    ``quarantine`` None: no file (training reports the counts, as it does in process).

    The Spark twin of :func:`churnmodel.workflows.features.load_log`, through the same
    :func:`~churnmodel.workflows.features.load_quarantined`. Returns the engine's view of the
    clean rows and the load report.
    """
    d = settings.data
    return load_quarantined(
        lambda: engine.load_transactions(
            str(data),
            customer_col=d.customer_col,
            date_col=d.date_col,
            amount_col=d.amount_col,
            order_col=d.order_col,
            as_of=as_of,
            date_format=d.date_format,
            decimal=d.decimal,
            dedupe=d.dedupe,
            max_quarantine_share=d.max_quarantine_share,
            count_customers=count_customers,
        ),
        lambda rows: (
            None if quarantine is None else _write_quarantine(rows, quarantine, engine.spark)
        ),
    )


def spark_features_job(
    settings: Settings,
    *,
    data: str | Path | None,
    output: str | Path,
    as_of: str | date | None = None,
    master: str | None = None,
    spark_config: Mapping[str, str] | None = None,
) -> SparkFeaturesJobResult:
    """Read a Parquet log with Spark, build features at ``as_of`` and write them with Spark.

    Parameters
    ----------
    settings
        Column mapping, time zone, validation and feature settings, as for the embedded job.
    data
        Parquet file or folder (``--data``); the bundled CDNOW log is not available here.
    output
        Target folder for the features, e.g. ``data/processed/features.parquet``.
    as_of
        Cut-off day (default: the last day with a clean transaction).
    master
        Spark master URL; ``None``: whatever ``spark-submit`` or ``spark-defaults.conf`` set,
        else ``local[*]``.
    spark_config
        Extra Spark settings for the session.

    Raises
    ------
    ConfigError
        pyspark or Java missing, a CSV output, or no ``--data``.
    DataValidationError
        As for the embedded job; the quarantine file is written before a too-many-bad-rows
        error is raised.
    """
    out, q_path = spark_job_paths(data, output, example="features.parquet")
    as_of_date = None if as_of is None else to_date(as_of)

    from churnmodel.features.spark import SparkEngine, spark_session

    d = settings.data
    spark = spark_session(master, "churnmodel features", timezone=d.timezone, config=spark_config)
    with SparkEngine(spark, timezone=d.timezone) as engine:
        tx, report = spark_load_log(
            engine, data, settings, as_of=as_of_date, quarantine=q_path, count_customers=False
        )
        effective = as_of_date or report.last_date
        if effective is None:
            raise DataValidationError("no usable transactions: nothing to build features from")
        features = engine.customer_features(
            tx,
            effective,
            time_unit=settings.features.time_unit,
            purchase=purchase_rule(settings),
        )
        frame = features.frame.persist()
        try:
            _write_parquet_folder(frame, out)
            counts = {
                str(r["lifecycle_stage"]): int(r["count"])
                for r in frame.groupBy("lifecycle_stage").count().collect()
            }
        finally:
            frame.unpersist()
    n_customers = sum(counts.values())
    stage_counts = {s: counts.get(s, 0) for s in LIFECYCLE_STAGES}
    customers = n_customers + int(features.attrs["customers_without_purchase"])
    report = _with_customers(report, customers)
    return SparkFeaturesJobResult(
        report=report,
        output=out,
        quarantine=q_path,
        n_customers=n_customers,
        attrs=dict(features.attrs),
        stage_counts=stage_counts,
    )


def _with_customers(report: LoadReport, customers: int) -> LoadReport:
    """Fill in the distinct customers of the used rows (free once features exist)."""
    import dataclasses

    return dataclasses.replace(report, customers=customers)


def _sibling(path: str, suffix: str) -> str:
    """``<stem><suffix>`` beside ``path`` for a URI (``s3a://b/x/f.parquet`` ...)."""
    head, _, name = path.rstrip("/").rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{head}/{stem}{suffix}"


def _write_quarantine(quarantine: pd.DataFrame, path: str, spark: Any) -> None:
    if is_local_path(path):
        write_table(quarantine, local_path(path))
        return
    frame = spark.createDataFrame(quarantine.astype("object").where(quarantine.notna(), None))
    frame.coalesce(1).write.mode("overwrite").option("header", "true").csv(path)


def _write_parquet_folder(
    frame: DataFrame, path: str, *, finish: Callable[[Path], None] | None = None
) -> None:
    """Write ``frame`` as a Parquet folder; locally into a temporary sibling, then rename.

    ``finish`` runs on the temporary folder of a local output before the rename (e.g. to add
    metadata to its part files); a remote output is written by Spark alone.
    """
    if not is_local_path(path):
        frame.write.mode("overwrite").parquet(path)
        return
    target = local_path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        frame.write.mode("overwrite").parquet(str(tmp))
        if finish is not None:
            finish(tmp)
        if target.is_dir():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.exists():
                target.unlink()
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
