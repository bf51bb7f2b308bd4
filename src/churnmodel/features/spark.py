"""Run the feature queries on Spark: the same SQL text, transpiled by SQLGlot.

Every feature is defined once, as SQL in DuckDB's dialect (:mod:`churnmodel.features.queries`)
plus one pandas function for the derived columns and life-cycle stages
(:func:`~churnmodel.features.customer.finish_customer_features`). :class:`SparkEngine` runs
that SQL on Spark after ``sqlglot.transpile(sql, read="duckdb", write="spark")``, and applies
the pandas function to the per-customer aggregate partition by partition (``mapInPandas``), so
no per-row or per-customer data has to reach the driver. Loading a log uses the validation
rules of :mod:`churnmodel.io.transactions` in the same way: the SQL that parses rows and gives
each bad one a reason, groups identical rows and counts them is the text DuckDB runs.

What is Spark's own here is plumbing only: reading Parquet (with row numbers, and nanosecond
timestamps, which Spark cannot read natively), caching, and the expansion of identical rows
that are kept. ``tests/features/test_spark_parity.py`` checks that both engines agree.

pyspark is an optional dependency (``pip install 'churnmodel[spark]'``); it is imported when a
function here first needs it, never when this module is imported.

Canonical transactions on Spark have ``customer_id`` (STRING), ``timestamp`` (TIMESTAMP_NTZ:
the wall-clock time in the business time zone, as DuckDB's TIMESTAMP), ``amount`` (DOUBLE) and
``order_id`` (STRING). A time-zone-aware input timestamp (Spark's TIMESTAMP) is converted to
local time in the session time zone, which is the business time zone.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import sys
import warnings
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlglot
from sqlglot import exp

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features.customer import finish_customer_features, to_date
from churnmodel.features.lifecycle import LifecycleRules
from churnmodel.features.queries import (
    FeatureWindows,
    PurchaseRule,
    customer_features_sql,
    labels_sql,
    ledger_sql,
)
from churnmodel.features.snapshots import check_label_windows
from churnmodel.io.transactions import (
    ROW_COLUMN,
    DedupePolicy,
    LoadReport,
    after_as_of_sql,
    group_rows_sql,
    load_counts_sql,
    load_report,
    parse_rows_sql,
    parsed_extra_columns,
    quarantine_rows_sql,
)
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, DATE, ORDER_ID, TIMESTAMP, days_per_unit

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "SparkCustomerFeatures",
    "SparkEngine",
    "map_customers",
    "spark_session",
    "to_spark_sql",
]

DateLike = str | date | datetime | pd.Timestamp

_counter = itertools.count()
_PYSPARK_HINT = "install the Spark extra: pip install 'churnmodel[spark]'"
# pyspark warns that it "does not yet fully support pandas >= 3.0.0" whenever pandas is used;
# everything churnmodel does with it is covered by the parity tests.
_PANDAS3_WARNING = "PySpark does not yet fully support pandas"
_LOCAL_SCHEMES = ("", "file")


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the Spark engine needs pyspark, which is not installed; {_PYSPARK_HINT}"
        ) from exc


class _quiet_pandas3(warnings.catch_warnings):
    """Hide pyspark's pandas-3 FutureWarning inside the block (and only there)."""

    def __enter__(self) -> None:
        super().__enter__()
        warnings.filterwarnings("ignore", message=_PANDAS3_WARNING, category=FutureWarning)


# --------------------------------------------------------------------------------------------
# Session and SQL
# --------------------------------------------------------------------------------------------


