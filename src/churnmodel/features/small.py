"""The per-customer feature aggregate in NumPy, for small logs (a scoring request above all).

Same columns as :func:`~churnmodel.features.queries.customer_features_sql`. For a handful of
customers DuckDB's cost is in planning the feature query (about 8 ms for any input, against
under 1 ms here), not in running it. :func:`aggregate_frame` computes the columns with sorted
NumPy arrays; :func:`churnmodel.features.customer.customer_features` and ``rfm_summary`` use it
for DataFrames of at most :data:`SMALL_FRAME_ROWS` rows. The SQL stays the definition:
``tests/features/test_small.py`` checks that both give the same table (sums to 1e-12) on
random logs with returns, same-day purchases, zero-net days and rows after the cut-off.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.features.queries import YEAR_RADIANS_PER_DAY, FeatureWindows, PurchaseRule
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP

__all__ = ["SMALL_FRAME_ROWS", "aggregate_columns", "aggregate_frame", "fits_small_engine"]

#: DataFrames up to this many rows are aggregated in NumPy rather than DuckDB.
SMALL_FRAME_ROWS = 5_000

_EPOCH = np.datetime64("1970-01-01", "D")


def fits_small_engine(transactions: pd.DataFrame) -> bool:
    """Whether :func:`aggregate_frame` takes ``transactions`` (small, with ids as text or ints).

    Ids of other kinds (floats, mixed objects) go to DuckDB, whose text form of them defines
    the customer id.
    """
    if len(transactions) > SMALL_FRAME_ROWS or CUSTOMER_ID not in transactions.columns:
        return False
    ids = transactions[CUSTOMER_ID]
    if pd.api.types.is_integer_dtype(ids.dtype) or pd.api.types.is_string_dtype(ids.dtype):
        return ids.dtype != object or all(isinstance(v, str) for v in ids.to_numpy())
    return False


def _days(timestamps: pd.Series) -> np.ndarray:
    """Calendar day numbers (days since 1970-01-01) of canonical timestamps.

    Time-zone-aware stamps are taken in UTC, as DuckDB reads them into a connection whose
    time zone is UTC (:meth:`~churnmodel.features.engine.DuckDBEngine.for_transactions`).
    """
    ts = timestamps
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    values = ts.to_numpy().astype("datetime64[D]")
    return (values - _EPOCH).astype(np.int64)


def _day(value: date) -> int:
    return int((np.datetime64(value.isoformat(), "D") - _EPOCH).astype(np.int64))


def aggregate_frame(
    transactions: pd.DataFrame,
    as_of: date,
    *,
    purchase: PurchaseRule = PurchaseRule(),
    windows: FeatureWindows = FeatureWindows(),
    rfm_only: bool = False,
) -> tuple[pd.DataFrame, int]:
    """Return what the DuckDB engine's ``_aggregate`` returns, computed in NumPy.

    ``transactions`` are canonical (checked by the caller). Returns the customers with a
    purchase day on or before ``as_of``, sorted by id, in the columns of
    :func:`~churnmodel.features.queries.customer_features_sql`, and the number of customers
    with ledger days but no purchase day.
    """
    columns, no_purchase = aggregate_columns(
        transactions, as_of, purchase=purchase, windows=windows, rfm_only=rfm_only
    )
    return pd.DataFrame(columns), no_purchase


def aggregate_columns(
    transactions: pd.DataFrame,
    as_of: date,
    *,
    purchase: PurchaseRule = PurchaseRule(),
    windows: FeatureWindows = FeatureWindows(),
    rfm_only: bool = False,
) -> tuple[dict[str, Any], int]:
    """Return :func:`aggregate_frame`'s table as its columns (name -> array), not a frame.

    What :func:`~churnmodel.features.finish_customer_features` reads: a scoring request skips
    building a DataFrame only to take its columns apart again.
    """
    ids = transactions[CUSTOMER_ID].astype(str).to_numpy(dtype=object)
    days = _days(transactions[TIMESTAMP])
    amounts = transactions[AMOUNT].to_numpy(dtype=np.float64)
    cut = _day(as_of)
    keep = days <= cut
    if not keep.all():
        ids, days, amounts = ids[keep], days[keep], amounts[keep]
    names, codes = np.unique(ids, return_inverse=True)
    codes = codes.reshape(-1)
    # The ledger: one row per customer-day (sorted by customer, then day), returns netted.
    order = np.lexsort((days, codes))
    codes, days, amounts = codes[order], days[order], amounts[order]
    starts = _run_starts(codes, days)
    l_code, l_day = codes[starts], days[starts]
    net = np.add.reduceat(amounts, starts) if len(starts) else np.zeros(0)
    is_purchase = net > float(purchase.min_net_amount)
    if purchase.zero_net_is_purchase:
        is_purchase |= net == 0
    elif purchase.free_orders_are_purchases:
        # $0 orders: a day netting exactly 0 on which nothing was returned.
        day_returns = np.add.reduceat(np.minimum(amounts, 0.0), starts) if len(starts) else net
        is_purchase |= (net == 0) & (day_returns == 0)
    n_all = len(names)

    p_code, p_day, p_net = l_code[is_purchase], l_day[is_purchase], net[is_purchase]
    n_days = np.bincount(p_code, minlength=n_all)
    buyers = np.flatnonzero(n_days > 0)
    # Purchase days are sorted by customer and day: a customer's first and last are the
    # ends of their run.
    p_first = _run_starts(p_code)
    p_last = np.concatenate((p_first[1:] - 1, [len(p_code) - 1])) if len(p_code) else p_first
    first_day, last_day = p_day[p_first], p_day[p_last]
    first_spend = p_net[p_first]
    n = n_days[buyers]
    total = _sum_by(p_code, p_net, n_all)[buyers]
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(n > 1, (total - first_spend) / np.where(n > 1, n - 1, 1), 0.0)
    out: dict[str, Any] = {
        CUSTOMER_ID: pd.array(names[buyers], dtype="str"),
        "n_purchase_days": n.astype(np.int64),
        "frequency": (n - 1).astype(np.int64),
        "recency_days": (last_day - first_day).astype(np.int64),
        "age_days": (cut - first_day).astype(np.int64),
        "monetary_value": monetary,
    }
    if not rfm_only:

        def count_in(lo: date, hi: date | None = None) -> np.ndarray:
            m = (p_day > _day(lo)) & (p_day <= (cut if hi is None else _day(hi)))
            return np.bincount(p_code[m], minlength=n_all)[buyers].astype(np.int64)

        def spend_in(lo: date, hi: date | None = None) -> np.ndarray:
            m = (p_day > _day(lo)) & (p_day <= (cut if hi is None else _day(hi)))
            return _sum_by(p_code[m], p_net[m], n_all)[buyers]

        a, w = as_of, windows
        out["first_purchase"] = (_EPOCH + first_day).astype("datetime64[ms]")
        out["last_purchase"] = (_EPOCH + last_day).astype("datetime64[ms]")
        out["total_spend"] = total
        out["first_purchase_spend"] = first_spend
        out["gap_std_days"] = _gap_std(p_code, p_day, n_all)[buyers]
        for span in (w.short, w.medium, w.long):
            out[f"purchases_{span}d"] = count_in(a - timedelta(days=span))
        for span in (w.short, w.medium, w.long):
            out[f"spend_{span}d"] = spend_in(a - timedelta(days=span))
        out[f"spend_prev_{w.medium}d"] = spend_in(
            a - timedelta(days=2 * w.medium), a - timedelta(days=w.medium)
        )
        last_year = (a - timedelta(days=365), a - timedelta(days=365 - w.season))
        out["purchases_season_last_year"] = count_in(*last_year)
        out["spend_season_last_year"] = spend_in(*last_year)
        # The two years' windows are disjoint (season <= 365): their counts add up.
        in_seasons = out["purchases_season_last_year"] + count_in(
            a - timedelta(days=730), a - timedelta(days=730 - w.season)
        )
        two_years = count_in(a - timedelta(days=730))
        with np.errstate(divide="ignore", invalid="ignore"):
            out["season_share"] = np.where(
                two_years > 0, in_seasons / np.where(two_years > 0, two_years, 1), 0.0
            )
        out["season_concentration"] = _concentration(p_code, p_day, n_all)[buyers]
        gross = np.add.reduceat(np.clip(amounts, 0, None), starts) if len(starts) else net
        returned = np.add.reduceat(np.clip(-amounts, 0, None), starts) if len(starts) else net
        out["gross_amount"] = _sum_by(l_code, gross, n_all)[buyers]
        out["returned_amount"] = _sum_by(l_code, returned, n_all)[buyers]
    return out, int(n_all - len(buyers))


def _sum_by(codes: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per-code sums of ``weights`` as float64 (0.0 for codes without rows)."""
    return np.bincount(codes, weights=weights, minlength=n).astype(np.float64, copy=False)


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """Positions where a run of equal keys starts in sorted arrays (none for empty arrays)."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(len(keys[0]) - 1, dtype=bool)
    for key in keys:
        change |= key[1:] != key[:-1]
    return np.flatnonzero(np.concatenate(([True], change)))


def _concentration(p_code: np.ndarray, p_day: np.ndarray, n_all: int) -> np.ndarray:
    """Mean resultant length of each customer's purchase days as angles in the year's cycle.

    ``|sum_j exp(i theta_j)| / n`` with ``theta = YEAR_RADIANS_PER_DAY * day``, at most 1
    (NaN for codes without purchase days).
    """
    angle = p_day.astype(np.float64) * YEAR_RADIANS_PER_DAY
    cos = _sum_by(p_code, np.cos(angle), n_all)
    sin = _sum_by(p_code, np.sin(angle), n_all)
    n = np.bincount(p_code, minlength=n_all)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(np.sqrt(cos**2 + sin**2) / n, 1.0)


def _gap_std(p_code: np.ndarray, p_day: np.ndarray, n_all: int) -> np.ndarray:
    """Sample standard deviation of each customer's gaps between purchase days (NaN under 2)."""
    same = p_code[1:] == p_code[:-1]
    gap_code = p_code[1:][same]
    gaps = (p_day[1:] - p_day[:-1])[same].astype(np.float64)
    count = np.bincount(gap_code, minlength=n_all)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = _sum_by(gap_code, gaps, n_all) / count
        squares = _sum_by(gap_code, (gaps - mean[gap_code]) ** 2, n_all)
        std = np.sqrt(squares / (count - 1))
    return np.where(count >= 2, std, np.nan)
