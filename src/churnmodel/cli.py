"""The ``churnmodel`` command: thin wrappers over ``churnmodel.workflows``.

A :class:`~churnmodel.exceptions.ChurnModelError` (bad data, bad settings, a model that did not
fit) becomes one clear message on stderr and exit code 2; any other exception keeps its
traceback, because it is a bug.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from churnmodel.config import Settings, load_settings
from churnmodel.dates import DATE_FORM, parse_date
from churnmodel.exceptions import ChurnModelError, ConfigError, DataValidationError

if TYPE_CHECKING:
    from churnmodel.workflows.score import ScoreResult

__all__ = ["SETTING_FLAGS", "app", "main", "run"]

app = typer.Typer(
    name="churnmodel",
    help="Customer lapse risk and lifetime value from a transaction log.\n\n"
    "Settings come from, lowest to highest: defaults, a TOML file (--config), CHURNMODEL_* "
    "environment variables, flags; docs/configuration.md lists every one.",
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich markup would read "[default: ...]" as a tag and drop it.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100},
)


#: The setting each flag sets (``section.name`` -> flag); docs/configuration.md is generated
#: from this and the settings classes (``python -m churnmodel.reference``), and
#: tests/test_reference.py checks that every other option of a command is not a setting.
SETTING_FLAGS: dict[str, str] = {
    "data.customer_col": "--customer-col",
    "data.date_col": "--date-col",
    "data.amount_col": "--amount-col",
    "data.order_col": "--order-col",
    "data.timezone": "--timezone",
    "data.date_format": "--date-format",
    "data.decimal": "--decimal",
    "data.delimiter": "--delimiter",
    "data.encoding": "--encoding",
    "data.dedupe": "--dedupe",
    "data.max_quarantine_share": "--max-quarantine-share",
    "features.time_unit": "--time-unit",
    "model.cutoff": "--cutoff",
    "model.horizon_days": "--horizon-days",
    "model.refit": "--refit",
    "tracking.experiment": "--experiment",
    "tracking.registered_model": "--registered-model",
    "tracking.register_model": "--register",
    "tracking.promote_other_data": "--promote",
    "server.backend_store_uri": "--backend-store-uri",
    "server.artifacts_destination": "--artifacts-destination",
    "plan.budget": "--budget",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("churnmodel")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        import churnmodel

        return churnmodel.__version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"churnmodel {_version()}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """Print the help when no command is given (exit 0), or the version."""
    if ctx.invoked_subcommand is None:  # a bare `churnmodel`: the help, and success
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def _iso_date(flag: str) -> Any:
    """Return a typer parser that accepts only ISO 8601 dates and returns them as text."""

    def parse(value: str) -> str:
        try:
            return parse_date(value, flag).isoformat()
        except ConfigError:
            raise typer.BadParameter(
                f"{value!r} is not an ISO 8601 date: use {DATE_FORM}, for example 2024-06-30"
            ) from None

    return parse


class Dedupe(enum.StrEnum):
    """``[data] dedupe``: which repeated rows are removed (``read_transactions``)."""

    auto = "auto"
    all = "all"
    none = "none"


# Column flags shared by every command that reads a log; unset flags leave the config file and
# the environment in force, so their defaults are shown rather than set.
CustomerCol = Annotated[
    str | None,
    typer.Option("--customer-col", help="Customer id column.", show_default="customer_id"),
]
DateCol = Annotated[
    str | None, typer.Option("--date-col", help="Timestamp column.", show_default="timestamp")
]
AmountCol = Annotated[
    str | None, typer.Option("--amount-col", help="Amount column.", show_default="amount")
]
OrderCol = Annotated[
    str | None,
    typer.Option(
        "--order-col",
        help="Order id column: rows repeating an order id and its fields are duplicates.",
        show_default="none",
    ),
]
DedupeOpt = Annotated[
    Dedupe | None,
    typer.Option(
        "--dedupe",
        help="Which repeated rows to drop: auto = exact duplicates when --order-col is given, "
        "identical rows kept (and counted) without it; all = rows identical in every column "
        "of the file, even without an order id; none = keep every row.",
        show_default="auto",
    ),
]
TimezoneOpt = Annotated[
    str | None,
    typer.Option("--timezone", help="Business time zone (IANA name).", show_default="UTC"),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="strptime format of the timestamps inside the file when they are not ISO 8601, "
        "e.g. %d/%m/%Y.",
        show_default="ISO 8601",
    ),
]
DecimalOpt = Annotated[
    str | None,
    typer.Option("--decimal", help="Decimal mark of text amounts: . or ,", show_default="."),
]
DelimiterOpt = Annotated[
    str | None,
    typer.Option("--delimiter", help="CSV field separator.", show_default="sniffed from the file"),
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="CSV text encoding.", show_default="utf-8")
]
QuarantineOpt = Annotated[
    float | None,
    typer.Option(
        "--max-quarantine-share",
        help="Stop if more than this share of the rows is bad.",
        show_default="0.01",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML settings file (docs/configuration.md).",
        exists=False,
        show_default="none",
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="duckdb (embedded, one machine) or spark (Parquet in, a Parquet folder out).",
    ),
]
SparkMasterOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master URL for --engine spark.",
        show_default="local[*], or spark-submit's",
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help=f"Cut-off date, {DATE_FORM}: rows after it are left out.",
        parser=_iso_date("--as-of"),
        metavar=DATE_FORM,
        show_default="the last date in the log",
    ),
]


def _settings(
    config: Path | None, data: dict[str, Any], features: dict[str, Any] | None = None
) -> Settings:
    return load_settings(config, {"data": data, "features": features or {}})


def _data_flags(
    customer_col: str | None,
    date_col: str | None,
    amount_col: str | None,
    order_col: str | None,
    timezone: str | None,
    date_format: str | None,
    decimal: str | None,
    delimiter: str | None,
    encoding: str | None,
    max_quarantine_share: float | None,
    dedupe: Dedupe | None = None,
) -> dict[str, Any]:
    return {
        "customer_col": customer_col,
        "date_col": date_col,
        "amount_col": amount_col,
        "order_col": order_col,
        "timezone": timezone,
        "date_format": date_format,
        "decimal": decimal,
        "delimiter": delimiter,
        "encoding": encoding,
        "max_quarantine_share": max_quarantine_share,
        "dedupe": None if dedupe is None else dedupe.value,
    }


@contextlib.contextmanager
def _stages() -> Iterator[None]:
    """Show churnmodel's stage lines on stderr while a command works, and MLflow's quietly.

    The workflows log each stage ("fitting the lapse classifier") at INFO on the
    ``churnmodel`` logger; here they become ``[  12.3 s] ...`` lines. MLflow's own INFO lines
    and artifact progress bars are turned off for the command (its warnings still show); an
    ``MLFLOW_LOGGING_LEVEL`` set by the user wins. Everything is restored afterwards.
    """
    import logging
    import time

    started = time.perf_counter()

    class Stage(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            elapsed = time.perf_counter() - started
            typer.echo(f"[{elapsed:6.1f} s] {record.getMessage()}", err=True)

    quiet = {"MLFLOW_LOGGING_LEVEL": "WARNING", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    saved_env = {name: os.environ.get(name) for name in quiet}
    for name, value in quiet.items():
        os.environ.setdefault(name, value)  # read by MLflow when it is imported
    ours = logging.getLogger("churnmodel")
    theirs = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    saved = (ours.level, ours.propagate, [t.level for t in theirs])
    handler = Stage(logging.INFO)
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False
    level = logging.getLevelName(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
    for logger in theirs:  # when MLflow was imported already (notebooks, tests)
        logger.setLevel(level if isinstance(level, int) else logging.WARNING)
    try:
        yield
    finally:
        ours.removeHandler(handler)
        ours.setLevel(saved[0])
        ours.propagate = saved[1]
        for logger, before in zip(theirs, saved[2], strict=True):
            logger.setLevel(before)
        for var, before_value in saved_env.items():
            if before_value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = before_value


def _echo_stage_counts(counts: dict[str, int]) -> None:
    """Print the customers per life-cycle stage (stages without customers left out)."""
    for stage, n in counts.items():
        if n:
            typer.echo(f"  {stage:<16}{n:>10,}")


@app.command()
def features(
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Output .parquet or .csv (spark: a Parquet folder)."),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="CSV, Parquet file or folder.", show_default="the bundled CDNOW log"
        ),
    ] = None,
    as_of: AsOfOpt = None,
    time_unit: Annotated[
        str | None,
        typer.Option(
            "--time-unit",
            help="Unit of recency and T: D, W or M (365.25/12 days).",
            show_default="D",
        ),
    ] = None,
    customer_col: CustomerCol = None,
    date_col: DateCol = None,
    amount_col: AmountCol = None,
    order_col: OrderCol = None,
    dedupe: DedupeOpt = None,
    timezone: TimezoneOpt = None,
    date_format: DateFormatOpt = None,
    decimal: DecimalOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    max_quarantine_share: QuarantineOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Build per-customer features (RFM, behaviour, life-cycle stage) at a cut-off date."""
    from churnmodel.workflows.features import features_job

    settings = _settings(
        config,
        _data_flags(
            customer_col,
            date_col,
            amount_col,
            order_col,
            timezone,
            date_format,
            decimal,
            delimiter,
            encoding,
            max_quarantine_share,
            dedupe,
        ),
        {"time_unit": time_unit},
    )
    result = features_job(
        settings,
        data=data,
        output=output,
        as_of=as_of,
        engine=engine,  # type: ignore[arg-type]  # checked by features_job
        spark_master=spark_master,
    )
    typer.echo(result.report.summary())
    attrs = result.attrs
    typer.echo(
        f"\n{result.n_customers:,} customers at {attrs['as_of']} (time unit {attrs['time_unit']})"
    )
    skipped = attrs.get("customers_without_purchase", 0)
    if skipped:
        typer.echo(f"  {skipped:,} customers with returns only (no purchase day) left out")
    _echo_stage_counts(result.stage_counts)
    typer.echo(f"\nfeatures:   {result.output}")
    typer.echo(f"quarantine: {result.quarantine} ({result.report.rows_quarantined:,} rows)")


