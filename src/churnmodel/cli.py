"""The ``churnmodel`` command: thin wrappers over ``churnmodel.workflows``.

A :class:`~churnmodel.exceptions.ChurnModelError` (bad data, bad settings, a model that did not
fit) becomes one clear message on stderr and exit code 2; any other exception keeps its
traceback, because it is a bug.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from churnmodel.config import Settings, load_settings
from churnmodel.exceptions import ChurnModelError, DataValidationError

if TYPE_CHECKING:
    from churnmodel.workflows.score import ScoreResult

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="churnmodel",
    help="Customer lapse risk and lifetime value from a transaction log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Column flags shared by every command that reads a log; defaults are the canonical names.
CustomerCol = Annotated[
    str | None, typer.Option("--customer-col", help="Customer id column [default: customer_id].")
]
DateCol = Annotated[
    str | None, typer.Option("--date-col", help="Timestamp column [default: timestamp].")
]
AmountCol = Annotated[
    str | None, typer.Option("--amount-col", help="Amount column [default: amount].")
]
OrderCol = Annotated[
    str | None, typer.Option("--order-col", help="Order id column (enables de-duplication).")
]
TimezoneOpt = Annotated[
    str | None, typer.Option("--timezone", help="Business time zone [default: UTC].")
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option("--date-format", help="strptime format of non-ISO timestamps, e.g. %d/%m/%Y."),
]
DecimalOpt = Annotated[
    str | None, typer.Option("--decimal", help="Decimal mark of text amounts: . or ,")
]
DelimiterOpt = Annotated[str | None, typer.Option("--delimiter", help="CSV field separator.")]
EncodingOpt = Annotated[str | None, typer.Option("--encoding", help="CSV text encoding.")]
QuarantineOpt = Annotated[
    float | None,
    typer.Option("--max-quarantine-share", help="Stop if more rows than this share are bad."),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file.", exists=False)
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
        help="Spark master URL for --engine spark [default: local[*], or spark-submit's].",
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
    }


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
        typer.Option("--data", help="CSV, Parquet file or folder; omit for bundled CDNOW."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Cut-off date [default: last date].")
    ] = None,
    time_unit: Annotated[
        str | None, typer.Option("--time-unit", help="Unit of recency and T: D or W.")
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
        str | None, typer.Option("--start", help="First day of the log [default: 2021-01-01].")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            help="Last day of the log; with --scenario the serving day [default: 2023-12-31; "
            "scenario: 2025-06-30].",
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help="A named scenario whose next season is known (seasonal_retailer: a log to "
            "2025-06-30 and the truth of the next 184 days).",
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
    typer.Option("--data", help="CSV, Parquet file or folder; omit for bundled CDNOW."),
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
            help="End of calibration [default: CDNOW 1997-09-30, else last date - horizon].",
        ),
    ] = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(
            "--horizon-days", help="Holdout length in days [default: to the end of the log]."
        ),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment [default: churnmodel].")
    ] = None,
    refit: Annotated[
        bool | None,
        typer.Option(
            "--refit/--no-refit",
            help="Refit on every row up to the end of the log after evaluating, and register "
            "that model [default: --refit]; --no-refit registers the model evaluated at the "
            "cut-off.",
        ),
    ] = None,
    registered_model: Annotated[
        str | None,
        typer.Option(
            "--registered-model",
            help="Registered model to add the version to; naming it lets a run on other data "
            "compete for its champion [default: churnmodel, or churnmodel-<data name> when "
            "churnmodel's champion was trained on other data].",
        ),
    ] = None,
    register: Annotated[
        bool | None,
        typer.Option(
            "--register/--no-register",
            help="Register the model (and maybe promote it) [default: --register].",
        ),
    ] = None,
    promote: Annotated[
        bool | None,
        typer.Option(
            "--promote",
            help="Let this run compete for the champion of a model trained on other data (the "
            "promotion rules still decide).",
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
    config: ConfigOpt = None,
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
    r = train_job(settings, data=data)
    p = r.profile
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
    typer.echo(
        f"store:    {r.tracking_uri} (see the run: churnmodel ui, then "
        f"http://127.0.0.1:5000/#/experiments/{r.experiment_id}/runs/{r.run_id})"
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
        typer.Option("--model", help="Model URI or folder [default: models:/churnmodel@champion]."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Scoring date [default: last date].")
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
        ),
    )
    check_engine(engine)
    if engine == "spark":
        from churnmodel.workflows.spark_score import spark_score_job

        r: ScoreResult = spark_score_job(
            settings, data=data, output=output, model_uri=model, as_of=as_of, master=spark_master
        )
    else:
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


@app.command("serve")
def serve_command(
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model URI or folder [default: models:/churnmodel@champion]."),
    ] = None,
    port: PortOpt = 5001,
    host: HostOpt = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", help="Server worker processes.")] = 1,
    config: ConfigOpt = None,
) -> None:
    """Serve a model over REST (MLflow's scoring app behind a request guard, on loopback)."""
    from churnmodel.workflows.score import run_foreground
    from churnmodel.workflows.score import serve_command as serving

    resolved, command, env = serving(
        _settings(config, {}), model_uri=model, host=host, port=port, workers=workers
    )
    typer.echo(
        f"serving {resolved.label} on http://{host}:{port}/invocations (Ctrl-C stops it); "
        "request format: docs/mlflow.md"
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

    uri, command, env = ui(_settings(config, {}), host=host, port=port)
    typer.echo(f"MLflow UI for {uri} on http://{host}:{port} (Ctrl-C stops it)")
    raise typer.Exit(run_foreground(command, env))


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
        typer.Option("--budget", help="Most the contacts may cost in total [default: no limit]."),
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


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 user error)."""
    try:
        app(args=argv, standalone_mode=False)
    except ChurnModelError as exc:
        _report_error(exc)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return 2
        raise
    return 0


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
