"""The batch scoring job: every customer known at the as-of date, scored by a registered model.

``score_job(settings, data=..., output=...)``:

1. finds the model (``models:/churnmodel@champion`` by default; a wrong name or alias is an
   error listing the registered models and their aliases) and loads it;
2. loads and validates the log up to the as-of date (default: its last transaction date) and
   writes the quarantine file beside the output;
3. scores customers in chunks of about ``[scoring] chunk_customers``: customers are split by
   a hash of their id, so each customer's transactions stay together and memory is bounded by
   the chunk, not the log (the rows stay in DuckDB, which spills to disk; each chunk is a view
   the feature queries read in place);
4. writes the scores (Parquet or CSV by extension, atomically) and returns a summary. Every
   row carries ``as_of``, ``horizon_days``, ``clv_horizon_days`` and ``model_version``; a
   Parquet file also carries key-value metadata ``churnmodel``: JSON with the as-of date, the
   horizon of each column, the model version and URI (:func:`score_file_metadata`).

The model scores each chunk exactly as the REST server scores a request
(:meth:`churnmodel.serving.ChurnPyfuncModel.score`), minus the re-validation of rows that
loading already checked.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from churnmodel.config import Settings
from churnmodel.exceptions import DataValidationError
from churnmodel.features.customer import to_date
from churnmodel.io import LoadReport, TransactionTable, write_table
from churnmodel.io.tables import table_format
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, LIFECYCLE_STAGES, TIMESTAMP
from churnmodel.workflows.features import (
    load_log,
    load_quarantined,
    no_customers,
    quarantine_path,
)

if TYPE_CHECKING:
    from churnmodel.serving import ChurnPyfuncModel
    from churnmodel.tracking import ResolvedModel

__all__ = [
    "SCORE_METADATA_KEY",
    "ScoreResult",
    "default_model_uri",
    "openmp_threads",
    "run_foreground",
    "score_file_metadata",
    "score_job",
    "score_table",
    "serve_command",
]

#: Key of the score files' Parquet key-value metadata (JSON).
SCORE_METADATA_KEY = "churnmodel"


@dataclass(frozen=True)
class ScoreResult:
    """What the scoring job wrote, and the summary the CLI prints.

    ``output`` and ``quarantine`` are paths, or text for the Spark engine, whose outputs may
    be URIs such as ``s3a://...`` (:func:`churnmodel.workflows.spark_score.spark_score_job`).
    """

    output: Path | str
    quarantine: Path | str
    report: LoadReport
    model: ResolvedModel
    as_of: date
    n_customers: int
    n_chunks: int
    stage_counts: dict[str, int]
    total_value_at_risk: float
    total_clv: float
    top: pd.DataFrame
    seconds: float


def score_file_metadata(
    model: ChurnPyfuncModel, resolved: ResolvedModel, as_of: date
) -> dict[str, str]:
    """Return the key-value metadata of a score file: ``{"churnmodel": <JSON>}``.

    The JSON holds ``as_of``, ``horizon_days``, ``clv_horizon_days``, ``column_horizon_days``
    (the horizon of each score column; null for those at ``as_of``), ``model_version`` (the
    training run), ``model_uri``, ``registered_model`` and ``registered_version`` (when the
    registry resolved them), ``model_cutoff`` and ``time_zone``
    (:meth:`churnmodel.serving.ChurnPyfuncModel.score_metadata`).
    """
    meta = model.score_metadata(as_of, model_uri=resolved.uri)
    meta["registered_model"] = resolved.name
    meta["registered_version"] = resolved.version
    return {SCORE_METADATA_KEY: json.dumps(meta, sort_keys=True)}


def openmp_threads(n: int) -> AbstractContextManager[object]:
    """Cap the OpenMP threads of native code (scikit-learn's gradient boosting) in a block."""
    import sklearn.ensemble  # noqa: F401 - loads scikit-learn's OpenMP runtime, so it is capped
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="openmp")


def default_model_uri(settings: Settings) -> str:
    """``models:/<registered_model>@<alias>`` from the ``[tracking]`` settings."""
    return f"models:/{settings.tracking.registered_model}@{settings.tracking.alias}"