@app.command()
def simulate(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Output .parquet or .csv; with --scenario, a folder for transactions and truth.",
        ),
    ],
    customers: Annotated[int, typer.Option("--customers", "-n", help="Number of customers.")] = (
        10_000
    ),
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help=f"First day of the log, {DATE_FORM}.",
            parser=_iso_date("--start"),
            metavar=DATE_FORM,
            show_default="2021-01-01",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            help=f"Last day of the log, {DATE_FORM}; with --scenario the serving day.",
            parser=_iso_date("--end"),
            metavar=DATE_FORM,
            show_default="2023-12-31; with --scenario 2025-06-30",
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help="A named scenario whose next season is known (seasonal_retailer: a log to "
            "2025-06-30 and the truth of the next 184 days).",
            show_default="none: a plain simulated log",
        ),
    ] = None,
) -> None:
    """Write a simulated transaction log (canonical columns) with known ground truth."""
    from churnmodel.datasets import SCENARIOS
    from churnmodel.datasets import simulate as simulate_log
    from churnmodel.exceptions import ConfigError
    from churnmodel.io import write_table

    if scenario is not None:
        if scenario not in SCENARIOS:
            raise ConfigError(f"--scenario must be one of {sorted(SCENARIOS)}, got {scenario!r}")
        if start is not None:
            raise ConfigError(
                "--start does not apply to --scenario (a scenario's log covers 2.5 years "
                "before --end); drop it"
            )
        sc = SCENARIOS[scenario](customers, seed, **({} if end is None else {"end": end}))
        paths = sc.write(output)
        typer.echo(
            f"{len(sc.transactions):,} transactions of {len(sc.customers):,} customers "
            f"({sc.start} .. {sc.end}) -> {paths['transactions']}\n"
            f"truth of {sc.end + timedelta(days=1)} .. {sc.end + timedelta(days=sc.horizon_days)}"
            f" per customer -> {paths['truth']}"
        )
        return
    log = simulate_log(customers, seed, start=start or "2021-01-01", end=end or "2023-12-31")
    write_table(log.transactions, output)
    truth = output.with_name(f"{output.stem}.truth{output.suffix}")
    write_table(log.customers.reset_index(), truth)
    typer.echo(
        f"{len(log.transactions):,} transactions of {customers:,} customers -> {output}\n"
        f"ground truth per customer -> {truth}"
    )


DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data", help="CSV, Parquet file or folder.", show_default="the bundled CDNOW log"
    ),
]
HostOpt = Annotated[
    str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")
]
PortOpt = Annotated[int, typer.Option("--port", help="Port to listen on.")]

# Metrics the train command prints (when the run logged them), in this order.
_HEADLINE_METRICS = (
    "lapse_roc_auc",
    "baseline_recency_roc_auc",
    "baseline_bgnbd_roc_auc",
    "lapse_pr_auc",
    "lapse_brier",
    "lapse_top_decile_lift",
    "spend_spearman",
    "spend_normalized_gini",
    "spend_total_relative_error",
)


@app.command("train")
def train_command(
    data: DataOpt = None,
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff",
            help=f"End of calibration, {DATE_FORM}; the holdout follows it.",
            parser=_iso_date("--cutoff"),
            metavar=DATE_FORM,
            show_default="CDNOW: 1997-09-30; other logs: the last date - the horizon",
        ),
    ] = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(
            "--horizon-days",
            help="Holdout length in days, and the horizon the served model forecasts.",
            show_default="from --cutoff to the end of the log; without --cutoff 90 (CDNOW: 273)",
        ),
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", help="MLflow experiment.", show_default="churnmodel"),
    ] = None,
    refit: Annotated[
        bool | None,
        typer.Option(
            "--refit/--no-refit",
            help="Refit on every row up to the end of the log after evaluating, and register "
            "that model; --no-refit registers the model evaluated at the cut-off.",
            show_default="--refit",
        ),
    ] = None,
    registered_model: Annotated[
        str | None,
        typer.Option(
            "--registered-model",
            help="Registered model to add the version to; naming it lets a run on other data "
            "compete for its champion.",
            show_default="churnmodel, or churnmodel-<data name> when churnmodel's champion was "
            "trained on other data",
        ),
    ] = None,
    register: Annotated[
        bool | None,
        typer.Option(
            "--register/--no-register",
            help="Register the model (and maybe promote it).",
            show_default="--register",
        ),
    ] = None,
    promote: Annotated[
        bool | None,
        typer.Option(
            "--promote",
            help="Let this run compete for the champion of a model trained on other data (the "
            "promotion rules still decide).",
            show_default="off",
        ),
    ] = None,
    customer_col: CustomerCol = None,
    date_col: DateCol = None,
    amount_col: AmountCol = None,
    order_col: OrderCol = None,
    dedupe: DedupeOpt = None,
    timezone: TimezoneOpt = None,
    date_format: DateFormatOpt = None,
    decimal: DecimalOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    max_quarantine_share: QuarantineOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Train on a log, log the run to MLflow, register the model, promote it if it passes."""
    from churnmodel.workflows.train import train_job

    settings = load_settings(
        config,
        {
            "data": _data_flags(
                customer_col,
                date_col,
                amount_col,
                order_col,
                timezone,
                date_format,
                decimal,
                delimiter,
                encoding,
                max_quarantine_share,
                dedupe,
            ),
            "model": {"cutoff": cutoff, "horizon_days": horizon_days, "refit": refit},
            "tracking": {
                "experiment": experiment,
                "registered_model": registered_model,
                "register_model": register,
                "promote_other_data": promote,
            },
        },
    )
    with _stages():
        r = train_job(settings, data=data, engine=engine, spark_master=spark_master)
    p = r.profile
    if r.report is not None:
        typer.echo(r.report.summary() + "\n")
    typer.echo(
        f"data:     {p['source']}: {p['rows']['rows_read']:,} rows, {p['customers']:,} customers, "
        f"{p['first_date']} .. {p['last_date']}\n          fingerprint {p['fingerprint']}\n"
        f"split:    calibration to {r.cutoff}, holdout {p['holdout']['start']} .. "
        f"{p['holdout']['end']} ({r.horizon_days} days)"
    )
    _echo_metrics("holdout metrics:", r.metrics, "")
    if r.aligned_cutoff is not None:
        _echo_metrics(f"season-aligned ({r.notes.get('aligned', '')}):", r.metrics, "aligned_")
    else:
        typer.echo(f"season-aligned: not run: {r.notes.get('aligned', '')}")
    for key, label in (("champion", "compared:"), ("aligned_champion", "compared:")):
        if r.notes.get(key):
            where = "holdout" if key == "champion" else "season-aligned"
            typer.echo(f"{label:<10}{r.notes[key]} on the {where} window")
    forecast = p["served"]["forecast"]
    typer.echo(
        f"served:   fitted on data to {r.served_through}, forecasts {forecast['start']} .. "
        f"{forecast['end']}\n"
        f"run:      {r.run_name!r} ({r.run_id}), {len(r.metrics)} metrics, {len(r.plots)} plots"
    )
    if r.registered is None:
        typer.echo(f"model:    logged, not registered (--no-register): {r.model_uri}")
        typer.echo(f"rules:    {r.decision.summary}")
    else:
        if r.registered_note:
            typer.echo(f"registry: {r.registered_note}")
        typer.echo(
            f"model:    {r.registered.name} v{r.registered.version}, "
            f"{r.size_bytes / 1e6:.2f} MB ({r.size_bytes:,} bytes)"
        )
        if r.promoted:
            typer.echo(f"champion: v{r.registered.version} is now @{r.alias}: {r.decision.summary}")
        else:
            held = f"v{r.previous_champion}" if r.previous_champion else "no version"
            typer.echo(f"champion: NOT promoted, @{r.alias} stays on {held}: {r.decision.summary}")
        if r.registered.name != "churnmodel":
            typer.echo(
                f"score:    churnmodel score --model models:/{r.registered.name}@{r.alias} ..."
            )
    local = "" if r.tracking_uri.startswith(("http://", "https://")) else "churnmodel ui, then "
    typer.echo(
        f"store:    {r.tracking_uri}\n"
        f"review:   {local}{r.run_link}\n          all runs, headline metrics: {r.runs_link}"
    )


def _echo_metrics(title: str, metrics: dict[str, float], prefix: str) -> None:
    """Print the headline metrics of one scorecard (those the run logged)."""
    shown = [n for n in _HEADLINE_METRICS if f"{prefix}{n}" in metrics]
    champion = f"{prefix}champion_lapse_roc_auc"
    if not shown:
        return
    typer.echo(title)
    for name in shown:
        typer.echo(f"  {name:<30}{metrics[f'{prefix}{name}']:>10.4f}")
    if champion in metrics:
        typer.echo(f"  {'champion_lapse_roc_auc':<30}{metrics[champion]:>10.4f}")


@app.command("score")
def score_command(
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Output .parquet or .csv (spark: a Parquet folder)."),
    ],
    data: DataOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Model URI or folder.", show_default="models:/churnmodel@champion"
        ),
    ] = None,
    as_of: AsOfOpt = None,
    customer_col: CustomerCol = None,
    date_col: DateCol = None,
    amount_col: AmountCol = None,
    order_col: OrderCol = None,
    dedupe: DedupeOpt = None,
    timezone: TimezoneOpt = None,
    date_format: DateFormatOpt = None,
    decimal: DecimalOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    max_quarantine_share: QuarantineOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Score every customer known at the as-of date with a registered model."""
    from churnmodel.workflows.features import check_engine
    from churnmodel.workflows.score import score_job

    settings = _settings(
        config,
        _data_flags(
            customer_col,
            date_col,
            amount_col,
            order_col,
            timezone,
            date_format,
            decimal,
            delimiter,
            encoding,
            max_quarantine_share,
            dedupe,
        ),
    )
    check_engine(engine)
    if engine == "spark":
        from churnmodel.workflows.spark_score import spark_score_job

        r: ScoreResult = spark_score_job(
            settings, data=data, output=output, model_uri=model, as_of=as_of, master=spark_master
        )
    else:
        with _stages():
            r = score_job(settings, data=data, output=output, model_uri=model, as_of=as_of)
    typer.echo(r.report.summary())
    typer.echo(
        f"\nscored {r.n_customers:,} customers at {r.as_of} with {r.model.label} "
        f"in {r.seconds:.1f} s ({r.n_chunks} chunk{'s' if r.n_chunks > 1 else ''})"
    )
    _echo_stage_counts(r.stage_counts)
    typer.echo(
        f"total CLV {r.total_clv:,.2f}; total value at risk (CLV x P(churn)) "
        f"{r.total_value_at_risk:,.2f}"
    )
    if len(r.top):
        typer.echo(f"top {len(r.top)} customers by value at risk:")
        typer.echo(r.top.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    typer.echo(f"\nscores:     {r.output}")
    typer.echo(f"quarantine: {r.quarantine} ({r.report.rows_quarantined:,} rows)")


@app.command("monitor")
def monitor_command(
    data: DataOpt = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model URI or folder [default: models:/churnmodel@champion]."),
    ] = None,
    scores: Annotated[
        str | None,
        typer.Option(
            "--scores",
            help="The forecast as sent: a Parquet file `churnmodel score` wrote with this model "
            "[default: re-score at the as-of date].",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=f"Forecast date to judge, {DATE_FORM}.",
            parser=_iso_date("--as-of"),
            metavar=DATE_FORM,
            show_default="the last day of the model's training data",
        ),
    ] = None,
    customer_col: CustomerCol = None,
    date_col: DateCol = None,
    amount_col: AmountCol = None,
    order_col: OrderCol = None,
    timezone: TimezoneOpt = None,
    date_format: DateFormatOpt = None,
    decimal: DecimalOpt = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    max_quarantine_share: QuarantineOpt = None,
    dedupe: DedupeOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Judge the champion's forecast once its window has passed, and measure input drift.

    Logs a monitoring run and tags the registered version. Exit code 3 when a limit of
    [monitoring] is exceeded (drift or a realised drop), for a scheduled job to alert on.
    """
    from churnmodel.workflows.monitor import monitor_job

    settings = _settings(
        config,
        _data_flags(
            customer_col,
            date_col,
            amount_col,
            order_col,
            timezone,
            date_format,
            decimal,
            delimiter,
            encoding,
            max_quarantine_share,
            dedupe,
        ),
    )
    r = monitor_job(settings, data=data, model_uri=model, scores=scores, as_of=as_of)
    typer.echo(
        f"model:    {r.model.label}, fitted on data to {r.fitted_through}\n"
        f"forecast: made at {r.as_of} for {r.as_of + timedelta(days=1)} .. {r.window_end} "
        f"({r.scores_source}); log to {r.data_end}"
    )
    if r.complete:
        typer.echo(f"realised: (promised: the training run's {r.promised_scorecard} scorecard)")
        for key in (
            "lapse_roc_auc",
            "lapse_brier",
            "lapse_base_rate",
            "lapse_mean_p_churn",
            "spend_spearman",
            "spend_total_relative_error",
            "baseline_recency_roc_auc",
        ):
            if key in r.realised:
                promised = r.promised.get(key)
                shown = "" if promised is None else f"   promised {promised:.4f}"
                typer.echo(f"  {key:<30}{r.realised[key]:>10.4f}{shown}")
    else:
        typer.echo(f"realised: not yet: the window ends on {r.window_end}, the log on {r.data_end}")
    typer.echo("drift:    population stability index, training snapshot -> now (largest):")
    for row in r.drift.head(5).itertuples():
        held = "" if row.held_to_limit else "  (not held to the limit)"
        typer.echo(f"  {row.feature:<30}{row.psi:>10.3f}{held}")
    typer.echo(f"run:      {r.run_name!r} ({r.run_id})\n          {r.run_link}")
    if r.version_tags:
        status = r.version_tags["monitor_status"]
        typer.echo(f"registry: {r.model.label} tagged with its record (monitor_status={status})")
    if r.problems:
        for problem in r.problems:
            typer.echo(f"churnmodel: monitor: {problem}", err=True)
        raise typer.Exit(3)
    typer.echo("status:   ok, every limit holds")


@app.command("serve")
def serve_command(
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Model URI or folder.", show_default="models:/churnmodel@champion"
        ),
    ] = None,
    port: PortOpt = 5001,
    host: HostOpt = "127.0.0.1",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Server worker processes, each scoring one request at a time.",
            show_default="one per available core",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve a model over REST (MLflow's scoring app behind a request guard, on loopback)."""
    from churnmodel.workflows.score import run_foreground
    from churnmodel.workflows.score import serve_command as serving

    resolved, command, env = serving(
        _settings(config, {}), model_uri=model, host=host, port=port, workers=workers
    )
    n_workers = command[command.index("--workers") + 1]
    typer.echo(
        f"serving {resolved.label} on http://{host}:{port}/invocations with {n_workers} "
        "worker(s) (Ctrl-C stops it); request format: docs/mlflow.md"
    )
    raise typer.Exit(run_foreground(command, env))


@app.command("ui")
def ui_command(
    port: PortOpt = 5000,
    host: HostOpt = "127.0.0.1",
    config: ConfigOpt = None,
) -> None:
    """Start the MLflow UI on the project's store (one worker)."""
    from churnmodel.workflows.score import run_foreground
    from churnmodel.workflows.train import ui_command as ui
    from churnmodel.workflows.train import ui_links

    settings = _settings(config, {})
    uri, command, env = ui(settings, host=host, port=port)
    typer.echo(f"MLflow UI for {uri} on http://{host}:{port} (Ctrl-C stops it)")
    for link in ui_links(settings, host=host, port=port):
        typer.echo(f"  {link}")
    raise typer.Exit(run_foreground(command, env))


@app.command("server")
def server_command(
    backend_store_uri: Annotated[
        str | None,
        typer.Option(
            "--backend-store-uri",
            help="PostgreSQL database of runs, models and users: postgresql://user:password@"
            "host:5432/db (better in CHURNMODEL_SERVER__BACKEND_STORE_URI: it holds a password).",
            show_default="[server] backend_store_uri",
        ),
    ] = None,
    artifacts_destination: Annotated[
        str | None,
        typer.Option(
            "--artifacts-destination",
            help="Where the server keeps the artifacts it proxies: a folder or s3://bucket/path.",
            show_default="mlartifacts-server",
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Interface to bind; 0.0.0.0 exposes it to the network (docs/team-server.md).",
            show_default="127.0.0.1",
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to listen on.", show_default="5000")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Server worker processes.", show_default="2"),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Start the team's MLflow tracking server: PostgreSQL, proxied artifacts, basic auth.

    The admin's password comes from MLFLOW_AUTH_ADMIN_PASSWORD on the first start; clients
    set MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.
    """
    from churnmodel.workflows.server import run_team_server

    settings = load_settings(
        config,
        {
            "server": {
                "backend_store_uri": backend_store_uri,
                "artifacts_destination": artifacts_destination,
                "host": host,
                "port": port,
                "workers": workers,
            }
        },
    )
    raise typer.Exit(run_team_server(settings, echo=typer.echo))


@app.command("plan")
def plan_command(
    scores: Annotated[
        Path, typer.Option("--scores", help="Scores from churnmodel score (.parquet or .csv).")
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The plan: .parquet or .csv, one row per customer."),
    ],
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget", help="Most the contacts may cost in total.", show_default="no limit"
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="The transaction log the scores came from: seasons, order values, and with "
            "--contacts the measured response.",
        ),
    ] = None,
    contacts: Annotated[
        Path | None,
        typer.Option(
            "--contacts",
            help="Contact log (customer_id, contact_date, action, control): learn the response "
            "from past campaigns instead of the assumed rates (needs --data).",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Turn scores into a retention plan: one action per customer, its value, cost and date."""
    from churnmodel.workflows.plan import plan_job

    r = plan_job(
        load_settings(config),
        scores=scores,
        output=output,
        data=data,
        contacts=contacts,
        budget=budget,
    )
    t = r.totals
    typer.echo(f"plan at {r.as_of}: {t['contacted']:,} of {t['customers']:,} customers contacted")
    for action in (
        "retain",
        "reward",
        "win_back",
        "seasonal_reminder",
        "nurture",
        "do_not_contact",
    ):
        if t.get(f"n_{action}"):
            typer.echo(f"  {action:<18}{t[f'n_{action}']:>10,}")
    left = "" if t["budget"] is None else f" of a budget of {t['budget']:,.2f}"
    typer.echo(
        f"cost {t['cost']:,.2f}{left}; expected incremental value "
        f"{t['expected_incremental_value']:,.2f}, net {t['expected_net_value']:,.2f}"
    )
    if r.qini:
        typer.echo(
            f"holdout Qini (spend) {r.qini['qini_spend']:.3f} "
            f"[{r.qini['qini_spend_ci_low']:.3f}, {r.qini['qini_spend_ci_high']:.3f}]"
        )
    for note in r.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"\nplan: {r.output}")
    if r.run_id:
        typer.echo(f"run:  {r.run_id} (churnmodel ui)")


def _report_error(exc: ChurnModelError) -> None:
    lines = str(exc).splitlines()
    message = lines[0] if lines else type(exc).__name__
    typer.echo(f"churnmodel: error: {message}", err=True)
    if isinstance(exc, DataValidationError):
        if exc.rows is not None and len(exc.rows):
            typer.echo(exc.rows.head(5).to_string(max_colwidth=40), err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)


def _usage_errors() -> tuple[type[Exception], type[Exception]]:
    """Return click's ``UsageError`` and ``ClickException`` as the installed typer raises them.

    typer 0.29 vendors click as ``typer._click``; earlier releases use click itself. Both
    export ``typer.BadParameter``, a subclass of the two, so its MRO names the right classes.
    """
    by_name = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
    return by_name["UsageError"], by_name["ClickException"]


def _closest(word: str, choices: list[str]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def _usage_line(exc: Exception, argv: list[str]) -> str:
    """One line for a usage error: what was wrong, and the closest valid option or command."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        path = ctx.command_path
    else:  # an option without its value fails before the command's context exists
        names = getattr(typer.main.get_command(app), "commands", {})
        path = " ".join(["churnmodel", *[a for a in argv if a in names][:1]])
    message = " ".join(getattr(exc, "format_message", lambda: str(exc))().split())
    command = ctx.command if ctx is not None else None
    option = getattr(exc, "option_name", None)  # NoSuchOption
    if option and command is not None:
        prefix = "--" if option.startswith("--") else "-"
        flags = sorted(
            {
                o
                for p in command.params
                for o in (*p.opts, *p.secondary_opts)
                if o.startswith(prefix) and (prefix == "-") != o.startswith("--")
            }
        )
        near = _closest(option, flags)
        message = f"no such option {option}" + (
            f"; did you mean {near}?" if near else f"; see {path} --help"
        )
    elif message.startswith("No such command") and command is not None:
        names = sorted(getattr(command, "commands", {}))
        wrong = message.split("'")[1] if message.count("'") >= 2 else ""
        near = _closest(wrong, names)
        message = f"no such command {wrong!r}; " + (
            f"did you mean {near!r}?" if near else f"the commands are {', '.join(names)}"
        )
    elif not message.endswith(("?", ".")) or "--help" not in message:
        message = f"{message.rstrip('.')} (see {path} --help)"
    return f"{path}: error: {message}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 user or usage error, 3 a problem)."""
    usage_error, click_exception = _usage_errors()
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of raising.
        code = app(args=argv, standalone_mode=False, prog_name="churnmodel")
    except ChurnModelError as exc:
        _report_error(exc)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except usage_error as exc:
        typer.echo(_usage_line(exc, sys.argv[1:] if argv is None else argv), err=True)
        return 2
    except click_exception as exc:
        typer.echo(f"churnmodel: error: {' '.join(str(exc).split())}", err=True)
        return 2
    return code if isinstance(code, int) else 0


def run() -> None:
    """Console-script entry point.

    OpenMP threads (scikit-learn's gradient boosting) sleep instead of spin-waiting while
    idle, unless ``OMP_WAIT_POLICY`` says otherwise: spinning threads made two-thread scoring
    several times slower than one thread on a machine busy with other jobs, while passive
    threads cost nothing there and halve scoring time on an idle one. The runtime reads the
    variable when it loads, so it is set before any command imports scikit-learn.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