def _local_cores(master: str) -> int:
    """Return the worker threads of a ``local[...]`` master."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if match is None or match.group(1) == "*":
        return os.cpu_count() or 1
    if match.group(1) is None:  # plain "local": one thread
        return 1
    return max(1, int(match.group(1)))


def spark_session(
    master: str | None = "local[*]",
    app_name: str = "churnmodel",
    *,
    timezone: str = "UTC",
    shuffle_partitions: int | None = None,
    driver_memory: str | None = None,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """Return a Spark session set up for churnmodel (an existing one is reused).

    Parameters
    ----------
    master
        Spark master URL: ``"local[*]"`` (all cores of this machine), ``"local[2]"``,
        ``"spark://host:7077"``, ``"yarn"`` ... ``None`` leaves it to ``spark-submit`` or
        ``spark-defaults.conf`` (``local[*]`` when neither sets one).
    app_name
        Name shown in the Spark UI and logs.
    timezone
        Session time zone (``spark.sql.session.timeZone``): the business time zone in which
        timestamps become dates. UTC unless your business runs on another clock.
    shuffle_partitions
        ``spark.sql.shuffle.partitions``. In local mode the default is twice the worker
        threads (Spark's own default, 200, is meant for clusters); elsewhere Spark's setting.
    driver_memory
        ``spark.driver.memory`` (in local mode also the executors' memory), e.g. ``"4g"``.
        Effective only when this call starts the JVM.
    config
        Any other Spark settings; they win over the ones above.

    Notes
    -----
    In local mode the driver binds to 127.0.0.1, the web UI is off, and the Python workers run
    this interpreter (``PYSPARK_PYTHON`` defaults to ``sys.executable``). Under ``spark-submit``
    with ``master=None`` only the time zone, Arrow and ``config`` are set: the cluster decides
    the rest.

    Raises
    ------
    ConfigError
        If pyspark is not installed, the time zone is unknown, or Spark (Java) cannot start.
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    _check_timezone(timezone)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit / pyspark shell
    local = (master or "").startswith("local") or (master is None and not submitted)
    conf: dict[str, str] = {
        "spark.app.name": app_name,
        "spark.sql.session.timeZone": timezone,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if master is not None:
        conf["spark.master"] = master
    if local:
        cores = _local_cores(master or "local[*]")
        conf.update(
            {
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": str(shuffle_partitions or max(2, 2 * cores)),
            }
        )
        # Python workers must see churnmodel, pandas and pyarrow: run them with this interpreter.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    elif shuffle_partitions is not None:
        conf["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    if driver_memory is not None:
        conf["spark.driver.memory"] = driver_memory
    conf.update(config or {})
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        with _quiet_pandas3():
            return builder.getOrCreate()
    except Exception as exc:
        text = str(exc)
        if "JAVA_GATEWAY_EXITED" in text or "Java gateway process exited" in text:
            raise ConfigError(
                "Spark could not start its Java process; Spark 4 needs Java 17 or 21 "
                "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) and JAVA_HOME or "
                "java on the PATH"
            ) from exc
        raise


def _check_timezone(timezone: str) -> None:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"'timezone' must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', "
            f"got {timezone!r}"
        ) from exc


def _spark_try_strptime(node: exp.Expression) -> exp.Expression:
    """Rewrite DuckDB's ``try_strptime(x, fmt)`` as Spark's ``try_to_timestamp(x, fmt')``.

    SQLGlot (30) leaves ``try_strptime`` as an unknown function; its ``strptime`` translation
    is right but raises on a bad value under ANSI mode. The format is converted by SQLGlot.
    """
    if not (isinstance(node, exp.Anonymous) and node.name.upper() == "TRY_STRPTIME"):
        return node
    value, fmt = node.expressions
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise ConfigError("try_strptime needs one literal format per call to run on Spark")
    parsed = sqlglot.parse_one(f"strptime(__v, {fmt.sql(dialect='duckdb')})", read="duckdb")
    from sqlglot.dialects.spark import Spark

    java = Spark().generator().format_time(parsed)  # a quoted Spark string literal
    if java is None:  # pragma: no cover - a literal format always converts
        raise ConfigError(f"cannot convert the date format {fmt.sql()} for Spark")
    return exp.Anonymous(
        this="TRY_TO_TIMESTAMP", expressions=[value, sqlglot.parse_one(java, read="spark")]
    )


def to_spark_sql(sql: str) -> str:
    """Return DuckDB-dialect ``sql`` as Spark SQL.

    This is ``sqlglot.transpile(sql, read="duckdb", write="spark")`` plus one rewrite SQLGlot
    lacks (``try_strptime``, used only when a log's timestamps need a ``date_format``).
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree.transform(_spark_try_strptime).sql(dialect="spark")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkCustomerFeatures:
    """Customer features built on Spark: a Spark DataFrame plus what pandas keeps in ``attrs``.

    ``frame`` has ``customer_id`` and the columns of
    :func:`churnmodel.features.customer_features` (``lifecycle_stage`` as a string), one row
    per customer with a purchase day on or before ``attrs["as_of"]``, in no particular order.
    ``attrs`` holds ``as_of``, ``time_unit`` and ``customers_without_purchase``; ``rules``
    the life-cycle rules the stages were assigned by, with one-time buyers' default gap fixed
    at this cut-off (:meth:`~churnmodel.features.LifecycleRules.frozen_at`).
    """

    frame: DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)
    rules: LifecycleRules | None = None

    def toPandas(self) -> pd.DataFrame:
        """Collect to the pandas table :func:`churnmodel.features.customer_features` returns.

        Index ``customer_id`` (sorted), ``lifecycle_stage`` categorical, ``attrs`` set. Fine
        for a few million customers; beyond that write ``frame`` with Spark instead.
        """
        with _quiet_pandas3():
            df = self.frame.toPandas()
        return _to_features_table(df, self.attrs)

    def rfm(self) -> pd.DataFrame:
        """Collect only ``frequency``, ``recency``, ``T`` and ``monetary_value``, by customer.

        The input of the BG/NBD-family and Gamma-Gamma fitters: four numbers per customer, small
        enough to fit the models on one machine (about 40 MB for a million customers).
        """
        cols = [CUSTOMER_ID, "frequency", "recency", "T", "monetary_value"]
        with _quiet_pandas3():
            df = self.frame.select(*cols).toPandas()
        df = df.sort_values(CUSTOMER_ID, kind="stable").set_index(CUSTOMER_ID)
        df.index = df.index.astype("str")
        df.attrs.update(self.attrs)
        return df

    def purchase_summary(self) -> pd.DataFrame:
        """Return the customers by distinct (``frequency``, ``recency``, ``T``) (``customers``).

        The purchase models' input compressed on Spark (``fit(summary, weights="customers")``
        gives the fit on every customer): a few hundred thousand rows at most at day
        resolution, whatever the number of customers. Sorted, ``attrs`` set.
        """
        return self._grouped(["frequency", "recency", "T"])

    def spend_summary(self) -> pd.DataFrame:
        """Return the customers by distinct (``frequency``, ``monetary_value``) (``customers``).

        The customers :meth:`churnmodel.models.ProbabilisticFeatures.fit` keeps: one-time buyers
        and repeat buyers with a positive mean spend. Column ``customers``; sorted.
        """
        return self._grouped(
            ["frequency", "monetary_value"], where="frequency = 0 OR monetary_value > 0"
        )

    def _grouped(self, columns: list[str], *, where: str | None = None) -> pd.DataFrame:
        from pyspark.sql import functions as F

        frame = self.frame if where is None else self.frame.where(where)
        with _quiet_pandas3():
            df = frame.groupBy(*columns).agg(F.count(F.lit(1)).alias("customers")).toPandas()
        df = df.sort_values(columns, kind="stable").reset_index(drop=True)
        df["customers"] = df["customers"].astype("int64")
        df.attrs.update(self.attrs)
        return df


def _to_features_table(df: pd.DataFrame, attrs: Mapping[str, Any]) -> pd.DataFrame:
    """Turn the collected Spark features into the pandas features table (see ``toPandas``)."""
    from churnmodel.schemas import LIFECYCLE_STAGES

    df = df.sort_values(CUSTOMER_ID, kind="stable")
    index = pd.Index(df[CUSTOMER_ID].astype("str").to_numpy(), name=CUSTOMER_ID, dtype="str")
    out = df.drop(columns=[CUSTOMER_ID]).set_axis(index, axis=0)
    out["lifecycle_stage"] = pd.Categorical(
        out["lifecycle_stage"], categories=list(LIFECYCLE_STAGES)
    )
    out.attrs.update(attrs)
    return out


def snapshots_to_pandas(frame: DataFrame) -> pd.DataFrame:
    """Collect :meth:`SparkEngine.build_snapshots` to :func:`churnmodel.build_snapshots`'s table.

    Rows sorted by (``cutoff``, ``customer_id``), ``customer_id`` as text, ``lifecycle_stage``
    categorical, ``cutoff`` in seconds, counts as int64, ``lapsed`` bool.
    """
    from churnmodel.schemas import LIFECYCLE_STAGES

    with _quiet_pandas3():
        df = frame.toPandas()
    df[CUSTOMER_ID] = df[CUSTOMER_ID].astype("str")
    df["cutoff"] = pd.to_datetime(df["cutoff"]).astype("datetime64[s]")
    df["lifecycle_stage"] = pd.Categorical(df["lifecycle_stage"], categories=list(LIFECYCLE_STAGES))
    for column in df.columns:
        if pd.api.types.is_integer_dtype(df[column]):
            df[column] = df[column].astype("int64")
    df["lapsed"] = df["lapsed"].astype(bool)
    return df.sort_values(["cutoff", CUSTOMER_ID], kind="stable").reset_index(drop=True)


def map_customers(
    features: DataFrame, fn: Callable[[pd.DataFrame], pd.DataFrame], schema: Any
) -> DataFrame:
    """Apply a pandas function to every batch of customers of a Spark features table.

    For per-customer computations on a features table, such as your own model applied to
    the features (the registered churnmodel model scores transactions instead: see
    :mod:`churnmodel.workflows.spark_score`). ``fn`` takes a pandas batch of ``features``
    (for example :attr:`SparkCustomerFeatures.frame`: one row per customer) and returns a
    pandas frame
    with the columns of ``schema`` (a Spark schema or DDL string such as
    ``"customer_id string, p_churn double"``). It runs on the executors, batch by batch
    (``mapInPandas``), so it must be picklable and its imports available there.
    """
    return features.mapInPandas(functools.partial(_map_batches, fn=fn), schema=schema)


def _map_batches(
    batches: Iterable[pd.DataFrame], *, fn: Callable[[pd.DataFrame], pd.DataFrame]
) -> Iterator[pd.DataFrame]:
    for batch in batches:
        if not batch.empty:
            yield fn(batch)


# --------------------------------------------------------------------------------------------
# Per-partition pandas steps (module level so that Spark can ship them to executors)
# --------------------------------------------------------------------------------------------


def _finish_batches(
    batches: Iterable[pd.DataFrame],
    *,
    as_of: date,
    time_unit: str,
    rules: LifecycleRules,
    windows: FeatureWindows,
    labels: bool = False,
) -> Iterator[pd.DataFrame]:
    """Apply :func:`finish_customer_features` to each batch of the per-customer aggregate."""
    for raw in batches:
        if raw.empty:
            continue
        out = _finish_frame(raw, as_of=as_of, time_unit=time_unit, rules=rules, windows=windows)
        if labels:
            out = _finish_labels(out, raw)
        yield out


def _finish_frame(
    raw: pd.DataFrame,
    *,
    as_of: date,
    time_unit: str,
    rules: LifecycleRules,
    windows: FeatureWindows,
) -> pd.DataFrame:
    """Return the features of ``raw`` as a flat frame: ``customer_id`` first, stage as text."""
    features = finish_customer_features(
        raw, as_of=as_of, time_unit=time_unit, rules=rules, windows=windows
    )
    features["lifecycle_stage"] = features["lifecycle_stage"].astype("str")
    return features.reset_index()


def _finish_labels(features: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Add ``purchases_next``, ``spend_next``, ``lapsed`` as ``build_snapshots`` does.

    Customers without a ledger day in the label window have NULL label aggregates: zero
    purchases, zero spend; spend is floored at zero (a window of returns only).
    """
    labels = raw.set_index(raw[CUSTOMER_ID].astype("str"))[["purchases_next", "spend_next"]]
    labels = labels.reindex(features[CUSTOMER_ID].astype("str").to_numpy())
    out = features
    out["purchases_next"] = labels["purchases_next"].fillna(0).astype("int64").to_numpy()
    out["spend_next"] = labels["spend_next"].fillna(0.0).clip(lower=0.0).astype(float).to_numpy()
    out["lapsed"] = out["purchases_next"] == 0
    return out


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


class SparkEngine:
    """Spark engine for the feature queries (Spark DataFrames in, Spark DataFrames out).

    Parameters
    ----------
    spark
        The session (see :func:`spark_session`).
    timezone
        Business time zone: sets ``spark.sql.session.timeZone`` (default: leave the session's).

    The engine names its temporary views and keeps the DataFrames it caches; :meth:`close` (or
    leaving a ``with`` block) uncaches them and drops the views.

    Examples
    --------
    >>> spark = spark_session("local[*]")  # doctest: +SKIP
    >>> with SparkEngine(spark) as engine:  # doctest: +SKIP
    ...     tx, report = engine.load_transactions("data/raw/log.parquet", order_col="order_id")
    ...     features = engine.customer_features(tx, "2024-03-31")
    ...     features.frame.write.parquet("data/processed/features.parquet")
    """

    name = "spark"

    def __init__(self, spark: SparkSession, *, timezone: str | None = None) -> None:
        _require_pyspark()
        self.spark = spark
        if timezone is not None:
            self.set_timezone(timezone)
        self._cached: list[DataFrame] = []
        self._views: list[str] = []

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def timezone(self) -> str:
        """The session time zone (the business time zone)."""
        return str(self.spark.conf.get("spark.sql.session.timeZone"))

    def set_timezone(self, timezone: str) -> None:
        """Set the session (business) time zone."""
        _check_timezone(timezone)
        self.spark.conf.set("spark.sql.session.timeZone", timezone)

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Uncache what this engine cached and drop its temporary views."""
        for df in self._cached:
            df.unpersist()
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        self._cached.clear()
        self._views.clear()

    @staticmethod
    def transpile(sql: str) -> str:
        """Return DuckDB-dialect ``sql`` in Spark's dialect (see :func:`to_spark_sql`)."""
        return to_spark_sql(sql)

    def sql(self, sql: str) -> DataFrame:
        """Run DuckDB-dialect ``sql`` (transpiled) and return the Spark DataFrame."""
        return self.spark.sql(self.transpile(sql))

    def register(self, df: DataFrame, *, prefix: str = "t", cache: bool = False) -> str:
        """Register ``df`` as a temporary view (cached if asked); return its name."""
        name = f"churnmodel_{prefix}_{next(_counter)}"
        if cache:
            df = df.persist()
            self._cached.append(df)
        df.createOrReplaceTempView(name)
        self._views.append(name)
        return name

    def view(self, sql: str, *, prefix: str = "v") -> str:
        """Define DuckDB-dialect ``sql`` as a temporary view (computed when read)."""
        return self.register(self.sql(sql), prefix=prefix)

    def materialize(self, sql: str, *, prefix: str = "t") -> str:
        """Cache the result of DuckDB-dialect ``sql`` as a temporary view; return its name."""
        return self.register(self.sql(sql), prefix=prefix, cache=True)

    def table(self, name: str) -> DataFrame:
        """Return the Spark DataFrame of a view this engine registered."""
        return self.spark.table(name)

    # -- transactions -----------------------------------------------------------------------

    def register_transactions(
        self,
        transactions: DataFrame,
        *,
        customer_col: str = CUSTOMER_ID,
        date_col: str = TIMESTAMP,
        amount_col: str = AMOUNT,
        check: bool = True,
    ) -> str:
        """Register a clean Spark DataFrame as canonical transactions; return the view name.

        The customer id is cast to text, the timestamp to local time in the session time zone
        (TIMESTAMP_NTZ), the amount to DOUBLE: the same casts as
        :meth:`churnmodel.features.DuckDBEngine.for_transactions`, in the same SQL. With
        ``check`` (one pass over the data), a missing value raises DataValidationError with
        sample rows: nothing is dropped silently. Use :meth:`load_transactions` for raw logs:
        it quarantines bad rows with a reason instead.
        """
        missing = [c for c in (customer_col, date_col, amount_col) if c not in transactions.columns]
        if missing:
            _fail_missing(missing, transactions.columns, "the DataFrame")
        raw = self.register(transactions, prefix="raw")
        name = self.view(
            f"SELECT CAST({_ident(customer_col)} AS VARCHAR) AS {CUSTOMER_ID}, "
            f"CAST({_ident(date_col)} AS TIMESTAMP) AS {TIMESTAMP}, "
            f"CAST({_ident(amount_col)} AS DOUBLE) AS {AMOUNT} FROM {raw}",
            prefix="tx",
        )
        if check:
            conds = {c: f"{c} IS NULL" for c in (CUSTOMER_ID, TIMESTAMP, AMOUNT)}
            counts = self.sql(
                "SELECT "
                + ", ".join(f"count(*) FILTER (WHERE {cond})" for cond in conds.values())
                + f" FROM {name}"
            ).collect()[0]
            for (col, cond), n in zip(conds.items(), counts, strict=True):
                if n:
                    with _quiet_pandas3():
                        rows = self.sql(f"SELECT * FROM {name} WHERE {cond} LIMIT 20").toPandas()
                    raise DataValidationError(
                        f"{int(n):,} row(s) have a missing {col!r}",
                        column=col,
                        rows=rows,
                        hint="load the log with SparkEngine.load_transactions, which "
                        "quarantines such rows with a reason",
                    )
        return name

    def load_transactions(
        self,
        source: str | os.PathLike[str] | DataFrame,
        *,
        customer_col: str = CUSTOMER_ID,
        date_col: str = TIMESTAMP,
        amount_col: str = AMOUNT,
        order_col: str | None = None,
        as_of: DateLike | None = None,
        timezone: str | None = None,
        date_format: str | Sequence[str] | None = None,
        decimal: str = ".",
        dedupe: DedupePolicy = "auto",
        max_quarantine_share: float = 0.01,
        source_name: str | None = None,
        count_customers: bool = True,
    ) -> tuple[str, LoadReport]:
        """Read, validate and clean a log on Spark; return the clean view and the report.

        The rules are those of :func:`churnmodel.read_transactions` (same SQL, transpiled):
        every row read ends up used, quarantined with a reason, removed as a duplicate, or
        after ``as_of``, and the counts reconcile.

        Parameters
        ----------
        source
            A Parquet file or folder (a local path or a URI Spark can read, such as
            ``hdfs://`` or ``s3a://``), or a Spark DataFrame.
        timezone
            Business time zone; sets the session's (default: keep the session's).
        others
            As in :func:`churnmodel.read_transactions`.

        Returns
        -------
        tuple
            The name of a temporary view of the clean canonical transactions (with the row
            number), and the :class:`~churnmodel.io.LoadReport`, whose ``quarantine`` holds
            the quarantined rows (collected: at most ``max_quarantine_share`` of the log).

        Notes
        -----
        ``row_number`` in the quarantine is the position in the input: for a folder, files
        are taken in path order, as DuckDB does; for a DataFrame, Spark's partition order.
        """
        if not 0.0 <= max_quarantine_share <= 1.0:
            raise ConfigError(
                f"'max_quarantine_share' must be between 0 and 1, got {max_quarantine_share!r}"
            )
        if dedupe not in ("auto", "all", "none"):
            raise ConfigError(f"'dedupe' must be 'auto', 'all' or 'none', got {dedupe!r}")
        if decimal not in (".", ","):
            raise ConfigError(f"'decimal' must be '.' or ',', got {decimal!r}")
        as_of_date = None if as_of is None else to_date(as_of)
        if timezone is not None:
            self.set_timezone(timezone)
        mapped = [customer_col, date_col, amount_col] + ([order_col] if order_col else [])
        if len(set(mapped)) != len(mapped):
            raise ConfigError(f"the column flags must name different columns, got {mapped}")
        remove_dupes = dedupe == "all" or (dedupe == "auto" and order_col is not None)

        if isinstance(source, str | os.PathLike):
            label = str(source)
            numbered = self._read_parquet(str(source))
        else:
            label = "Spark DataFrame"
            numbered = _number_rows(source)
        columns = [c for c in numbered.columns if c != ROW_COLUMN]
        missing = [c for c in mapped if c not in columns]
        if missing:
            _fail_missing(missing, columns, label)
        keep = columns if dedupe == "all" else mapped
        numbered = numbered.select(*keep, ROW_COLUMN)
        types = {f.name: _duckdb_type(f.dataType) for f in numbered.schema.fields}
        extra = [c for c in columns if c not in mapped] if dedupe == "all" else []
        src = self.register(numbered, prefix="src")
        parsed = parse_rows_sql(
            src,
            types,
            customer_col=customer_col,
            date_col=date_col,
            amount_col=amount_col,
            order_col=order_col,
            date_format=date_format,
            decimal=decimal,
            extra=extra,
        )
        grouped = self.materialize(
            group_rows_sql(parsed, dedupe=dedupe, extra=parsed_extra_columns(extra)),
            prefix="grouped",
        )
        counts = tuple(self.sql(load_counts_sql(grouped, as_of_date)).collect()[0])
        if counts[0] == 0:
            raise DataValidationError(
                f"{label} has no rows", hint="check that the export finished and is complete"
            )
        with _quiet_pandas3():
            quarantine = self.sql(quarantine_rows_sql(grouped)).toPandas()
        quarantine = _quarantine_dtypes(quarantine)
        clean = self._clean_view(grouped, as_of_date, remove_dupes=remove_dupes)
        customers = (
            int(self.sql(f"SELECT count(DISTINCT {CUSTOMER_ID}) FROM {clean}").collect()[0][0])
            if count_customers
            else None
        )
        report = load_report(
            counts,
            quarantine,
            source=source_name or label,
            remove_dupes=remove_dupes,
            as_of=as_of_date,
            timezone=self.timezone,
            customers=customers,
            max_quarantine_share=max_quarantine_share,
            columns=(customer_col, date_col, amount_col),
        )
        return clean, report

    def _clean_view(self, grouped: str, as_of: date | None, *, remove_dupes: bool) -> str:
        """Define the clean rows of ``grouped`` (as in ``load_transactions``) as a view."""
        cols = f"{ROW_COLUMN}, {CUSTOMER_ID}, {TIMESTAMP}, {AMOUNT}, {ORDER_ID}"
        good = f"reason IS NULL AND NOT ({after_as_of_sql(as_of)})"
        if remove_dupes:
            return self.view(f"SELECT {cols} FROM {grouped} WHERE {good}", prefix="clean")
        # Identical rows kept: a group seen n times stands for n transactions. DuckDB joins
        # range(n); Spark explodes a sequence (this plumbing is not shared SQL).
        from pyspark.sql import functions as F

        df = self.sql(f"SELECT {cols}, n FROM {grouped} WHERE {good}")
        expanded = df.withColumn(
            "__copy", F.explode(F.sequence(F.lit(1), F.col("n").cast("int")))
        ).drop("__copy", "n")
        return self.register(expanded, prefix="clean")

    def _read_parquet(self, path: str) -> DataFrame:
        """Read a Parquet file or folder with a global row number (files in path order)."""
        from pyspark.sql import functions as F

        scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", path)
        local = scheme is None or scheme.group(1).lower() in _LOCAL_SCHEMES
        nanos: dict[str, bool] = {}
        if local:
            local_path = Path(re.sub(r"^file://", "", path))
            if not local_path.exists():
                raise DataValidationError(
                    f"transaction log not found: {path}", hint="check the path passed as --data"
                )
            nanos = _nanosecond_columns(local_path)
            if nanos:
                # Spark cannot read TIMESTAMP(NANOS); as longs it can, then we convert.
                self.spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
        try:
            df = self.spark.read.parquet(path)
        except Exception as exc:
            text = str(exc)
            if "NANOS" in text:
                raise DataValidationError(
                    f"Spark cannot read the nanosecond timestamps of {path}",
                    hint="write the log with microsecond timestamps (pandas: "
                    "df.to_parquet(..., coerce_timestamps='us', allow_truncated_timestamps=True))"
                    " or read it from a local path",
                ) from exc
            raise DataValidationError(
                f"could not read Parquet input {path}: {text.strip().splitlines()[0]}",
                hint="point --data at a Parquet file or a folder of Parquet files",
            ) from exc
        for name, utc in nanos.items():
            if name in df.columns:
                df = df.withColumn(name, _nanos_to_timestamp(F.col(name), utc=utc))
        meta = df.select(
            "*",
            F.col("_metadata.file_path").alias("__file"),
            F.col("_metadata.row_index").alias("__index"),
        )
        sizes = sorted(
            (str(r["__file"]), int(r["count"])) for r in meta.groupBy("__file").count().collect()
        )
        offsets, total = [], 0
        for name, n in sizes:
            offsets.append((name, total))
            total += n
        offset_df = self.spark.createDataFrame(offsets, "__file string, __offset long")
        numbered = meta.join(F.broadcast(offset_df), on="__file").withColumn(
            ROW_COLUMN, F.col("__offset") + F.col("__index") + F.lit(1)
        )
        return numbered.drop("__file", "__index", "__offset")

    # -- features ---------------------------------------------------------------------------

    def ledger(self, transactions: str, *, cache: bool = False) -> str:
        """Define the customer-day ledger of canonical ``transactions``; return the view."""
        sql = ledger_sql(transactions)
        return self.materialize(sql, prefix="ledger") if cache else self.view(sql, prefix="ledger")

    def build_ledger(self, transactions: str) -> DataFrame:
        """Return the customer-day ledger as a Spark DataFrame sorted by customer and date."""
        return self.table(self.ledger(transactions)).orderBy(CUSTOMER_ID, DATE)

    def customer_features(
        self,
        transactions: str | None,
        as_of: DateLike,
        *,
        time_unit: str = "D",
        purchase: PurchaseRule | None = None,
        rules: LifecycleRules | None = None,
        windows: FeatureWindows | None = None,
        ledger: str | None = None,
    ) -> SparkCustomerFeatures:
        """Return customer features at ``as_of`` (see :func:`churnmodel.customer_features`).

        ``transactions`` is the view of canonical transactions (from
        :meth:`load_transactions` or :meth:`register_transactions`); pass ``ledger`` instead
        to reuse a ledger view. The per-customer aggregate is cached (one row per customer)
        and finished by :func:`~churnmodel.features.customer.finish_customer_features` in each
        partition; one-time buyers' default gap (a median over all repeat customers) is
        computed first, from a small histogram, by the same function, so that every partition
        uses the same value.
        """
        as_of_date = to_date(as_of)
        days_per_unit(time_unit)
        rules = rules or LifecycleRules()
        rules.validate()
        windows = windows or FeatureWindows()
        if ledger is None:
            if transactions is None:
                raise ConfigError("pass the transactions view or a ledger view")
            ledger = self.ledger(transactions)
        per_customer = self.materialize(
            customer_features_sql(
                ledger, as_of_date, purchase=purchase or PurchaseRule(), windows=windows
            ),
            prefix="per_customer",
        )
        no_purchase, rules = self._cutoff_summary(per_customer, rules)
        raw = self.sql(f"SELECT * FROM {per_customer} WHERE n_purchase_days > 0")
        frame = self._map_finish(
            raw, as_of=as_of_date, time_unit=time_unit, rules=rules, windows=windows
        )
        attrs = {
            "as_of": as_of_date.isoformat(),
            "time_unit": time_unit,
            "customers_without_purchase": no_purchase,
        }
        return SparkCustomerFeatures(frame=frame, attrs=attrs, rules=rules)

    def _cutoff_summary(
        self, per_customer: str, rules: LifecycleRules
    ) -> tuple[int, LifecycleRules]:
        """Count customers without a purchase day; fix the one-time buyers' default gap.

        One small query: customers by (frequency, recency in days), which is all the rule
        needs. ``rules`` come back fixed by the shared
        :meth:`~churnmodel.features.LifecycleRules.frozen_at` on all repeat customers at this
        cut-off (their median typical gap), so every partition uses the same default.
        """
        with _quiet_pandas3():
            hist = self.sql(
                "SELECT CASE WHEN n_purchase_days = 0 THEN -1 ELSE frequency END AS frequency, "
                "CASE WHEN frequency > 0 THEN recency_days ELSE 0 END AS recency_days, "
                f"count(*) AS n FROM {per_customer} GROUP BY 1, 2"
            ).toPandas()
        freq = hist["frequency"].to_numpy("int64")
        no_purchase = int(hist["n"].to_numpy("int64")[freq < 0].sum())
        # Every repeat customer once per count: what LifecycleRules.frozen_at reads.
        repeat = hist[freq > 0]
        counts = repeat["n"].to_numpy("int64")
        frequency = np.repeat(repeat["frequency"].to_numpy("int64"), counts)
        recency_days = np.repeat(repeat["recency_days"].to_numpy("int64"), counts)
        repeat_customers = pd.DataFrame(
            {"frequency": frequency, "gap_mean_days": recency_days / frequency}
        )
        return no_purchase, rules.frozen_at(repeat_customers)

    def _map_finish(
        self,
        raw: DataFrame,
        *,
        as_of: date,
        time_unit: str,
        rules: LifecycleRules,
        windows: FeatureWindows,
        labels: bool = False,
    ) -> DataFrame:
        """``finish_customer_features`` in every partition of ``raw`` (``mapInPandas``)."""
        finish = functools.partial(
            _finish_batches,
            as_of=as_of,
            time_unit=time_unit,
            rules=rules,
            windows=windows,
            labels=labels,
        )
        # The output schema is whatever the shared function returns on an empty input.
        with _quiet_pandas3():
            empty = raw.limit(0).toPandas()
        sample = _finish_frame(
            empty, as_of=as_of, time_unit=time_unit, rules=rules, windows=windows
        )
        if labels:
            sample = _finish_labels(sample, empty)
        schema = _spark_schema(sample)
        with _quiet_pandas3():
            return raw.mapInPandas(finish, schema=schema)

    def labels(
        self,
        ledger: str,
        as_of: DateLike,
        horizon_days: int,
        *,
        purchase: PurchaseRule | None = None,
    ) -> DataFrame:
        """Return the raw label aggregates of :func:`~churnmodel.features.queries.labels_sql`."""
        return self.sql(
            labels_sql(ledger, to_date(as_of), horizon_days, purchase=purchase or PurchaseRule())
        )

    def build_snapshots(
        self,
        transactions: str,
        cutoffs: Iterable[DateLike],
        horizon_days: int,
        *,
        time_unit: str = "D",
        purchase: PurchaseRule | None = None,
        rules: LifecycleRules | None = None,
        windows: FeatureWindows | None = None,
        require_complete: bool = True,
    ) -> DataFrame:
        """Return snapshots as a Spark DataFrame (see :func:`churnmodel.build_snapshots`).

        Columns: ``customer_id``, ``cutoff``, the feature columns, ``purchases_next``,
        ``spend_next`` and ``lapsed`` (the pandas function's order); rows in no particular
        order. The ledger is cached once for all cut-offs.
        """
        if horizon_days <= 0:
            raise ConfigError(f"'horizon_days' must be > 0, got {horizon_days}")
        days = sorted({to_date(c, "cutoff") for c in cutoffs})
        if not days:
            raise ConfigError("'cutoffs' must name at least one date")
        rules = rules or LifecycleRules()
        rules.validate()
        windows = windows or FeatureWindows()
        purchase = purchase or PurchaseRule()
        ledger = self.ledger(transactions, cache=True)
        last = self.sql(f"SELECT max({DATE}) FROM {ledger}").collect()[0][0]
        if last is None:
            raise ConfigError("the transactions are empty: no snapshot can be built")
        if require_complete:
            check_label_windows(days, horizon_days, last)
        from pyspark.sql import functions as F

        frames = []
        for cutoff in days:
            per_customer = self.materialize(
                customer_features_sql(ledger, cutoff, purchase=purchase, windows=windows),
                prefix="per_customer",
            )
            label_view = self.register(
                self.labels(ledger, cutoff, horizon_days, purchase=purchase), prefix="labels"
            )
            raw = self.sql(
                f"SELECT f.*, l.purchases_next, l.spend_next FROM {per_customer} f "
                f"LEFT JOIN {label_view} l ON f.{CUSTOMER_ID} = l.{CUSTOMER_ID} "
                "WHERE f.n_purchase_days > 0"
            )
            _, fixed = self._cutoff_summary(per_customer, rules)
            snap = self._map_finish(
                raw,
                as_of=cutoff,
                time_unit=time_unit,
                rules=fixed,
                windows=windows,
                labels=True,
            )
            # Column order as build_snapshots returns it: customer_id, cutoff, features, labels.
            cutoff_col = F.lit(cutoff.isoformat()).cast("timestamp_ntz").alias("cutoff")
            rest = [c for c in snap.columns if c != CUSTOMER_ID]
            frames.append(snap.select(CUSTOMER_ID, cutoff_col, *rest))
        return functools.reduce(lambda a, b: a.unionByName(b), frames)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fail_missing(missing: Sequence[str], existing: Sequence[str], where: str) -> None:
    raise DataValidationError(
        f"column(s) {', '.join(repr(m) for m in missing)} not found in {where}; "
        f"columns that exist: {', '.join(repr(e) for e in existing) or '(none)'}",
        column=missing[0],
        hint="map your columns with customer_col=, date_col=, amount_col= "
        "(CLI: --customer-col, --date-col, --amount-col)",
    )


def _duckdb_type(dtype: Any) -> str:
    """Return the DuckDB type name that decides how the shared SQL parses a Spark column."""
    from pyspark.sql import types as T

    if isinstance(dtype, T.StringType | T.VarcharType | T.CharType):
        return "VARCHAR"
    if isinstance(dtype, T.BinaryType):
        return "BLOB"
    if isinstance(dtype, T.TimestampNTZType):
        return "TIMESTAMP"
    if isinstance(dtype, T.TimestampType):
        return "TIMESTAMP WITH TIME ZONE"
    if isinstance(dtype, T.DateType):
        return "DATE"
    if isinstance(dtype, T.NumericType):
        return "DOUBLE"
    return str(dtype.simpleString()).upper()


def _nanosecond_columns(path: Path) -> dict[str, bool]:
    """Return the INT64 nanosecond timestamp columns of the Parquet data at ``path``.

    Maps each such top-level column to whether its values are UTC-adjusted (instants) rather
    than wall-clock times; empty when there are none or the footer cannot be read. INT96
    timestamps (Spark's default output) are not among them: Spark reads those natively.
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.rglob("*.parquet") if not p.name.startswith(("_", ".")))
    )
    if not files:
        return {}
    try:
        schema = pq.ParquetFile(files[0]).schema
    except (OSError, pa.ArrowException):
        return {}
    found = {}
    for i in range(len(schema)):
        col = schema.column(i)
        if "." in col.path or col.physical_type != "INT64":
            continue
        logical = json.loads(col.logical_type.to_json() or "{}")
        if logical.get("Type") == "Timestamp" and logical.get("timeUnit") == "nanoseconds":
            found[col.path] = bool(logical.get("isAdjustedToUTC"))
    return found


def _nanos_to_timestamp(col: Any, *, utc: bool) -> Any:
    """Spark column: nanoseconds since the epoch (as read with nanosAsLong) to a timestamp.

    Microseconds are taken with floor division, as DuckDB truncates TIMESTAMP_NS. A wall-clock
    value becomes TIMESTAMP_NTZ (added to the NTZ epoch: no time zone involved); an instant
    becomes TIMESTAMP.
    """
    from pyspark.sql import functions as F

    micros = (col - F.pmod(col, F.lit(1000))) / F.lit(1000)
    micros = micros.cast("long")
    if utc:
        return F.timestamp_micros(micros)
    epoch = F.lit("1970-01-01 00:00:00").cast("timestamp_ntz")
    return F.timestamp_add("MICROSECOND", micros, epoch)


def _number_rows(df: DataFrame) -> DataFrame:
    """Add a consecutive row number (1 = first row, in partition order) to ``df``."""
    from pyspark.sql import functions as F

    mask = (1 << 33) - 1  # monotonically_increasing_id: partition << 33 | row in partition
    with_id = df.withColumn("__id", F.monotonically_increasing_id())
    parts = sorted(
        (int(r["__part"]), int(r["count"]))
        for r in with_id.groupBy(F.shiftright("__id", 33).alias("__part")).count().collect()
    )
    offsets, total = [], 0
    for part, n in parts:
        offsets.append((part, total))
        total += n
    spark = df.sparkSession
    offset_df = spark.createDataFrame(offsets or [(0, 0)], "__part long, __offset long")
    numbered = (
        with_id.withColumn("__part", F.shiftright("__id", 33))
        .join(F.broadcast(offset_df), on="__part")
        .withColumn(ROW_COLUMN, F.col("__offset") + F.col("__id").bitwiseAND(F.lit(mask)) + 1)
    )
    return numbered.drop("__id", "__part", "__offset")


def _quarantine_dtypes(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Give Spark's quarantine the dtypes DuckDB's has (row number int64, the rest text)."""
    out = quarantine.copy()
    out[out.columns[0]] = out[out.columns[0]].astype("int64")
    for col in out.columns[1:]:
        out[col] = out[col].astype("str").where(out[col].notna(), None)
    return out


def _spark_schema(sample: pd.DataFrame) -> Any:
    """Return the Spark schema of the frames :func:`_finish_batches` yields (from dtypes)."""
    from pyspark.sql import types as T

    fields = []
    for name, dtype in sample.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            spark_type: Any = T.BooleanType()
        elif pd.api.types.is_integer_dtype(dtype):
            spark_type = T.LongType()
        elif pd.api.types.is_float_dtype(dtype):
            spark_type = T.DoubleType()
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            spark_type = T.TimestampNTZType()
        else:
            spark_type = T.StringType()
        fields.append(T.StructField(str(name), spark_type, True))
    return T.StructType(fields)