def _chunk_views(
    table: TransactionTable, n_customers: int, chunk_customers: int
) -> list[tuple[TransactionTable, int]]:
    """Split ``table`` by a hash of the customer id; return each chunk and its customers.

    Each chunk is a view on the rows DuckDB already holds (no copy): the model's feature
    queries run on it in the same connection, so a chunk's rows never become a pandas frame.
    """
    n_chunks = max(1, math.ceil(n_customers / chunk_customers))
    if n_chunks == 1:
        return [(table, n_customers)]
    chunk = f"hash({CUSTOMER_ID}) % {n_chunks}"
    counts = dict(
        table.con.execute(
            f"SELECT {chunk} AS k, count(DISTINCT {CUSTOMER_ID}) FROM {table.view} GROUP BY k"
        ).fetchall()
    )
    views = []
    for k in range(n_chunks):
        name = f"scoring_chunk_{k}"
        table.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {table.view} WHERE {chunk} = {k}"
        )
        views.append((TransactionTable(con=table.con, view=name), int(counts.get(k, 0))))
    return views


def score_table(
    model: ChurnPyfuncModel,
    table: TransactionTable,
    *,
    as_of: date,
    n_customers: int,
    chunk_customers: int,
    progress: bool | None = None,
) -> tuple[pd.DataFrame, int]:
    """Score every customer of ``table`` at ``as_of`` chunk by chunk; return scores and chunks.

    ``progress``: show a tqdm bar (``None``: only when there is more than one chunk and the
    output is a terminal).
    """
    from tqdm.auto import tqdm

    chunks = _chunk_views(table, n_customers, chunk_customers)
    todo = [(view, customers) for view, customers in chunks if customers]
    parts = []
    # tqdm's disable=None shows the bar only on a terminal.
    disable = (True if len(chunks) == 1 else None) if progress is None else not progress
    with (
        tqdm(
            total=n_customers, unit=" customers", unit_scale=True, desc="scoring", disable=disable
        ) as bar,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-features") as pool,
    ):
        # One thread computes the next chunk's features (DuckDB, which releases the
        # interpreter) while this one runs the models on the current chunk's: the same
        # chunks, features and models as one after the other, so the same scores. Only that
        # thread uses the connection while the chunks are scored.
        upcoming: Future[Any] | None = None
        if todo:
            upcoming = pool.submit(model.features, todo[0][0], as_of)
        for i, (_, customers) in enumerate(todo):
            assert upcoming is not None
            features = upcoming.result()
            upcoming = (
                pool.submit(model.features, todo[i + 1][0], as_of) if i + 1 < len(todo) else None
            )
            parts.append(model.score(features, as_of))
            bar.update(customers)
    if not parts:
        empty = pd.DataFrame(columns=[CUSTOMER_ID, TIMESTAMP, AMOUNT])
        return model.score(empty, as_of), len(chunks)
    scores = pd.concat(parts, ignore_index=True)
    return scores.sort_values(CUSTOMER_ID, kind="stable", ignore_index=True), len(chunks)


