"""The batch scoring job on Spark: a Parquet log in, a Parquet folder of scores out.

Same settings, rules and scores as :func:`churnmodel.workflows.score.score_job` (the
``churnmodel score`` command), with the rows on Spark:

1. the driver finds the model (``models:/churnmodel@champion`` by default; a wrong name or
   alias is an error listing what exists), downloads it, loads it once to check that it is a
   churnmodel model, and ships it to the executors as one zip file (``SparkContext.addFile``);
2. :class:`churnmodel.features.spark.SparkEngine` loads the log with the shared load SQL
   (validation, quarantine, de-duplication, rows after the as-of date), and the quarantine
   file is written beside the output;
3. customers are split into chunks by a hash of their id (``groupBy(chunk).applyInPandas``:
   every customer's transactions land in one chunk); each Spark task loads the model from the
   shipped file once and scores each of its chunks with
   :meth:`churnmodel.serving.ChurnPyfuncModel.score` on a DuckDB view of the chunk, which is
   the call :func:`~churnmodel.workflows.score.score_table` makes in-process;
4. Spark writes the scores as a folder of Parquet part files (rows in no particular order;
   a local output is written beside the target and renamed into place), and the summary is
   read back from it. The rows carry ``as_of``, ``horizon_days``, ``clv_horizon_days`` and
   ``model_version`` like the in-process job's; the part files of a local output also carry
   its ``churnmodel`` key-value metadata (added to each part before the rename; Spark's
   writer has no option for it, so an output on a remote file system has the columns only).

The function that runs on the executors is pickled by value and imports churnmodel only when
it runs: an executor with churnmodel installed uses it (as the driver does); one without it
imports the package from the model's ``code`` folder. Either way the executors need
churnmodel's dependencies (pandas, pyarrow, numpy, duckdb, scikit-learn, lifetimes, mlflow).

pyspark and mlflow are imported only when the job runs.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnmodel.config import Settings
from churnmodel.exceptions import DataValidationError
from churnmodel.features.customer import to_date
from churnmodel.schemas import (
    AMOUNT,
    CUSTOMER_ID,
    LIFECYCLE_STAGES,
    ORDER_ID,
    TIMESTAMP,
)
from churnmodel.workflows.score import ScoreResult, default_model_uri, score_file_metadata
from churnmodel.workflows.spark_features import (
    _write_parquet_folder,
    spark_job_paths,
    spark_load_log,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


__all__ = ["SCORE_SCHEMA", "spark_score_job", "spark_scores"]

#: Spark schema of the scores: :data:`churnmodel.serving.SCORE_COLUMNS` in order.
SCORE_SCHEMA = (
    f"{CUSTOMER_ID} string, as_of timestamp_ntz, p_churn double, p_alive double, "
    "expected_purchases double, expected_spend double, clv double, value_at_risk double, "
    "lifecycle_stage string, horizon_days double, clv_horizon_days double, "
    "model_version string"
)

_CHUNK = "__chunk"
#: At least this many chunks per shuffle partition, so that every task gets work.
_CHUNKS_PER_PARTITION = 4


def _chunk_scorer(
    archive: str, *, as_of: date, timezone: str, threads: int
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Return the function that scores one chunk of transactions on an executor.

    The returned function is nested, so Spark pickles it by value: unpickling needs nothing
    but the standard library, and churnmodel is imported when it first runs (installed, or
    else from the model's ``code`` folder). Its state (the model, a DuckDB connection) is
    created on the first chunk of a task and kept for the task's other chunks.
    """
    state: dict[str, Any] = {}

    def score_chunk(transactions: pd.DataFrame) -> pd.DataFrame:
        if not state:
            import importlib.util
            import os
            import sys
            import zipfile

            from pyspark import SparkFiles

            folder = os.path.join(
                SparkFiles.getRootDirectory(), f"{archive.removesuffix('.zip')}-{os.getpid()}"
            )
            if not os.path.isdir(folder):
                with zipfile.ZipFile(SparkFiles.get(archive)) as zf:
                    zf.extractall(folder)
            if importlib.util.find_spec("churnmodel") is None:
                sys.path.insert(0, os.path.join(folder, "code"))
            from churnmodel.io import TransactionTable, connect
            from churnmodel.serving import load_model
            from churnmodel.workflows.score import openmp_threads

            con = connect(threads=1, timezone=timezone)
            state.update(
                model=load_model(folder).model,
                con=con,
                table=TransactionTable(con=con, view="scoring_chunk"),
                limit=openmp_threads,
            )
        con = state["con"]
        con.register("scoring_chunk_rows", transactions)
        try:
            # The canonical columns (the chunk key is left out), cast as
            # DuckDBEngine.for_transactions does: Arrow hands the timestamps over in ns.
            con.execute(
                "CREATE OR REPLACE TEMP VIEW scoring_chunk AS SELECT "
                "CAST(customer_id AS VARCHAR) AS customer_id, "
                'CAST("timestamp" AS TIMESTAMP) AS "timestamp", '
                "CAST(amount AS DOUBLE) AS amount, CAST(order_id AS VARCHAR) AS order_id "
                "FROM scoring_chunk_rows"
            ).fetchall()
            with state["limit"](threads):
                scores: pd.DataFrame = state["model"].score(state["table"], as_of)
        finally:
            con.execute("DROP VIEW IF EXISTS scoring_chunk").fetchall()
            con.unregister("scoring_chunk_rows")
        return scores

    return score_chunk


