"""Feature building vs lifetimes' ``summary_data_from_transaction_data`` on simulated logs.

Inputs are simulated Parquet logs (canonical columns, with order ids), generated once into
``benchmarks/.cache``. Cases, each measured beside lifetimes in the same run:

* ``rfm parquet->rfm``: what lifetimes computes (RFM), from the Parquet file: read, validate
  every row (quarantine with reasons, counts reconciled), ledger, RFM. No de-duplication
  (``dedupe="none"``), as lifetimes does none;
* ``all features parquet->features``: the CLI path: read + validate + de-duplicate by order id
  + ledger + every customer feature + life-cycle stages;
* ``rfm_summary DataFrame``: RFM from the same in-memory DataFrame lifetimes gets.

lifetimes is given the DataFrame already in memory (loading it is not timed, but its memory
counts, since lifetimes needs it). Imports happen in the untimed set-up on both sides.
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
    import lifetimes.utils  # noqa: F401  (import outside the timed call)

    import churnmodel.features

    del churnmodel.features
    return pd.read_parquet(path, columns=["customer_id", "timestamp", "amount"])


def _path(path: Path) -> Path:
    import churnmodel.features
    import churnmodel.io

    del churnmodel.features
    return path


def ours_rfm_from_parquet(path: Path) -> None:
    from churnmodel.features import rfm_summary
    from churnmodel.io import connect, load_transactions

    con = connect(threads=2)
    table, report = load_transactions(con, path, as_of=AS_OF, dedupe="none", count_customers=False)
    rfm_summary(table, AS_OF)
    assert report.reconciles


def ours_features(path: Path) -> None:
    from churnmodel.features import customer_features
    from churnmodel.io import connect, load_transactions

    con = connect(threads=2)
    table, report = load_transactions(
        con, path, order_col="order_id", as_of=AS_OF, count_customers=False
    )
    customer_features(table, AS_OF)
    assert report.reconciles


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
        big = n_customers >= 1_000_000
        common = {
            "reference": lifetimes_summary,
            "reference_name": "lifetimes summary",
            "reference_setup": functools.partial(_read, path),
            "rows": rows,
        }
        out.append(
            Case(
                name=f"rfm parquet->rfm ({label})",
                ours=ours_rfm_from_parquet,
                setup=functools.partial(_path, path),
                target="ratio >= 6x, peak <= 1.5 GB" if big else "",
                extra={"note": "ours reads and validates the Parquet file; lifetimes gets a frame"},
                **common,
            )
        )
        out.append(
            Case(
                name=f"all features parquet->features ({label})",
                ours=ours_features,
                setup=functools.partial(_path, path),
                extra={"note": "validated, de-duplicated by order id, every feature and stage"},
                **common,
            )
        )
        out.append(
            Case(
                name=f"rfm_summary DataFrame ({label})",
                ours=ours_rfm,
                setup=functools.partial(_read, path),
                **common,
            )
        )
    return out
