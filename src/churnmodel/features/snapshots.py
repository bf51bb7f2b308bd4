"""Snapshots for supervised learning: features at past cut-offs and what happened next.

For each cut-off the snapshot holds the customer features computed from data up to that day
only, and, from the ``horizon_days`` days that follow it, ``purchases_next`` (purchase days),
``spend_next`` (net spend, floored at 0) and ``lapsed`` (no purchase day in the window). A
customer first seen after a cut-off is not in that cut-off's snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

import pandas as pd

from churnmodel.exceptions import ConfigError
from churnmodel.features.customer import customer_features, to_date
from churnmodel.features.engine import DuckDBEngine, TransactionsLike
from churnmodel.features.lifecycle import LifecycleRules
from churnmodel.features.queries import FeatureWindows, PurchaseRule, labels_sql, ledger_sql
from churnmodel.schemas import CUSTOMER_ID, DATE

__all__ = ["LABEL_COLUMNS", "build_snapshots", "check_label_windows", "snapshot_cutoffs"]

LABEL_COLUMNS = ("purchases_next", "spend_next", "lapsed")

DateLike = str | date | datetime | pd.Timestamp


def snapshot_cutoffs(
    scoring_date: DateLike,
    horizon_days: int,
    *,
    n_recent: int = 3,
    step_days: int | None = None,
    include_last_year: bool = True,
    first_date: DateLike | None = None,
) -> list[date]:
    """Return training cut-offs whose label windows end on or before ``scoring_date``.

    The latest cut-off is ``scoring_date - horizon_days`` (its label window ends at the
    scoring date, so no label overlaps what comes after); ``n_recent - 1`` more go back in
    steps of ``step_days`` (default: ``horizon_days``, so label windows do not overlap). With
    ``include_last_year`` the cut-off one year before ``scoring_date`` is added, so seasonal
    buyers are seen in the same season. Cut-offs before ``first_date`` are dropped.
    """
    if horizon_days <= 0:
        raise ConfigError(f"'horizon_days' must be > 0, got {horizon_days}")
    if n_recent < 1:
        raise ConfigError(f"'n_recent' must be >= 1, got {n_recent}")
    step = step_days if step_days is not None else horizon_days
    if step <= 0:
        raise ConfigError(f"'step_days' must be > 0, got {step}")
    end = to_date(scoring_date, "scoring_date")
    latest = end - timedelta(days=horizon_days)
    cutoffs = {latest - timedelta(days=i * step) for i in range(n_recent)}
    if include_last_year:
        cutoffs.add(end - timedelta(days=365))
    floor = None if first_date is None else to_date(first_date, "first_date")
    return sorted(c for c in cutoffs if floor is None or c > floor)


def check_label_windows(cutoffs: Sequence[date], horizon_days: int, last: date) -> None:
    """Raise ConfigError if a cut-off's label window ends after the last transaction date.

    Such a window would count customers as lapsed only because the data stop. Shared by the
    DuckDB and Spark engines.
    """
    late = [d for d in cutoffs if d + timedelta(days=horizon_days) > last]
    if late:
        raise ConfigError(
            f"label window of cut-off(s) {[d.isoformat() for d in late]} ends after the "
            f"last transaction date {last.isoformat()}; choose cut-offs on or before "
            f"{(last - timedelta(days=horizon_days)).isoformat()} or a shorter horizon"
        )


def build_snapshots(
    transactions: TransactionsLike,
    cutoffs: Iterable[DateLike],
    horizon_days: int,
    *,
    time_unit: str = "D",
    purchase: PurchaseRule | None = None,
    rules: LifecycleRules | None = None,
    windows: FeatureWindows | None = None,
    require_complete: bool = True,
) -> pd.DataFrame:
    """Return features at each cut-off plus what each customer did in the next ``horizon_days``.

    Parameters
    ----------
    transactions
        Canonical transactions covering the cut-offs and their label windows.
    cutoffs
        Cut-off days; features use data up to and including each.
    horizon_days
        Length of the label window ``(cutoff, cutoff + horizon_days]``.
    require_complete
        Raise when a label window runs past the last transaction date (its labels would
        count customers as lapsed only because the data stop).

    Returns
    -------
    pandas.DataFrame
        One row per (cut-off, customer known at the cut-off): ``cutoff``, ``customer_id``,
        the columns of :func:`~churnmodel.features.customer_features`, and
        ``purchases_next``, ``spend_next``, ``lapsed``.
    """
    if horizon_days <= 0:
        raise ConfigError(f"'horizon_days' must be > 0, got {horizon_days}")
    days: Sequence[date] = sorted({to_date(c, "cutoff") for c in cutoffs})
    if not days:
        raise ConfigError("'cutoffs' must name at least one date")
    engine, table = DuckDBEngine.for_transactions(transactions)
    ledger = engine.materialize(ledger_sql(table), prefix="ledger")
    last = engine.con.execute(f"SELECT max({DATE}) FROM {ledger}").fetchall()[0][0]
    if last is None:
        raise ConfigError("the transactions are empty: no snapshot can be built")
    if require_complete:
        check_label_windows(days, horizon_days, last)
    frames = []
    for cutoff in days:
        feats = customer_features(
            transactions,
            cutoff,
            time_unit=time_unit,
            purchase=purchase,
            rules=rules,
            windows=windows,
            ledger=ledger,
            engine=engine,
        )
        labels = engine.to_pandas(
            labels_sql(ledger, cutoff, horizon_days, purchase=purchase or PurchaseRule())
        ).set_index(CUSTOMER_ID)
        labels.index = labels.index.astype(str)
        labels = labels.reindex(feats.index)
        snap = feats.copy()
        snap["purchases_next"] = labels["purchases_next"].fillna(0).astype("int64")
        snap["spend_next"] = labels["spend_next"].fillna(0.0).clip(lower=0.0).astype(float)
        snap["lapsed"] = snap["purchases_next"] == 0
        snap.insert(0, "cutoff", pd.Timestamp(cutoff))
        frames.append(snap.reset_index())
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update({"time_unit": time_unit, "horizon_days": int(horizon_days)})
    return out
