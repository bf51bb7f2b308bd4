"""A transaction-log simulator whose customers' true state is known.

Real logs never say which customers have left. This module draws a log from a generative
model of the kind churn and CLV models assume (Pareto/NBD-like buying and dropout, Gamma-Gamma
spend), adds the behaviours that break naive rules (seasonal buyers, one-time promotion
buyers, customers whose buying fades, a few high-value customers, returns, duplicate export
lines), and keeps every customer's true parameters and dropout moment so that a model's lapse
scores can be checked against the truth.

The generative process, the segments and every knob are described in ``docs/simulator.md``.

Everything is vectorised numpy: loops run over blocks of customers, segments, season or
promotion windows, never over customers or transactions. Customers are simulated in blocks of
:data:`BLOCK_CUSTOMERS`, each block with its own random stream spawned from ``seed``, so that
:func:`simulate_to_parquet` can write a large log block by block and produce the same rows as
:func:`simulate` with the same arguments.

References
----------
Schmittlein, D. C., Morrison, D. G., Colombo, R. (1987). Counting your customers: who are
they and what will they do next? Management Science 33(1), 1-24.

Fader, P. S., Hardie, B. G. S., Lee, K. L. (2005). "Counting your customers" the easy way:
an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.

Fader, P. S., Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnmodel.exceptions import ConfigError
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, ORDER_ID, TIMESTAMP, TRANSACTION_COLUMNS

__all__ = [
    "BLOCK_CUSTOMERS",
    "DEFAULT_HOURLY_WEIGHTS",
    "DEFAULT_PROMOTIONS",
    "DEFAULT_SEASONS",
    "DEFAULT_SEGMENT_SHARES",
    "SEGMENTS",
    "SimulatedLog",
    "SimulatedParquet",
    "simulate",
    "simulate_to_parquet",
]

DateLike = str | date | datetime | pd.Timestamp | np.datetime64

#: Customer segments, in the order their codes are assigned. Segments added later come last,
#: so that a segment with no customers leaves the random draws of the others unchanged.
SEGMENTS: Final = ("regular", "seasonal", "promo", "declining", "high_value")

#: Default share of customers in each segment.
DEFAULT_SEGMENT_SHARES: Final[Mapping[str, float]] = {
    "regular": 0.80,
    "seasonal": 0.10,
    "promo": 0.10,
    "declining": 0.0,
    "high_value": 0.0,
}

#: Default buying seasons of seasonal customers: name -> (first day, last day) as "MM-DD".
DEFAULT_SEASONS: Final[Mapping[str, tuple[str, str]]] = {
    "winter_holidays": ("11-10", "12-31"),
    "summer": ("06-10", "07-31"),
}

#: Default promotion windows, repeated every year: (first day, last day) as "MM-DD".
DEFAULT_PROMOTIONS: Final[tuple[tuple[str, str], ...]] = (
    ("01-02", "01-08"),
    ("07-01", "07-07"),
    ("11-24", "11-30"),
)

#: Relative purchase intensity for each hour of the day (0h ... 23h): quiet nights, a lunch
#: peak and an evening peak.
DEFAULT_HOURLY_WEIGHTS: Final[tuple[float, ...]] = (
    0.4, 0.25, 0.15, 0.1, 0.1, 0.15, 0.4, 1.0, 2.0, 3.0, 4.0, 5.0,
    6.0, 5.5, 5.0, 4.5, 4.5, 5.0, 6.0, 6.5, 6.0, 4.5, 2.5, 1.0,
)  # fmt: skip

#: Customers simulated together with one random stream; also the Parquet row-group unit.
BLOCK_CUSTOMERS: Final = 100_000

_SECONDS_PER_DAY: Final = 86_400
_NS_PER_SECOND: Final = 1_000_000_000
# Ids are "C"/"O"/"R" + digits, 8 or 12 characters: whole 4-byte words, built without Python.
_ORDER_DIGITS: Final = 11
_CUSTOMER_DIGITS: Final = (7, 11)
_SEASONAL_SHAPE: Final = 2.0
# Shape of the Gamma distribution of declining customers' half-lives (coefficient of
# variation 1 / sqrt(4) = 0.5).
_HALF_LIFE_SHAPE: Final = 4.0
_REGULAR, _SEASONAL, _PROMO, _DECLINING, _HIGH_VALUE = 0, 1, 2, 3, 4


# --------------------------------------------------------------------------------------
# Public result types
# --------------------------------------------------------------------------------------


def _alive_at(
    customers: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, cutoff: DateLike
) -> pd.Series:
    """Return the true alive state at the end of ``cutoff`` (see ``SimulatedLog.alive_at``)."""
    day = _to_day("cutoff", cutoff)
    if not start <= day <= end:
        raise ConfigError(
            f"'cutoff' must be within the simulated window {start.date()} .. {end.date()}, "
            f"got {day.date()}"
        )
    first = customers["first_purchase"]
    death = customers["death"]
    boundary = day + pd.Timedelta(days=1)
    tz = getattr(first.dtype, "tz", None)
    if tz is not None:
        boundary = _localize_scalar(boundary, str(tz))
    known = first < boundary
    alive = death.isna() | (death >= boundary)
    result = alive[known].astype(bool)
    result.name = "alive"
    return result


@dataclass(frozen=True, eq=False)
class SimulatedLog:
    """A simulated transaction log and the ground truth behind it.

    Attributes
    ----------
    transactions
        Canonical transactions sorted by ``timestamp`` then ``customer_id``: ``customer_id``
        (str, e.g. ``"C0000042"``), ``timestamp`` (datetime64[ns], naive unless a
        ``timezone`` was given, with a time of day), ``amount`` (float, negative for a return)
        and ``order_id`` (str: ``"O..."`` for purchases, ``"R..."`` for returns; unique
        except for opted-in duplicate rows).
    customers
        One row per customer, index ``customer_id``: ``segment`` ("regular", "seasonal",
        "promo", "declining", "high_value"), ``season`` (a seasonal customer's season name,
        else missing), ``first_purchase``, ``death`` (the moment the customer becomes
        inactive; NaT if that is after the window), ``purchase_rate`` (purchases per day while
        active: the Poisson rate of a regular or high-value customer, the in-season rate of a
        seasonal one, the initial rate of a declining one, 0 for a promotion buyer),
        ``dropout_rate`` (per day; NaN for promotion buyers, who drop out right after their
        purchase), ``mean_spend`` (expected amount per purchase), ``n_purchases`` (purchase
        rows in the log, opted-in duplicates not counted) and ``purchase_rate_half_life``
        (days for a declining customer's rate to halve; NaN for the other segments).
    start, end
        First and last day of the simulated window (inclusive).
    seed
        The seed the log was drawn with.
    params
        Every knob's value, for the record.
    cutoff
        The cut-off date passed to :func:`simulate`, if any.
    alive
        ``alive_at(cutoff)`` when a cut-off was passed, else None.
    """

    transactions: pd.DataFrame = field(repr=False)
    customers: pd.DataFrame = field(repr=False)
    start: pd.Timestamp
    end: pd.Timestamp
    seed: int
    params: dict[str, Any] = field(repr=False)
    cutoff: pd.Timestamp | None = None
    alive: pd.Series | None = field(default=None, repr=False)

    def alive_at(self, cutoff: DateLike) -> pd.Series:
        """Return every known customer's true alive state at the end of day ``cutoff``.

        The cut-off day's own transactions belong to the past: a customer is alive at
        ``cutoff`` when their first purchase is on or before that day and they have not
        dropped out by the end of it. A customer alive at the cut-off may or may not buy
        again within the window; a customer who is not alive never buys again.

        Parameters
        ----------
        cutoff
            A day within the simulated window (a time of day is ignored).

        Returns
        -------
        pandas.Series
            Boolean, named ``alive``, indexed by ``customer_id``; customers whose first
            purchase is after ``cutoff`` are left out.

        Raises
        ------
        ConfigError
            If ``cutoff`` is not a date within ``start`` .. ``end``.
        """
        return _alive_at(self.customers, self.start, self.end, cutoff)


@dataclass(frozen=True, eq=False)
class SimulatedParquet:
    """Where :func:`simulate_to_parquet` wrote a log, and the ground truth behind it.

    Attributes
    ----------
    path
        The Parquet file written.
    rows
        Rows written.
    customers, start, end, seed, params, cutoff, alive
        As in :class:`SimulatedLog`.
    """

    path: Path
    rows: int
    customers: pd.DataFrame = field(repr=False)
    start: pd.Timestamp
    end: pd.Timestamp
    seed: int
    params: dict[str, Any] = field(repr=False)
    cutoff: pd.Timestamp | None = None
    alive: pd.Series | None = field(default=None, repr=False)

    def alive_at(self, cutoff: DateLike) -> pd.Series:
        """Return every known customer's true alive state at the end of day ``cutoff``.

        See :meth:`SimulatedLog.alive_at`.
        """
        return _alive_at(self.customers, self.start, self.end, cutoff)


# --------------------------------------------------------------------------------------
# Validated settings
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """Validated knobs, with dates turned into days since ``start``."""

    origin: pd.Timestamp
    end: pd.Timestamp
    n_days: int
    shares: tuple[float, ...]
    purchase_rate_mean: float
    purchase_rate_shape: float
    dropout_rate_mean: float
    dropout_rate_shape: float
    season_names: tuple[str, ...]
    season_intervals: tuple[tuple[np.ndarray, np.ndarray], ...]
    season_lengths: tuple[float, ...]
    seasonal_purchases_per_season: float
    seasonal_dropout_rate_mean: float
    seasonal_off_season_rate: float
    promo_intervals: tuple[np.ndarray, np.ndarray]
    declining_half_life_days: float
    high_value_rate_multiplier: float
    high_value_spend_multiplier: float
    spend_mean: float
    spend_p: float
    spend_q: float
    return_rate: float
    return_window_days: float
    same_day_return_share: float
    full_refund_share: float
    duplicate_rate: float
    hour_cdf: np.ndarray
    timezone: str | None
    customer_digits: int


def _to_day(name: str, value: object) -> pd.Timestamp:
    if isinstance(value, bool) or not isinstance(
        value, str | date | datetime | pd.Timestamp | np.datetime64
    ):
        raise ConfigError(f"{name!r} must be a date or an ISO date string, got {value!r}")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{name!r} must be a date or an ISO date string, got {value!r}") from None
    if ts is pd.NaT:
        raise ConfigError(f"{name!r} must be a date, got {value!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    try:
        ts.as_unit("ns")  # timestamps are nanoseconds: 1677-09-22 .. 2262-04-11
    except (OverflowError, ValueError):
        raise ConfigError(
            f"{name!r} must be a date between {pd.Timestamp.min.date() + pd.Timedelta(days=1)} "
            f"and {pd.Timestamp.max.date()}, got {value!r}"
        ) from None
    return ts.normalize()


def _localize_scalar(ts: pd.Timestamp, tz: str) -> pd.Timestamp:
    out = pd.DatetimeIndex([ts]).tz_localize(
        tz, ambiguous=np.ones(1, dtype=bool), nonexistent="shift_forward"
    )
    return pd.Timestamp(out[0])


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name!r} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{name!r} must be finite, got {value!r}")
    return number


def _positive(name: str, value: object) -> float:
    number = _real(name, value)
    if number <= 0:
        raise ConfigError(f"{name!r} must be > 0, got {value!r}")
    return number


def _non_negative(name: str, value: object) -> float:
    number = _real(name, value)
    if number < 0:
        raise ConfigError(f"{name!r} must be >= 0, got {value!r}")
    return number


def _at_least_one_day(value: object) -> float:
    number = _real("return_window_days", value)
    if number < 1:
        raise ConfigError(f"'return_window_days' must be >= 1, got {value!r}")
    return number


def _share(name: str, value: object, *, below_one: bool = False) -> float:
    number = _real(name, value)
    if number < 0 or number > 1 or (below_one and number == 1):
        bound = "< 1" if below_one else "<= 1"
        raise ConfigError(f"{name!r} must be >= 0 and {bound}, got {value!r}")
    return number


def _month_day(name: str, value: object) -> tuple[int, int]:
    if isinstance(value, str):
        try:
            parsed = datetime.strptime(f"2001-{value}", "%Y-%m-%d")
        except ValueError:
            pass
        else:
            return parsed.month, parsed.day
    raise ConfigError(f"{name!r} days must be 'MM-DD' strings of a non-leap year, got {value!r}")


def _yearly_intervals(
    name: str, window: object, origin: pd.Timestamp, n_days: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the starts and ends (days since origin) of a yearly window, and its length."""
    if not (isinstance(window, Sequence) and not isinstance(window, str) and len(window) == 2):
        raise ConfigError(f"{name!r} windows must be ('MM-DD', 'MM-DD') pairs, got {window!r}")
    first = _month_day(name, window[0])
    last = _month_day(name, window[1])
    if last < first:
        raise ConfigError(
            f"{name!r} window {tuple(window)!r} must not wrap around the new year; "
            "split it into two windows"
        )
    length = float((date(2001, *last) - date(2001, *first)).days + 1)
    end = origin + pd.Timedelta(days=n_days)
    starts: list[float] = []
    ends: list[float] = []
    for year in range(origin.year, end.year + 1):
        lo = (pd.Timestamp(year, *first) - origin).days
        hi = (pd.Timestamp(year, *last) - origin).days + 1
        lo, hi = max(lo, 0), min(hi, n_days)
        if hi > lo:
            starts.append(float(lo))
            ends.append(float(hi))
    return np.array(starts), np.array(ends), length


def _make_spec(
    *,
    n_customers: int,
    seed: int,
    start: DateLike,
    end: DateLike,
    cutoff: DateLike | None,
    segment_shares: Mapping[str, float] | None,
    purchase_rate_mean: float,
    purchase_rate_shape: float,
    dropout_rate_mean: float,
    dropout_rate_shape: float,
    seasons: Mapping[str, tuple[str, str]] | None,
    seasonal_purchases_per_season: float,
    seasonal_dropout_rate_mean: float,
    seasonal_off_season_rate: float,
    promotions: Sequence[tuple[str, str]] | None,
    declining_half_life_days: float,
    high_value_rate_multiplier: float,
    high_value_spend_multiplier: float,
    spend_mean: float,
    spend_p: float,
    spend_q: float,
    return_rate: float,
    return_window_days: float,
    same_day_return_share: float,
    full_refund_share: float,
    duplicate_rate: float,
    hourly_weights: Sequence[float] | None,
    timezone: str | None,
) -> tuple[_Spec, pd.Timestamp | None]:
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise ConfigError(f"'n_customers' must be an integer, got {n_customers!r}")
    if n_customers <= 0:
        raise ConfigError(f"'n_customers' must be > 0, got {n_customers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"'seed' must be an integer >= 0, got {seed!r}")

    origin = _to_day("start", start)
    last = _to_day("end", end)
    if last < origin:
        raise ConfigError(f"'end' must be on or after 'start' ({origin.date()}), got {last.date()}")
    n_days = (last - origin).days + 1
    cut = None if cutoff is None else _to_day("cutoff", cutoff)
    if cut is not None and not origin <= cut <= last:
        raise ConfigError(
            f"'cutoff' must be within {origin.date()} .. {last.date()}, got {cut.date()}"
        )

    shares_in = dict(DEFAULT_SEGMENT_SHARES if segment_shares is None else segment_shares)
    unknown = sorted(set(shares_in) - set(SEGMENTS))
    if unknown:
        raise ConfigError(
            f"'segment_shares' keys must be among {SEGMENTS}, got unknown {unknown!r}"
        )
    shares = tuple(_share(f"segment_shares[{s!r}]", shares_in.get(s, 0.0)) for s in SEGMENTS)
    if abs(sum(shares) - 1.0) > 1e-9:
        raise ConfigError(f"'segment_shares' must sum to 1, got {sum(shares)!r} ({shares_in!r})")

    seasons_in = dict(DEFAULT_SEASONS if seasons is None else seasons)
    season_intervals = []
    season_lengths = []
    for window in seasons_in.values():
        starts, ends, length = _yearly_intervals("seasons", window, origin, n_days)
        season_intervals.append((starts, ends))
        season_lengths.append(length)
    if shares[_SEASONAL] > 0:
        if not seasons_in:
            raise ConfigError("'seasons' must name at least one season when seasonal share > 0")
        empty = [n for n, (s, _) in zip(seasons_in, season_intervals, strict=True) if not s.size]
        if empty:
            raise ConfigError(
                f"'seasons' {empty!r} never occur between {origin.date()} and {last.date()}; "
                "widen the window or set segment_shares['seasonal'] = 0"
            )

    promo_starts_list: list[np.ndarray] = []
    promo_ends_list: list[np.ndarray] = []
    for window in DEFAULT_PROMOTIONS if promotions is None else promotions:
        starts, ends, _ = _yearly_intervals("promotions", window, origin, n_days)
        promo_starts_list.append(starts)
        promo_ends_list.append(ends)
    promo_starts = np.concatenate(promo_starts_list) if promo_starts_list else np.empty(0)
    promo_ends = np.concatenate(promo_ends_list) if promo_ends_list else np.empty(0)
    if shares[_PROMO] > 0 and not promo_starts.size:
        raise ConfigError(
            f"'promotions' {promotions!r} never occur between {origin.date()} and "
            f"{last.date()}; widen the window or set segment_shares['promo'] = 0"
        )

    weights = np.asarray(
        DEFAULT_HOURLY_WEIGHTS if hourly_weights is None else hourly_weights, dtype=float
    )
    if weights.shape != (24,) or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ConfigError(f"'hourly_weights' must be 24 finite numbers > 0, got {hourly_weights!r}")
    hour_cdf = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    hour_cdf[-1] = 1.0

    if timezone is not None:
        try:
            pd.Timestamp("2000-01-01").tz_localize(timezone)
        except Exception:
            raise ConfigError(
                f"'timezone' must be an IANA time zone name, got {timezone!r}"
            ) from None

    spend_q_value = _positive("spend_q", spend_q)
    if spend_q_value <= 1:
        raise ConfigError(f"'spend_q' must be > 1 for a finite mean spend, got {spend_q!r}")

    spec = _Spec(
        origin=origin,
        end=last,
        n_days=n_days,
        shares=shares,
        purchase_rate_mean=_positive("purchase_rate_mean", purchase_rate_mean),
        purchase_rate_shape=_positive("purchase_rate_shape", purchase_rate_shape),
        dropout_rate_mean=_non_negative("dropout_rate_mean", dropout_rate_mean),
        dropout_rate_shape=_positive("dropout_rate_shape", dropout_rate_shape),
        season_names=tuple(str(n) for n in seasons_in),
        season_intervals=tuple(season_intervals),
        season_lengths=tuple(season_lengths),
        seasonal_purchases_per_season=_positive(
            "seasonal_purchases_per_season", seasonal_purchases_per_season
        ),
        seasonal_dropout_rate_mean=_non_negative(
            "seasonal_dropout_rate_mean", seasonal_dropout_rate_mean
        ),
        seasonal_off_season_rate=_non_negative(
            "seasonal_off_season_rate", seasonal_off_season_rate
        ),
        promo_intervals=(promo_starts, promo_ends),
        declining_half_life_days=_positive("declining_half_life_days", declining_half_life_days),
        high_value_rate_multiplier=_positive(
            "high_value_rate_multiplier", high_value_rate_multiplier
        ),
        high_value_spend_multiplier=_positive(
            "high_value_spend_multiplier", high_value_spend_multiplier
        ),
        spend_mean=_positive("spend_mean", spend_mean),
        spend_p=_positive("spend_p", spend_p),
        spend_q=spend_q_value,
        return_rate=_share("return_rate", return_rate, below_one=True),
        return_window_days=_at_least_one_day(return_window_days),
        same_day_return_share=_share("same_day_return_share", same_day_return_share),
        full_refund_share=_share("full_refund_share", full_refund_share),
        duplicate_rate=_share("duplicate_rate", duplicate_rate, below_one=True),
        hour_cdf=hour_cdf,
        timezone=timezone,
        customer_digits=_CUSTOMER_DIGITS[0] if n_customers <= 10**7 else _CUSTOMER_DIGITS[1],
    )
    return spec, cut


# --------------------------------------------------------------------------------------
# One block of customers
# --------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Customers ``offset .. offset + n - 1`` and their rows, sorted by (second, customer)."""

    offset: int
    segment: np.ndarray  # int8 codes into SEGMENTS
    season: np.ndarray  # int16 index into season_names, -1 if none
    first_second: np.ndarray  # int64 seconds since origin
    death_second: np.ndarray  # int64 seconds since origin; -1 for "after the window"
    purchase_rate: np.ndarray
    dropout_rate: np.ndarray
    mean_spend: np.ndarray
    n_purchases: np.ndarray
    half_life: np.ndarray  # days; NaN outside the declining segment
    n_returns: int  # distinct return orders (duplicates not counted)
    row_customer: np.ndarray  # int64 global customer number
    row_second: np.ndarray  # int64
    row_amount: np.ndarray  # float64
    row_order: np.ndarray  # int64 order number; returns are numbered separately
    row_is_return: np.ndarray  # bool


def _segment_codes(shares: tuple[float, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """Exact segment counts by largest remainder, in random order."""
    raw = np.array(shares) * n
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    if short:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    codes = np.repeat(np.arange(len(shares), dtype=np.int8), counts)
    return rng.permutation(codes)


def _uniform_in_intervals(
    starts: np.ndarray, ends: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``size`` points uniformly over the union of disjoint-or-not intervals."""
    lengths = ends - starts
    cum = np.cumsum(lengths)
    u = rng.random(size) * cum[-1]
    j = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    t = starts[j] + (u - (cum[j] - lengths[j]))
    return np.clip(t, starts[j], np.nextafter(ends[j], -np.inf))


def _gamma(mean: float, shape: float, size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.gamma(shape, mean / shape, size)


def _lifetimes(rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exponential lifetimes with per-customer rates (rate 0 -> never drops out)."""
    e = rng.standard_exponential(rate.size)
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, e / np.where(rate > 0, rate, 1.0), np.inf)


def _poisson_times(
    who: np.ndarray, lo: np.ndarray, hi: np.ndarray, rate: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(rate) purchase times on [lo, hi) for each customer in ``who``."""
    length = np.maximum(hi - lo, 0.0)
    counts = rng.poisson(rate * length)
    total = int(counts.sum())
    owner = np.repeat(who, counts)
    times = np.repeat(lo, counts) + rng.random(total) * np.repeat(length, counts)
    return owner, times


def _decaying_poisson_times(
    who: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    rate: np.ndarray,
    tau: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times on [lo, hi) of a Poisson process at rate ``rate * exp(-(t - lo) / tau)``.

    Exact, by the order-statistics property of a Poisson process: the number of events is
    Poisson with mean the integrated intensity ``rate * tau * (1 - exp(-S / tau))`` over the
    length ``S = hi - lo``, and given that number the times are independent with density
    proportional to the intensity, drawn by inverting its distribution function
    ``(1 - exp(-s / tau)) / (1 - exp(-S / tau))``.
    """
    length = np.maximum(hi - lo, 0.0)
    mass = -np.expm1(-length / tau)  # share of the total intensity inside [lo, hi)
    counts = rng.poisson(rate * tau * mass)
    total = int(counts.sum())
    owner = np.repeat(who, counts)
    u = rng.random(total)
    offset = -np.repeat(tau, counts) * np.log1p(-u * np.repeat(mass, counts))
    # Rounding can land exactly on hi; keep the interval half-open.
    stop = np.repeat(hi, counts)
    times = np.minimum(np.repeat(lo, counts) + offset, np.nextafter(stop, -np.inf))
    return owner, times


def _warp_time_of_day(t: np.ndarray, hour_cdf: np.ndarray) -> np.ndarray:
    """Move each time within its own day so that times of day follow the hourly profile.

    The map is increasing and keeps every time on its day, so it keeps the order of all
    events (purchases, returns, first purchase, dropout) and the number of purchases per day.
    """
    day = np.floor(t)
    grid = np.linspace(0.0, 1.0, hour_cdf.size)
    return day + np.interp(t - day, hour_cdf, grid)


def _seconds(t: np.ndarray, *, up: bool = False) -> np.ndarray:
    s = t * _SECONDS_PER_DAY
    return (np.ceil(s) if up else np.floor(s)).astype(np.int64)


def _simulate_block(
    spec: _Spec,
    n: int,
    offset: int,
    first_order: int,
    first_return: int,
    rng: np.random.Generator,
) -> _Block:
    T = float(spec.n_days)
    segment = _segment_codes(spec.shares, n, rng)
    season = np.full(n, -1, dtype=np.int16)
    t0 = np.empty(n)
    death = np.full(n, np.inf)
    purchase_rate = np.zeros(n)
    dropout_rate = np.full(n, np.nan)
    half_life = np.full(n, np.nan)

    owners: list[np.ndarray] = []
    times: list[np.ndarray] = []

    # Regular customers: Pareto/NBD-like. Acquired uniformly over the window, then a Poisson
    # process at a gamma-distributed rate until an exponential dropout at a gamma rate.
    who = np.flatnonzero(segment == _REGULAR)
    if who.size:
        start = rng.uniform(0.0, T, who.size)
        lam = _gamma(spec.purchase_rate_mean, spec.purchase_rate_shape, who.size, rng)
        mu = _gamma(spec.dropout_rate_mean, spec.dropout_rate_shape, who.size, rng)
        t0[who] = start
        death[who] = start + _lifetimes(mu, rng)
        purchase_rate[who] = lam
        dropout_rate[who] = mu
        owners.append(who)
        times.append(start)
        o, t = _poisson_times(who, start, np.minimum(death[who], T), lam, rng)
        owners.append(o)
        times.append(t)

    # Seasonal customers: buy (almost) only inside their season, every year while alive.
    who_seasonal = np.flatnonzero(segment == _SEASONAL)
    if who_seasonal.size:
        choice = rng.integers(0, len(spec.season_names), who_seasonal.size)
        for k, ((starts, ends), length) in enumerate(
            zip(spec.season_intervals, spec.season_lengths, strict=True)
        ):
            who = who_seasonal[choice == k]
            if not who.size:
                continue
            start = _uniform_in_intervals(starts, ends, who.size, rng)
            per_season = _gamma(spec.seasonal_purchases_per_season, _SEASONAL_SHAPE, who.size, rng)
            lam = per_season / length
            mu = _gamma(spec.seasonal_dropout_rate_mean, spec.dropout_rate_shape, who.size, rng)
            stop = start + _lifetimes(mu, rng)
            season[who] = k
            t0[who] = start
            death[who] = stop
            purchase_rate[who] = lam
            dropout_rate[who] = mu
            owners.append(who)
            times.append(start)
            active_end = np.minimum(stop, T)
            for lo, hi in zip(starts, ends, strict=True):
                o, t = _poisson_times(
                    who, np.maximum(start, lo), np.minimum(active_end, hi), lam, rng
                )
                owners.append(o)
                times.append(t)
            if spec.seasonal_off_season_rate > 0:
                o, t = _poisson_times(
                    who, start, active_end, np.full(who.size, spec.seasonal_off_season_rate), rng
                )
                owners.append(o)
                times.append(t)

    # Promotion buyers: one purchase inside a promotion window, then gone.
    who = np.flatnonzero(segment == _PROMO)
    if who.size:
        start = _uniform_in_intervals(*spec.promo_intervals, who.size, rng)
        t0[who] = start
        death[who] = start
        owners.append(who)
        times.append(start)

    # Segments added after the first three come here, in code order, and draw nothing when
    # they have no customers: the draws of the other segments stay exactly as before.

    # Declining customers: like regular ones, but the purchase rate decays exponentially
    # with the time since the first purchase, with a gamma-distributed half-life.
    who = np.flatnonzero(segment == _DECLINING)
    if who.size:
        start = rng.uniform(0.0, T, who.size)
        lam = _gamma(spec.purchase_rate_mean, spec.purchase_rate_shape, who.size, rng)
        mu = _gamma(spec.dropout_rate_mean, spec.dropout_rate_shape, who.size, rng)
        h = _gamma(spec.declining_half_life_days, _HALF_LIFE_SHAPE, who.size, rng)
        t0[who] = start
        death[who] = start + _lifetimes(mu, rng)
        purchase_rate[who] = lam
        dropout_rate[who] = mu
        half_life[who] = h
        owners.append(who)
        times.append(start)
        o, t = _decaying_poisson_times(
            who, start, np.minimum(death[who], T), lam, h / math.log(2.0), rng
        )
        owners.append(o)
        times.append(t)

    # High-value customers: regular buying at a multiple of the rate (their spend is
    # multiplied below).
    who = np.flatnonzero(segment == _HIGH_VALUE)
    if who.size:
        start = rng.uniform(0.0, T, who.size)
        lam = spec.high_value_rate_multiplier * _gamma(
            spec.purchase_rate_mean, spec.purchase_rate_shape, who.size, rng
        )
        mu = _gamma(spec.dropout_rate_mean, spec.dropout_rate_shape, who.size, rng)
        t0[who] = start
        death[who] = start + _lifetimes(mu, rng)
        purchase_rate[who] = lam
        dropout_rate[who] = mu
        owners.append(who)
        times.append(start)
        o, t = _poisson_times(who, start, np.minimum(death[who], T), lam, rng)
        owners.append(o)
        times.append(t)

    owner = np.concatenate(owners)
    t = _warp_time_of_day(np.concatenate(times), spec.hour_cdf)
    second = _seconds(t)

    # Spend: Gamma-Gamma. Each customer has a mean spend p / nu with nu ~ Gamma(q, rate gamma);
    # each purchase is Gamma(p, rate nu), rounded to cents. High-value customers' nu is divided
    # by the spend multiplier, which multiplies their mean spend and every purchase's scale.
    gamma_rate = spec.spend_mean * (spec.spend_q - 1.0) / spec.spend_p
    nu = rng.gamma(spec.spend_q, 1.0 / gamma_rate, n)
    high_value = segment == _HIGH_VALUE
    if high_value.any():
        nu[high_value] /= spec.high_value_spend_multiplier
    mean_spend = spec.spend_p / nu
    amount = np.maximum(np.round(rng.gamma(spec.spend_p, 1.0 / nu[owner]), 2), 0.01)

    # Returns: a share of purchases is followed within the return window by a full or
    # partial refund; some on the same day (a same-day full refund nets the day to 0).
    returned = np.flatnonzero(rng.random(owner.size) < spec.return_rate)
    same_day = rng.random(returned.size) < spec.same_day_return_share
    raw_t = np.concatenate(times)[returned]
    next_midnight = np.floor(raw_t) + 1.0
    delay_same = rng.random(returned.size) * (next_midnight - raw_t)
    delay_later = 1.0 + rng.random(returned.size) * (spec.return_window_days - 1.0)
    return_t = raw_t + np.where(same_day, delay_same, delay_later)
    full = rng.random(returned.size) < spec.full_refund_share
    partial = np.maximum(np.round(amount[returned] * rng.uniform(0.2, 0.8, returned.size), 2), 0.01)
    return_amount = -np.where(full, amount[returned], partial)
    keep = return_t < T
    return_owner = owner[returned][keep]
    return_second = np.maximum(
        _seconds(_warp_time_of_day(return_t[keep], spec.hour_cdf)), second[returned][keep]
    )
    return_amount = return_amount[keep]

    # Ground-truth times in seconds. First purchase = the first row; dropout rounded up so
    # that every purchase is strictly before it; promotion buyers drop out one second after
    # their purchase.
    first_second = _seconds(_warp_time_of_day(t0, spec.hour_cdf))
    finite = np.isfinite(death)
    death_second = np.full(n, -1, dtype=np.int64)
    death_second[finite] = _seconds(_warp_time_of_day(death[finite], spec.hour_cdf), up=True)
    promo = segment == _PROMO
    death_second[promo] = first_second[promo] + 1
    window_seconds = spec.n_days * _SECONDS_PER_DAY
    death_second[death_second > window_seconds] = -1

    n_purchases = np.bincount(owner, minlength=n)

    # Rows of the block, sorted by (second, customer), purchases before returns on ties.
    all_owner = np.concatenate([owner, return_owner])
    all_second = np.concatenate([second, return_second])
    all_amount = np.concatenate([amount, return_amount])
    is_return = np.zeros(all_owner.size, dtype=bool)
    is_return[owner.size :] = True
    order = np.lexsort((is_return, all_owner, all_second))
    all_owner = all_owner[order]
    all_second = all_second[order]
    all_amount = all_amount[order]
    is_return = is_return[order]
    number = np.empty(order.size, dtype=np.int64)
    n_ret = int(is_return.sum())
    number[~is_return] = first_order + np.arange(order.size - n_ret)
    number[is_return] = first_return + np.arange(n_ret)

    if spec.duplicate_rate > 0:
        copies = 1 + (rng.random(order.size) < spec.duplicate_rate).astype(np.int64)
        all_owner = np.repeat(all_owner, copies)
        all_second = np.repeat(all_second, copies)
        all_amount = np.repeat(all_amount, copies)
        is_return = np.repeat(is_return, copies)
        number = np.repeat(number, copies)

    return _Block(
        offset=offset,
        segment=segment,
        season=season,
        first_second=first_second,
        death_second=death_second,
        purchase_rate=purchase_rate,
        dropout_rate=dropout_rate,
        mean_spend=mean_spend,
        n_purchases=n_purchases,
        half_life=half_life,
        n_returns=n_ret,
        row_customer=all_owner.astype(np.int64) + offset,
        row_second=all_second,
        row_amount=all_amount,
        row_order=number,
        row_is_return=is_return,
    )


def _blocks(spec: _Spec, n_customers: int, seed: int) -> Iterator[_Block]:
    """Simulate customers in blocks, each with its own stream spawned from ``seed``."""
    n_blocks = -(-n_customers // BLOCK_CUSTOMERS)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    next_order = 1
    next_return = 1
    for b, child in enumerate(children):
        offset = b * BLOCK_CUSTOMERS
        n = min(BLOCK_CUSTOMERS, n_customers - offset)
        block = _simulate_block(
            spec, n, offset, next_order, next_return, np.random.default_rng(child)
        )
        next_order += int(block.n_purchases.sum())
        next_return += block.n_returns
        yield block


# --------------------------------------------------------------------------------------
# Turning numbers into columns
# --------------------------------------------------------------------------------------


def _word_table(prefixes: str) -> np.ndarray:
    """Return four-character words as uint32, indexable by number.

    ``p + "000"`` .. ``p + "999"`` for each prefix ``p`` in turn, or ``"0000"`` .. ``"9999"``
    when ``prefixes`` is empty.
    """
    if prefixes:
        text = "".join(f"{p}{i:03d}" for p in prefixes for i in range(1_000))
    else:
        text = "".join(f"{i:04d}" for i in range(10_000))
    return np.frombuffer(text.encode("ascii"), dtype=np.uint32).copy()


_DIGIT_WORDS: Final = _word_table("")
_CUSTOMER_WORDS: Final = _word_table("C")
_ORDER_WORDS: Final = _word_table("OR")  # purchases "O...", returns "R..."


def _id_words(
    table: np.ndarray, head: np.ndarray | int, numbers: np.ndarray, digits: int
) -> np.ndarray:
    """Return a (n, words) uint32 array spelling ``prefix + zero-padded number`` per row.

    The first word is prefix + 3 digits, looked up in ``table`` (a :func:`_word_table` of
    prefixes) at ``head`` (the prefix's number * 1000, per row or for all) plus the leading
    3 digits; every further word is 4 digits. ``digits`` must therefore be 3 mod 4.
    """
    n_words = (digits + 1) // 4
    words = np.empty((numbers.size, n_words), dtype=np.uint32)
    x = numbers.astype(np.int64, copy=True)
    for w in range(n_words - 1, 0, -1):
        x, rest = np.divmod(x, 10_000)
        words[:, w] = _DIGIT_WORDS[rest]
    if x.size and int(x.max()) >= 1_000:
        raise ConfigError(f"ids need more than {digits} digits; this is a churnmodel bug")
    words[:, 0] = table[head + x]
    return words


def _string_array(words: np.ndarray) -> pa.Array:
    """Arrow string array from fixed-width ASCII rows (a C-contiguous 2-D uint32 array)."""
    n = words.shape[0]
    width = words.shape[1] * 4
    total = n * width
    kind, offset_type = (
        (pa.string(), np.int32) if total < 2**31 - 1 else (pa.large_string(), np.int64)
    )
    offsets = np.arange(0, total + 1, width, dtype=offset_type)
    data = np.ascontiguousarray(words)
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _customer_words(count: int, first: int, digits: int) -> np.ndarray:
    """Words of ``"C" + zero-padded number`` for customers ``first .. first + count - 1``."""
    numbers = np.arange(first, first + count, dtype=np.int64)
    return _id_words(_CUSTOMER_WORDS, 0, numbers, digits)


def _timestamps(spec: _Spec, seconds: np.ndarray) -> pa.Array:
    origin_ns = spec.origin.as_unit("ns").value
    ns = origin_ns + seconds * _NS_PER_SECOND
    arr = pa.array(ns, type=pa.timestamp("ns"))
    return arr


def _rows_table(
    spec: _Spec,
    customer: np.ndarray,
    second: np.ndarray,
    amount: np.ndarray,
    order: np.ndarray,
    is_return: np.ndarray,
) -> pa.Table:
    """Canonical transaction columns as an Arrow table (naive timestamps)."""
    first = int(customer.min()) if customer.size else 0
    last = int(customer.max()) + 1 if customer.size else 0
    ids = _string_array(
        _customer_words(last - first, first, spec.customer_digits)[customer - first]
    )
    order_head = is_return.astype(np.int64) * 1_000
    order_ids = _string_array(_id_words(_ORDER_WORDS, order_head, order, _ORDER_DIGITS))
    return pa.table(
        {
            CUSTOMER_ID: ids,
            TIMESTAMP: _timestamps(spec, second),
            AMOUNT: pa.array(amount, type=pa.float64()),
            ORDER_ID: order_ids,
        }
    )


def _localize(series: pd.Series, tz: str) -> pd.Series:
    """Localize naive local times to ``tz``: gaps shift forward, repeated hours take DST."""
    values = series.to_numpy()
    ambiguous = np.ones(values.size, dtype=bool)
    index = pd.DatetimeIndex(values).tz_localize(
        tz, ambiguous=ambiguous, nonexistent="shift_forward"
    )
    return pd.Series(index, index=series.index, name=series.name)


def _transactions_frame(spec: _Spec, table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    frame = frame[list(TRANSACTION_COLUMNS)]
    if spec.timezone is not None:
        frame[TIMESTAMP] = _localize(frame[TIMESTAMP], spec.timezone)
    return frame


def _customers_frame(spec: _Spec, blocks: Sequence[_Block]) -> pd.DataFrame:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in blocks])

    n = sum(b.segment.size for b in blocks)
    ids = _string_array(_customer_words(n, 0, spec.customer_digits)).to_pandas()
    origin_ns = spec.origin.as_unit("ns").value
    first_ns = origin_ns + cat("first_second") * _NS_PER_SECOND
    death_s = cat("death_second")
    death_ns = np.where(death_s >= 0, origin_ns + death_s * _NS_PER_SECOND, np.iinfo(np.int64).min)
    season_code = cat("season")
    season_names = np.array([*spec.season_names, ""], dtype=object)
    season = pd.Series(season_names[season_code], dtype="str").where(season_code >= 0)
    frame = pd.DataFrame(
        {
            "segment": pd.Series(np.array(SEGMENTS, dtype=object)[cat("segment")], dtype="str"),
            "season": season,
            "first_purchase": first_ns.view("datetime64[ns]"),
            "death": death_ns.view("datetime64[ns]"),
            "purchase_rate": cat("purchase_rate"),
            "dropout_rate": cat("dropout_rate"),
            "mean_spend": cat("mean_spend"),
            "n_purchases": cat("n_purchases").astype(np.int64),
            "purchase_rate_half_life": cat("half_life"),
        }
    )
    frame.index = pd.Index(ids, name=CUSTOMER_ID)
    if spec.timezone is not None:
        frame["first_purchase"] = _localize(frame["first_purchase"], spec.timezone)
        frame["death"] = _localize(frame["death"], spec.timezone)
    return frame


def _params(spec: _Spec, kw: dict[str, Any]) -> dict[str, Any]:
    out = dict(kw)
    out["segment_shares"] = dict(zip(SEGMENTS, spec.shares, strict=True))
    return out


def _sort_order(second: np.ndarray, customer: np.ndarray, n_customers: int) -> np.ndarray:
    """Stable order of rows by (second, customer).

    The rows come as one sorted run per block; a single int64 key sorted with timsort
    ("stable") merges those runs far faster than ``np.lexsort`` on two keys.
    """
    top = int(second.max()) + 1 if second.size else 1
    if top < np.iinfo(np.int64).max // max(n_customers, 1):
        key = second * np.int64(n_customers) + customer
        return np.argsort(key, kind="stable")
    return np.lexsort((customer, second))


def _pop_rows(blocks: Sequence[_Block], name: str) -> np.ndarray:
    """Concatenate one row column of every block and release the blocks' copies."""
    values = np.concatenate([getattr(b, name) for b in blocks])
    for b in blocks:
        setattr(b, name, np.empty(0, dtype=values.dtype))
    return values


def _take(values: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    return values if order is None else values[order]


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def simulate(
    n_customers: int,
    seed: int,
    *,
    start: DateLike = "2021-01-01",
    end: DateLike = "2023-12-31",
    cutoff: DateLike | None = None,
    segment_shares: Mapping[str, float] | None = None,
    purchase_rate_mean: float = 1 / 35,
    purchase_rate_shape: float = 1.0,
    dropout_rate_mean: float = 1 / 730,
    dropout_rate_shape: float = 2.0,
    seasons: Mapping[str, tuple[str, str]] | None = None,
    seasonal_purchases_per_season: float = 2.0,
    seasonal_dropout_rate_mean: float = 1 / 1095,
    seasonal_off_season_rate: float = 1e-4,
    promotions: Sequence[tuple[str, str]] | None = None,
    declining_half_life_days: float = 365.0,
    high_value_rate_multiplier: float = 3.0,
    high_value_spend_multiplier: float = 5.0,
    spend_mean: float = 50.0,
    spend_p: float = 6.0,
    spend_q: float = 4.0,
    return_rate: float = 0.04,
    return_window_days: float = 30.0,
    same_day_return_share: float = 0.1,
    full_refund_share: float = 0.6,
    duplicate_rate: float = 0.0,
    hourly_weights: Sequence[float] | None = None,
    timezone: str | None = None,
) -> SimulatedLog:
    """Simulate a transaction log with known ground truth.

    Customers are acquired (make their first purchase) over the window, buy according to
    their segment, and drop out at a random moment; see ``docs/simulator.md`` for the full
    generative process. The same arguments always give the same log.

    Parameters
    ----------
    n_customers
        Number of customers; every one of them makes at least one purchase in the window.
    seed
        Seed of the random streams (an integer >= 0).
    start, end
        First and last day of the window (inclusive). Times of day are ignored.
    cutoff
        Optional day within the window: fills ``cutoff`` and ``alive`` of the result.
    segment_shares
        Share of customers in each of "regular", "seasonal", "promo", "declining" and
        "high_value" (missing keys are 0; the shares must sum to 1). Default 0.8 / 0.1 / 0.1
        / 0 / 0. Counts are exact per block of :data:`BLOCK_CUSTOMERS` customers (largest
        remainder). A segment with share 0 draws nothing from the random stream: the log is
        the same as without that segment.
    purchase_rate_mean, purchase_rate_shape
        Regular customers' purchase rates (per day) are Gamma with this mean and shape
        (Pareto/NBD ``r`` = shape, ``alpha`` = shape / mean, in days). Also the initial rates
        of declining customers, and high-value rates before their multiplier.
    dropout_rate_mean, dropout_rate_shape
        Regular customers drop out after an exponential time whose rate (per day) is Gamma
        with this mean and shape (Pareto/NBD ``s`` = shape, ``beta`` = shape / mean). A mean
        of 0 means nobody drops out. Declining and high-value customers drop out the same
        way; the shape is also used for seasonal customers.
    seasons
        Buying seasons: name -> ("MM-DD", "MM-DD"), first and last day, repeated every year,
        not wrapping the new year. Each seasonal customer gets one season, equally likely.
    seasonal_purchases_per_season
        Mean purchases per full season of an alive seasonal customer (the in-season
        Poisson rate is Gamma-distributed across customers with shape 2).
    seasonal_dropout_rate_mean
        Mean dropout rate (per day) of seasonal customers.
    seasonal_off_season_rate
        Rate (per day) of the rare purchases seasonal customers make at any time of year.
    promotions
        Promotion windows ("MM-DD", "MM-DD"), repeated every year; promotion buyers make
        their one purchase uniformly within them.
    declining_half_life_days
        Mean half-life, in days, of declining customers' purchase rates: a declining
        customer with initial rate ``lambda`` and half-life ``h`` buys at rate
        ``lambda * exp(-(t - t0) / tau)``, ``tau = h / ln 2``, ``t0`` the first purchase;
        ``h`` is Gamma-distributed across customers with this mean and shape 4.
    high_value_rate_multiplier
        High-value customers' purchase rates are regular rates times this.
    high_value_spend_multiplier
        High-value customers' mean spend per purchase (and every purchase's scale) is the
        Gamma-Gamma mean spend times this.
    spend_mean, spend_p, spend_q
        Gamma-Gamma spend: a customer's mean spend is ``p / nu`` with ``nu`` Gamma(shape
        ``q``, rate ``gamma``), ``gamma`` chosen so that mean spends average ``spend_mean``
        (before the high-value multiplier); each purchase is Gamma(shape ``p``, rate ``nu``),
        rounded to cents (at least 0.01). ``spend_q`` must be > 1.
    return_rate
        Share of purchases followed by a refund (a negative row).
    return_window_days
        Refunds other than same-day ones come 1 to this many days after the purchase
        (uniformly; must be >= 1); refunds that would fall after ``end`` are not in the log.
    same_day_return_share
        Share of refunds made later on the purchase day itself.
    full_refund_share
        Share of refunds of the full amount; the others refund 20-80%.
    duplicate_rate
        Share of rows written twice (an exact duplicate, same order id), as some exports do.
        Default 0: opt in to test de-duplication.
    hourly_weights
        Relative purchase intensity for each of the 24 hours of the day.
    timezone
        If given, timestamps (and ``first_purchase``/``death``) are the same local times
        made time-zone aware in this zone (repeated hours read as daylight time, skipped
        hours shifted forward). Default: naive, as in the canonical schema.

    Returns
    -------
    SimulatedLog
        The transactions, the customers' true parameters and states, and ``alive_at``.

    Raises
    ------
    ConfigError
        If an argument cannot be used; the message names it and shows the value.

    References
    ----------
    Schmittlein, Morrison and Colombo (1987); Fader, Hardie and Lee (2005); Fader and Hardie
    (2013). See the module docstring.

    Examples
    --------
    >>> log = simulate(1_000, seed=7, cutoff="2023-06-30")
    >>> list(log.transactions.columns)
    ['customer_id', 'timestamp', 'amount', 'order_id']
    >>> bool(log.alive.index.isin(log.customers.index).all())
    True
    """
    kw = {k: v for k, v in locals().items() if k not in {"n_customers", "seed"}}
    spec, cut = _make_spec(n_customers=n_customers, seed=seed, **kw)
    blocks = list(_blocks(spec, int(n_customers), int(seed)))
    customer = _pop_rows(blocks, "row_customer")
    second = _pop_rows(blocks, "row_second")
    # Blocks hold disjoint customers and are each sorted, so a stable sort on (second,
    # customer) keeps each block's tie order (purchases before returns).
    order = _sort_order(second, customer, int(n_customers)) if len(blocks) > 1 else None
    customer = _take(customer, order)
    second = _take(second, order)
    amount = _take(_pop_rows(blocks, "row_amount"), order)
    number = _take(_pop_rows(blocks, "row_order"), order)
    is_return = _take(_pop_rows(blocks, "row_is_return"), order)
    table = _rows_table(spec, customer, second, amount, number, is_return)
    del customer, second, order, amount, number, is_return
    transactions = _transactions_frame(spec, table)
    del table
    customers = _customers_frame(spec, blocks)
    log = SimulatedLog(
        transactions=transactions,
        customers=customers,
        start=spec.origin,
        end=spec.end,
        seed=int(seed),
        params=_params(spec, kw),
        cutoff=cut,
        alive=None if cut is None else _alive_at(customers, spec.origin, spec.end, cut),
    )
    return log


def simulate_to_parquet(
    path: str | os.PathLike[str], n_customers: int, seed: int, **kw: Any
) -> SimulatedParquet:
    """Simulate a log and write it to a Parquet file, one block of customers at a time.

    Produces the same rows as ``simulate(n_customers, seed, **kw)`` without holding them all
    in memory: each block of :data:`BLOCK_CUSTOMERS` customers is simulated with its own
    random stream and written as one row group, sorted by ``timestamp`` then ``customer_id``
    within the block (the file as a whole is therefore not globally sorted). The file is
    written to a temporary file in the target folder and renamed over ``path``, so a reader
    never sees a partial file.

    Parameters
    ----------
    path
        Target ``.parquet`` file; its folder is created if needed.
    n_customers, seed
        As in :func:`simulate`.
    **kw
        Any keyword argument of :func:`simulate`.

    Returns
    -------
    SimulatedParquet
        The path, the number of rows written and the ground truth (customers, ``alive_at``).

    Raises
    ------
    ConfigError
        If an argument cannot be used, or ``kw`` holds an unknown name.
    """
    known = set(simulate.__kwdefaults__ or {})
    unknown = sorted(set(kw) - known)
    if unknown:
        raise ConfigError(f"unknown simulate() argument(s) {unknown!r}; known: {sorted(known)}")
    settings = {**(simulate.__kwdefaults__ or {}), **kw}
    spec, cut = _make_spec(n_customers=n_customers, seed=seed, **settings)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    blocks: list[_Block] = []
    rows = 0
    try:
        writer: pq.ParquetWriter | None = None
        try:
            for block in _blocks(spec, int(n_customers), int(seed)):
                table = _rows_table(
                    spec,
                    block.row_customer,
                    block.row_second,
                    block.row_amount,
                    block.row_order,
                    block.row_is_return,
                )
                if spec.timezone is not None:
                    frame = _transactions_frame(spec, table)
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                rows += table.num_rows
                # Keep only the ground truth; drop the rows.
                block.row_customer = block.row_second = block.row_amount = np.empty(0)
                block.row_order = block.row_is_return = np.empty(0)
                blocks.append(block)
        finally:
            if writer is not None:
                writer.close()
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a data file is readable by others
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    customers = _customers_frame(spec, blocks)
    result = SimulatedParquet(
        path=target,
        rows=rows,
        customers=customers,
        start=spec.origin,
        end=spec.end,
        seed=int(seed),
        params=_params(spec, settings),
        cutoff=cut,
        alive=None if cut is None else _alive_at(customers, spec.origin, spec.end, cut),
    )
    return result
