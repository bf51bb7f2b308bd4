"""Each customer's own season: the time of year their purchase days concentrate on.

``season_concentration`` (a customer feature, ``docs/features.md``) says *how much* a
customer's purchase days gather in one time of year; :func:`season_calendar` adds *when*:
the circular mean of the purchase days' angles in the year, and from it the next date the
season comes round after a cut-off. The retention plan (:mod:`churnmodel.planning`) times
its reminders with it: a snow-boot buyer is contacted shortly before the winter, not in July.

The angle of a purchase day is ``θ = 2π · (days since 1970-01-01) / 365.2425``, the angle of
``season_concentration``; the mean angle ``φ = atan2(Σ sin θ, Σ cos θ)`` and the mean
resultant length ``R = |Σ exp(iθ)| / n`` (Mardia and Jupp 2000, section 2.3.1). The peak days
are the days whose angle is ``φ``: ``(φ / 2π + k) · 365.2425`` days after 1970-01-01 for
whole ``k`` (no calendar year is involved, so leap years do not shift the season).

The season's half-width follows from ``R`` as for purchases spread evenly over a window that
is a fraction ``f`` of the year, ``R = sin(πf) / (πf)``: ``half_width = f · 365.2425 / 2``
(30 days for ``R = 0.95``, 45 for ``R = 0.90``). It is 0 for one purchase day.

This is not a column of :func:`~churnmodel.features.customer_features` (whose columns the
models read): it is computed on demand from the customer-day ledger, with NumPy, and its
``season_concentration`` equals the feature's (``tests/features/test_season_calendar.py``).

References
----------
Mardia, K. V. and Jupp, P. E. (2000). Directional Statistics. Wiley, section 2.3.1.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from churnmodel.features.customer import build_ledger, to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.features.queries import PurchaseRule
from churnmodel.schemas import CUSTOMER_ID, DATE

__all__ = [
    "SEASON_COLUMNS",
    "YEAR_DAYS",
    "half_width_days",
    "next_season_peak",
    "season_calendar",
]

#: Days of the angle's period (the mean Gregorian year), as in ``season_concentration``.
YEAR_DAYS = 365.2425

#: Columns of :func:`season_calendar`.
SEASON_COLUMNS = (
    "season_phase",
    "season_concentration",
    "season_half_width_days",
    "next_season_peak",
)

_EPOCH = np.datetime64("1970-01-01", "D")


def half_width_days(concentration: np.ndarray | float) -> np.ndarray:
    """Return the half-width (days) of an even season with mean resultant length ``R``.

    Solves ``sin(πf) / (πf) = R`` for the share ``f`` of the year (by bisection; the left
    side falls from 1 to 0 on ``(0, 1]``) and returns ``f · 365.2425 / 2``; ``R >= 1`` gives
    0, ``R <= 0`` half a year, NaN stays NaN.
    """
    r = np.atleast_1d(np.asarray(concentration, dtype=float))
    lo = np.zeros(r.shape)
    hi = np.ones(r.shape)
    for _ in range(60):
        mid = (lo + hi) / 2.0
        above = np.sinc(mid) > r  # np.sinc(f) = sin(πf) / (πf)
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    f = np.where(r >= 1.0, 0.0, np.where(r <= 0.0, 1.0, (lo + hi) / 2.0))
    return np.where(np.isfinite(r), f * YEAR_DAYS / 2.0, np.nan)


def next_season_peak(phase: np.ndarray, after: date) -> np.ndarray:
    """Return the first peak day (``datetime64[D]``) after ``after`` for each phase.

    ``phase`` is the mean angle as a share of the year in ``[0, 1)`` (``season_phase``);
    the peaks are ``(phase + k) · 365.2425`` days after 1970-01-01 (rounded to the day).
    """
    p = np.asarray(phase, dtype=float)
    day = (np.datetime64(after, "D") - _EPOCH).astype(np.int64)
    k = np.floor(day / YEAR_DAYS - p) + 1.0
    peak = np.rint((p + k) * YEAR_DAYS)
    peak = np.where(peak <= day, np.rint((p + k + 1.0) * YEAR_DAYS), peak)
    out = np.full(p.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = np.isfinite(peak)
    out[ok] = _EPOCH + peak[ok].astype(np.int64)
    return out


def season_calendar(
    transactions: TransactionsLike,
    as_of: str | date | datetime | pd.Timestamp,
    *,
    purchase: PurchaseRule | None = None,
) -> pd.DataFrame:
    """Return each customer's own season at ``as_of`` (module docstring).

    Parameters
    ----------
    transactions
        Canonical transactions or a :class:`~churnmodel.io.TransactionTable`; only days on
        or before ``as_of`` are read.
    as_of
        The cut-off day (inclusive).
    purchase
        When a customer-day counts as a purchase (default: net amount above 0), as in the
        customer features.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (customers with a purchase day on or before ``as_of``, sorted);
        ``season_phase`` (the mean angle as a share of the year, in ``[0, 1)``; NaN when the
        angles cancel, ``R = 0``), ``season_concentration`` (``R``, as the feature),
        ``season_half_width_days`` and ``next_season_peak`` (the first peak day after
        ``as_of``, ``datetime64``).
    """
    day = to_date(as_of)
    rule = purchase or PurchaseRule()
    ledger = build_ledger(transactions)
    dates = pd.to_datetime(ledger[DATE]).to_numpy().astype("datetime64[D]")
    net = ledger["net_amount"].to_numpy(dtype=float)
    bought = net > rule.min_net_amount
    if rule.zero_net_is_purchase:
        bought |= net == 0
    keep = bought & (dates <= np.datetime64(day, "D"))
    ids = ledger[CUSTOMER_ID].to_numpy()[keep]
    days = (dates[keep] - _EPOCH).astype(np.int64).astype(float)
    codes, uniques = pd.factorize(ids, sort=True)
    theta = days * (2.0 * np.pi / YEAR_DAYS)
    n = np.bincount(codes, minlength=len(uniques)).astype(float)
    c = np.bincount(codes, weights=np.cos(theta), minlength=len(uniques))
    s = np.bincount(codes, weights=np.sin(theta), minlength=len(uniques))
    resultant = np.hypot(c, s)
    r = np.minimum(resultant / np.maximum(n, 1.0), 1.0)
    phase = np.mod(np.arctan2(s, c) / (2.0 * np.pi), 1.0)
    phase = np.where(resultant > 1e-9 * np.maximum(n, 1.0), phase, np.nan)
    frame = pd.DataFrame(
        {
            "season_phase": phase,
            "season_concentration": r,
            "season_half_width_days": half_width_days(r) if len(r) else np.empty(0),
            "next_season_peak": pd.to_datetime(next_season_peak(phase, day)),
        },
        index=pd.Index(uniques, name=CUSTOMER_ID, dtype="str"),
    )
    frame.attrs["as_of"] = day.isoformat()
    return frame
