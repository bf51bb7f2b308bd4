"""The features job: a transaction log in, customer features and a quarantine file out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pandas as pd

from churnmodel.config import Settings
from churnmodel.datasets.cdnow import CDNOW_COLUMNS, cdnow_raw
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import PurchaseRule, customer_features
from churnmodel.features.customer import to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.io import LoadReport, connect, empty_load_error, load_transactions, write_table
from churnmodel.io.tables import table_format
from churnmodel.schemas import LIFECYCLE_STAGES, QUARANTINE_COLUMNS

if TYPE_CHECKING:
    from churnmodel.workflows.spark_features import SparkFeaturesJobResult

T = TypeVar("T")

__all__ = [
    "ENGINES",
    "FeaturesJobResult",
    "check_engine",
    "features_job",
    "load_log",
    "load_quarantined",
    "quarantine_path",
]

#: Engines that build features: the embedded DuckDB engine and Spark.
ENGINES = ("duckdb", "spark")
Engine = Literal["duckdb", "spark"]

#: The bundled data set used when no --data is given.
CDNOW = "cdnow"


@dataclass(frozen=True)
class FeaturesJobResult:
    """What the features job produced."""

    features: pd.DataFrame
    report: LoadReport
    output: Path
    quarantine: Path

    @property
    def n_customers(self) -> int:
        """Customers in the features table."""
        return len(self.features)

    @property
    def attrs(self) -> dict[str, Any]:
        """``as_of``, ``time_unit`` and ``customers_without_purchase`` of the table."""
        return {str(k): v for k, v in self.features.attrs.items()}

    @property
    def stage_counts(self) -> dict[str, int]:
        """Customers per life-cycle stage."""
        counts = self.features["lifecycle_stage"].value_counts()
        return {stage: int(counts.get(stage, 0)) for stage in LIFECYCLE_STAGES}


def check_engine(engine: str) -> None:
    """Raise ConfigError unless ``engine`` is one of :data:`ENGINES`."""
    if engine not in ENGINES:
        raise ConfigError(f"'engine' must be one of {list(ENGINES)}, got {engine!r}")


def quarantine_path(output: str | Path) -> Path:
    """Return the quarantine file written beside ``output``: ``<stem>.quarantine.csv``."""
    out = Path(output)
    return out.with_name(f"{out.stem}.quarantine.csv")


def purchase_rule(settings: Settings, *, cdnow: bool = False) -> PurchaseRule:
    """Return the purchase rule from settings.

    ``cdnow`` has no effect: CDNOW needs no rule of its own now that the default counts $0
    orders, as its papers do (kept so that callers need not change).
    """
    del cdnow
    return PurchaseRule(
        min_net_amount=settings.features.min_net_amount,
        zero_net_is_purchase=settings.features.zero_net_is_purchase,
        free_orders_are_purchases=settings.features.free_orders_are_purchases,
    )


def load_quarantined(
    load: Callable[[], tuple[T, LoadReport]], write: Callable[[pd.DataFrame], object]
) -> tuple[T, LoadReport]:
    """Run ``load`` and ``write`` its quarantined rows, also when the load stops on them.

    A load that stops because too many rows were quarantined raises a DataValidationError that
    carries those rows: they are written before the error goes on, so the user sees which
    rows failed and why. Every job (embedded or Spark, features or scores) loads through here.
    """
    try:
        result, report = load()
    except DataValidationError as exc:
        if exc.rows is not None and list(exc.rows.columns) == list(QUARANTINE_COLUMNS):
            write(exc.rows)
        raise
    write(report.quarantine)
    return result, report


def load_log(
    data: str | Path | None,
    settings: Settings,
    *,
    as_of: date | None = None,
    materialize: bool = True,
) -> tuple[TransactionsLike, LoadReport]:
    """Load the log named by ``data`` (``None`` or ``"cdnow"``: the bundled CDNOW log).

    ``materialize`` keeps the clean rows in a DuckDB table, for jobs that read them several
    times (batch scoring, once per chunk of customers); a job that reads them once (features,
    training) passes ``False`` and they stay a view on the input (see
    :func:`~churnmodel.io.load_transactions`).
    """
    d = settings.data
    con = connect(timezone=d.timezone)
    if data is None or str(data) == CDNOW:
        table, report = load_transactions(
            con,
            cdnow_raw(sample=False),
            customer_col=CDNOW_COLUMNS["customer_col"],
            date_col=CDNOW_COLUMNS["date_col"],
            amount_col=CDNOW_COLUMNS["amount_col"],
            date_format=CDNOW_COLUMNS["date_format"],
            as_of=as_of,
            max_quarantine_share=0.0,
            source_name="CDNOW (lifetimes' CDNOW_master.txt)",
            materialize=materialize,
        )
    else:
        table, report = load_transactions(
            con,
            data,
            customer_col=d.customer_col,
            date_col=d.date_col,
            amount_col=d.amount_col,
            order_col=d.order_col,
            as_of=as_of,
            timezone=d.timezone,
            date_format=d.date_format,
            decimal=d.decimal,
            delimiter=d.delimiter,
            encoding=d.encoding,
            dedupe=d.dedupe,
            max_quarantine_share=d.max_quarantine_share,
            materialize=materialize,
        )
    if report.rows_used == 0:  # nothing on or before the as-of date: say which dates there are
        raise empty_load_error(table, report)
    return table, report


def no_customers(report: LoadReport, as_of: date, action: str) -> DataValidationError:
    """Return the error for a run that would produce zero customers.

    It names the log's date range and the as-of date: the rows that were used hold no
    purchase day on or before ``as_of`` (returns only, or amounts that net to zero).
    """
    span = (
        f"from {report.first_date} to {report.last_date}"
        if report.first_date is not None
        else "with no dates"
    )
    return DataValidationError(
        f"no customer to {action} at the as-of date {as_of}: the log's {report.rows_used:,} "
        f"usable rows ({span}, {report.timezone}) hold no purchase on or before it, only "
        "returns or amounts that net to zero",
        hint="check --amount-col (purchases are positive amounts) and --as-of",
    )


def features_job(
    settings: Settings,
    *,
    data: str | Path | None,
    output: str | Path,
    as_of: str | date | None = None,
    engine: Engine = "duckdb",
    spark_master: str | None = None,
) -> FeaturesJobResult | SparkFeaturesJobResult:
    """Read a log, build features at ``as_of`` and write them with the quarantine file.

    The quarantine file is written even when the load stops because too many rows were
    quarantined, so the user can see which rows and why; then the error is raised again.
    ``engine="spark"`` runs :func:`~churnmodel.workflows.spark_features.spark_features_job`
    (a Parquet folder out) on ``spark_master``; pyspark is imported only then.
    """
    check_engine(engine)
    if engine == "spark":
        from churnmodel.workflows.spark_features import spark_features_job

        return spark_features_job(
            settings, data=data, output=output, as_of=as_of, master=spark_master
        )
    out = Path(output)
    table_format(out)  # fail on a bad extension before any work
    q_path = quarantine_path(out)
    as_of_date = None if as_of is None else to_date(as_of)
    tx, report = load_quarantined(
        lambda: load_log(data, settings, as_of=as_of_date, materialize=False),
        lambda rows: write_table(rows, q_path),
    )
    effective = as_of_date or report.last_date
    if effective is None:
        raise DataValidationError("no usable transactions: nothing to build features from")
    features = customer_features(
        tx,
        effective,
        time_unit=settings.features.time_unit,
        purchase=purchase_rule(settings, cdnow=data is None or str(data) == CDNOW),
    )
    if features.empty:
        raise no_customers(report, effective, "build features for")
    frame = features.reset_index()
    frame["lifecycle_stage"] = frame["lifecycle_stage"].astype(str)
    write_table(frame, out)
    return FeaturesJobResult(features=features, report=report, output=out, quarantine=q_path)