def score_job(
    settings: Settings,
    *,
    data: str | Path | None,
    output: str | Path,
    model_uri: str | None = None,
    as_of: str | date | None = None,
    progress: bool | None = None,
) -> ScoreResult:
    """Run the scoring job (module docstring).

    Parameters
    ----------
    settings
        ``[data]``: how to read the log; ``[tracking]``: the store and the default model;
        ``[scoring]``: chunk size and summary length.
    data
        CSV or Parquet file or folder; ``None`` or ``"cdnow"`` for the bundled CDNOW log.
    output
        ``.parquet`` or ``.csv``; the quarantine file goes beside it.
    model_uri
        ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``runs:/...`` or a model
        folder; default ``models:/<registered_model>@<alias>`` from the settings.
    as_of
        Scoring date; default the last transaction date of the log.

    Raises
    ------
    ChurnModelError
        Unknown model or alias (the message lists what exists), unreadable or too dirty data,
        a bad output extension.
    """
    from churnmodel import serving, tracking

    started = time.perf_counter()
    out = Path(output)
    table_format(out)  # a bad extension fails before any work
    q_path = quarantine_path(out)
    uri = model_uri or default_model_uri(settings)
    if not (Path(uri) / "MLmodel").is_file():
        # A model folder needs no tracking store: opening one costs a second or two (a new
        # SQLite store creates its tables) and would leave mlflow.db behind in the folder.
        tracking.open_store(settings.tracking.uri, experiment=None)
    resolved = tracking.resolve_model(uri)
    loaded = serving.load_model(resolved.uri)
    as_of_date = None if as_of is None else to_date(as_of)
    table, report = load_quarantined(
        lambda: load_log(data, settings, as_of=as_of_date),
        lambda rows: write_table(rows, q_path),
    )
    if not isinstance(table, TransactionTable):  # pragma: no cover - load_log keeps rows in DuckDB
        raise TypeError(f"expected a TransactionTable, got {type(table).__name__}")
    # tqdm reports progress. DuckDB 2 refuses progress-bar settings inside Jupyter when
    # ipywidgets is missing; scoring must not depend on it.
    with contextlib.suppress(duckdb.Error):
        table.con.execute("SET enable_progress_bar = false").fetchall()
    effective = as_of_date or report.last_date
    if effective is None or not report.customers:
        raise DataValidationError(
            "no usable transactions on or before the as-of date: nothing to score",
            hint="check --as-of and the column flags",
        )
    with openmp_threads(settings.scoring.threads or os.cpu_count() or 1):
        scores, n_chunks = score_table(
            loaded.model,
            table,
            as_of=effective,
            n_customers=int(report.customers),
            chunk_customers=settings.scoring.chunk_customers,
            progress=progress,
        )
    if scores.empty:
        raise no_customers(report, effective, "score")
    write_table(scores, out, metadata=score_file_metadata(loaded.model, resolved, effective))
    counts = scores["lifecycle_stage"].value_counts()
    top = scores.nlargest(settings.scoring.top_n, "value_at_risk").loc[
        :, [CUSTOMER_ID, "lifecycle_stage", "p_churn", "clv", "value_at_risk"]
    ]
    return ScoreResult(
        output=out,
        quarantine=q_path,
        report=report,
        model=resolved,
        as_of=effective,
        n_customers=len(scores),
        n_chunks=n_chunks,
        stage_counts={s: int(counts.get(s, 0)) for s in LIFECYCLE_STAGES},
        total_value_at_risk=float(scores["value_at_risk"].sum()),
        total_clv=float(scores["clv"].sum()),
        top=top.reset_index(drop=True),
        seconds=time.perf_counter() - started,
    )


def run_foreground(command: list[str], env: dict[str, str]) -> int:
    """Run a server in the foreground until it exits; return its exit code.

    Ctrl-C or SIGTERM to this process stops the server too, so no server outlives the command
    that started it. The server runs in a process group of its own, which this process stops
    with one SIGTERM: a terminal's Ctrl-C would send SIGINT to every process of the
    foreground group, and uvicorn, after shutting down cleanly on SIGINT, raises it again
    inside asyncio, which prints a ``CancelledError`` traceback. Ctrl-C ends with exit code 0.
    """
    import signal
    import subprocess
    import threading

    process = subprocess.Popen(command, env=env, start_new_session=True)
    main = threading.current_thread() is threading.main_thread()

    def stop(*_: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop()
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:  # the server's own children (uvicorn) too
                process.poll()  # reap the leader: a zombie would keep the group alive
                os.killpg(process.pid, 0)
                time.sleep(0.1)
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = process.wait()
        return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def serve_command(
    settings: Settings,
    *,
    model_uri: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5001,
    workers: int | None = None,
) -> tuple[ResolvedModel, list[str], dict[str, str]]:
    """Find the model and return the command (and environment) that serves it over REST.

    MLflow's scoring app behind churnmodel's request guard
    (:func:`churnmodel.serving.serve_command`). The model is looked up here, so a wrong name
    or alias fails with the list of what exists rather than inside the server. Run the
    command with :func:`run_foreground`. ``workers`` None: one per available core.
    """
    from churnmodel import serving, tracking

    store = tracking.open_store(settings.tracking.uri, experiment=None)
    resolved = tracking.resolve_model(model_uri or default_model_uri(settings))
    serving.check_model(resolved.uri)  # another kind of model: refused before any server
    command, env = serving.serve_command(
        resolved.uri, host=host, port=port, workers=workers, tracking_uri=store.uri
    )
    return resolved, command, env
