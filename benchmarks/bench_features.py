"""Feature building vs lifetimes' ``summary_data_from_transaction_data`` on simulated logs.

Inputs are simulated Parquet logs (canonical columns, with order ids), generated once into
``benchmarks/.cache``. Cases, each measured beside lifetimes in the same run:

* ``features (parquet -> features)``: the CLI path: read + validate + dedupe + ledger + all
  customer features + life-cycle stages, from the Parquet file;
* ``rfm_summary (DataFrame)``: RFM alone from the same in-memory DataFrame lifetimes gets.

lifetimes is given the DataFrame already in memory (loading it is not timed, but its memory
counts, since lifetimes needs it).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from benchmarks._harness import Case

CACHE = Path(__file__).parent / ".cache"
AS_OF = "2023-12-31"


def simulated_log(n_customers: int, seed: int = 11) -> Path:
    """Return a cached simulated Parquet log of ``n_customers`` customers."""
    from churnmodel.datasets import simulate_to_parquet

    path = CACHE / f"sim_{n_customers}_{seed}.parquet"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        simulate_to_parquet(path, n_customers, seed)
    return path


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path, columns=["customer_id", "timestamp", "amount"])


def _path(path: Path) -> Path:
    return path


def ours_features(path: Path) -> None:
    from churnmodel.features import customer_features
    from churnmodel.io import connect, load_transactions

    con = connect(threads=2)
    table, _ = load_transactions(con, path, order_col="order_id", as_of=AS_OF)
    customer_features(table, AS_OF)


def ours_rfm(frame: pd.DataFrame) -> None:
    from churnmodel.features import rfm_summary

    rfm_summary(frame, AS_OF)


def lifetimes_summary(frame: pd.DataFrame) -> None:
    from lifetimes.utils import summary_data_from_transaction_data

    summary_data_from_transaction_data(
        frame,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=AS_OF,
        freq="D",
    )


def cases(quick: bool) -> list[Case]:
    """Return the feature benchmark cases (1M and 10M rows; 100k rows when quick)."""
    sizes = [10_000] if quick else [100_000, 1_000_000]
    out = []
    for n_customers in sizes:
        path = simulated_log(n_customers)
        rows = pd.read_parquet(path, columns=["amount"]).shape[0]
        label = f"{rows / 1e6:.1f}M rows, {n_customers:,} customers"
        target = "ratio >= 6x, peak <= 1.5 GB" if n_customers >= 1_000_000 else ""
        out.append(
            Case(
                name=f"features parquet->features ({label})",
                ours=ours_features,
                reference=lifetimes_summary,
                reference_name="lifetimes summary",
                setup=functools.partial(_path, path),
                reference_setup=functools.partial(_read, path),
                rows=rows,
                target=target,
                extra={
                    "note": "ours reads the Parquet file; lifetimes gets the DataFrame in memory"
                },
            )
        )
        out.append(
            Case(
                name=f"rfm_summary DataFrame ({label})",
                ours=ours_rfm,
                reference=lifetimes_summary,
                reference_name="lifetimes summary",
                setup=functools.partial(_read, path),
                rows=rows,
            )
        )
    return out