def spark_scores(
    transactions: DataFrame,
    archive: str,
    *,
    as_of: date,
    n_chunks: int,
    timezone: str = "UTC",
    threads: int = 1,
) -> DataFrame:
    """Score canonical transactions on Spark with the model shipped as ``archive``.

    Parameters
    ----------
    transactions
        Clean canonical transactions (``customer_id``, ``timestamp``, ``amount``,
        ``order_id``), e.g. the view :meth:`SparkEngine.load_transactions` returns.
    archive
        File name of the zipped model folder added with ``SparkContext.addFile``.
    as_of
        Scoring date.
    n_chunks
        Number of chunks (groups of customers by a hash of the id) to score separately.
    timezone
        Business time zone of the DuckDB connection that reads each chunk.
    threads
        OpenMP threads of the models in each task.

    Returns
    -------
    pyspark.sql.DataFrame
        :data:`SCORE_SCHEMA`, one row per customer with a purchase on or before ``as_of``.
    """
    from pyspark.sql import functions as F

    from churnmodel.features.spark import _quiet_pandas3

    scorer = _chunk_scorer(archive, as_of=as_of, timezone=timezone, threads=threads)
    chunked = transactions.select(
        CUSTOMER_ID,
        TIMESTAMP,
        AMOUNT,
        ORDER_ID,
        F.pmod(F.xxhash64(CUSTOMER_ID), F.lit(n_chunks)).alias(_CHUNK),
    )
    with _quiet_pandas3():
        return chunked.groupBy(_CHUNK).applyInPandas(scorer, schema=SCORE_SCHEMA)


def _ship_model(spark: SparkSession, uri: str, workdir: Path) -> tuple[str, Path]:
    """Download the model, zip it and add the zip to the Spark job; return name and folder.

    The zip is kept until this process exits: the driver serves added files to executors
    from their original path, and an executor that joins the application later (dynamic
    allocation) fetches every file added so far.
    """
    import mlflow

    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(workdir)))
    name = f"churnmodel-model-{uuid.uuid4().hex}"
    keep = tempfile.mkdtemp(prefix="churnmodel-spark-model-")
    atexit.register(shutil.rmtree, keep, ignore_errors=True)
    archive = shutil.make_archive(str(Path(keep) / name), "zip", root_dir=folder)
    spark.sparkContext.addFile(archive)
    return f"{name}.zip", folder


def _write_scores(frame: DataFrame, path: str, metadata: Mapping[str, str]) -> None:
    """Write the scores as a Parquet folder; a local one with ``metadata`` in every part.

    Spark writes into a temporary sibling folder; each part file is rewritten there with the
    key-value ``metadata`` added to its own (Spark's schema key kept; the checksum files Spark
    wrote for the old bytes are removed), then the folder is renamed into place
    (``_write_parquet_folder``). A remote output is written by Spark alone.
    """
    import pyarrow.parquet as pq

    extra = {str(k).encode(): str(v).encode() for k, v in metadata.items()}

    def add_metadata(folder: Path) -> None:
        for part in sorted(folder.glob("part-*.parquet")):
            table = pq.read_table(part)
            merged = {**(table.schema.metadata or {}), **extra}
            rewritten = part.with_name(f".{part.name}.rewrite")
            pq.write_table(table.replace_schema_metadata(merged), rewritten)
            os.replace(rewritten, part)
            (part.parent / f".{part.name}.crc").unlink(missing_ok=True)

    _write_parquet_folder(frame, path, finish=add_metadata)


