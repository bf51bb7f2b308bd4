"""The ``churnmodel`` command: thin wrappers over ``churnmodel.workflows``.

A :class:`~churnmodel.exceptions.ChurnModelError` (bad data, bad settings, a model that did not
fit) becomes one clear message on stderr and exit code 2; any other exception keeps its
traceback, because it is a bug.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from churnmodel.config import Settings, load_settings
from churnmodel.exceptions import ChurnModelError, DataValidationError

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


@app.command()
def features(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .parquet or .csv.")],
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
    result = features_job(settings, data=data, output=output, as_of=as_of)
    typer.echo(result.report.summary())
    stages = result.features["lifecycle_stage"].value_counts()
    typer.echo(
        f"\n{len(result.features):,} customers at {result.features.attrs['as_of']} "
        f"(time unit {result.features.attrs['time_unit']})"
    )
    skipped = result.features.attrs.get("customers_without_purchase", 0)
    if skipped:
        typer.echo(f"  {skipped:,} customers with returns only (no purchase day) left out")
    for stage, n in stages.items():
        if n:
            typer.echo(f"  {stage:<16}{n:>10,}")
    typer.echo(f"\nfeatures:   {result.output}")
    typer.echo(f"quarantine: {result.quarantine} ({result.report.rows_quarantined:,} rows)")


@app.command()
def simulate(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .parquet or .csv.")],
    customers: Annotated[int, typer.Option("--customers", "-n", help="Number of customers.")] = (
        10_000
    ),
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    start: Annotated[str, typer.Option("--start", help="First day of the log.")] = "2021-01-01",
    end: Annotated[str, typer.Option("--end", help="Last day of the log.")] = "2023-12-31",
) -> None:
    """Write a simulated transaction log (canonical columns) with known ground truth."""
    from churnmodel.datasets import simulate as simulate_log
    from churnmodel.io import write_table

    log = simulate_log(customers, seed, start=start, end=end)
    write_table(log.transactions, output)
    truth = output.with_name(f"{output.stem}.truth{output.suffix}")
    write_table(log.customers.reset_index(), truth)
    typer.echo(
        f"{len(log.transactions):,} transactions of {customers:,} customers -> {output}\n"
        f"ground truth per customer -> {truth}"
    )


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
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