def _n_chunks(spark: SparkSession, customers: int, chunk_customers: int) -> int:
    """Chunks of at most ``chunk_customers``, and enough of them for every shuffle partition."""
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 1)
    return max(math.ceil(customers / chunk_customers), _CHUNKS_PER_PARTITION * partitions, 1)


def spark_score_job(
    settings: Settings,
    *,
    data: str | Path | None,
    output: str | Path,
    model_uri: str | None = None,
    as_of: str | date | None = None,
    master: str | None = None,
    spark_config: Mapping[str, str] | None = None,
) -> ScoreResult:
    """Run the scoring job on Spark (module docstring).

    Parameters
    ----------
    settings
        ``[data]``: how to read the log; ``[tracking]``: the store and the default model;
        ``[scoring]``: chunk size (an upper bound here), summary length, and OpenMP threads
        per task (default ``spark.task.cpus``, 1).
    data
        Parquet file or folder (local path or a URI Spark reads).
    output
        Target folder of the scores, e.g. ``data/processed/scores.parquet``; the quarantine
        file goes beside it (``<stem>.quarantine.csv``).
    model_uri
        ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``runs:/...`` or a model
        folder; default ``models:/<registered_model>@<alias>`` from the settings.
    as_of
        Scoring date; default the last transaction date of the log.
    master
        Spark master URL; ``None``: whatever ``spark-submit`` or ``spark-defaults.conf`` set,
        else ``local[*]``.
    spark_config
        Extra Spark settings for the session.

    Raises
    ------
    ConfigError
        Unknown model or alias (the message lists what exists), pyspark or Java missing, a CSV
        output, or no ``--data``.
    DataValidationError
        As for the in-process job; the quarantine file is written before a too-many-bad-rows
        error is raised.
    """
    from churnmodel import serving, tracking

    started = time.perf_counter()
    out, q_path = spark_job_paths(data, output, example="scores.parquet")
    as_of_date = None if as_of is None else to_date(as_of)
    tracking.open_store(settings.tracking.uri, experiment=None)
    resolved = tracking.resolve_model(model_uri or default_model_uri(settings))

    from churnmodel.features.spark import SparkEngine, _quiet_pandas3, spark_session

    d = settings.data
    spark = spark_session(master, "churnmodel score", timezone=d.timezone, config=spark_config)
    workdir = Path(tempfile.mkdtemp(prefix="churnmodel-score-"))
    try:
        archive, folder = _ship_model(spark, resolved.uri, workdir)
        # A churnmodel model, or a clear error before the job.
        driver_model = serving.load_model(str(folder)).model
        with SparkEngine(spark, timezone=d.timezone) as engine:
            tx, report = spark_load_log(engine, data, settings, as_of=as_of_date, quarantine=q_path)
            effective = as_of_date or report.last_date
            if effective is None or not report.customers:
                raise DataValidationError(
                    "no usable transactions on or before the as-of date: nothing to score",
                    hint="check --as-of and the column flags",
                )
            n_chunks = _n_chunks(spark, int(report.customers), settings.scoring.chunk_customers)
            scores = spark_scores(
                engine.table(tx),
                archive,
                as_of=effective,
                n_chunks=n_chunks,
                timezone=d.timezone,
                # OpenMP threads per task: a task has spark.task.cpus cores (1 by default).
                threads=settings.scoring.threads
                or int(spark.conf.get("spark.task.cpus", "1") or 1),
            )
            _write_scores(scores, out, score_file_metadata(driver_model, resolved, effective))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # The summary from the written table: the scores are computed once.
    from pyspark.sql import functions as F

    written = spark.read.parquet(out)
    counts = {
        str(r["lifecycle_stage"]): int(r["count"])
        for r in written.groupBy("lifecycle_stage").count().collect()
    }
    totals = written.agg(F.sum("value_at_risk"), F.sum("clv")).collect()[0]
    columns = [CUSTOMER_ID, "lifecycle_stage", "p_churn", "clv", "value_at_risk"]
    with _quiet_pandas3():
        top = (
            written.orderBy(F.desc("value_at_risk"), CUSTOMER_ID)
            .limit(settings.scoring.top_n)
            .select(*columns)
            .toPandas()
        )
    return ScoreResult(
        output=out,
        quarantine=q_path,
        report=report,
        model=resolved,
        as_of=effective,
        n_customers=sum(counts.values()),
        n_chunks=n_chunks,
        stage_counts={s: counts.get(s, 0) for s in LIFECYCLE_STAGES},
        total_value_at_risk=float(totals[0] or 0.0),
        total_clv=float(totals[1] or 0.0),
        top=top,
        seconds=time.perf_counter() - started,
    )
