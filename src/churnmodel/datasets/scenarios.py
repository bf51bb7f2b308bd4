"""Named simulator scenarios: a log to train on and the known truth of the period after it.

A scenario runs :func:`churnmodel.datasets.simulate.simulate` past the day a model would be
served (``end``) through a forecast window of ``horizon_days`` days, then splits the log at
``end``: ``transactions`` is what a user trains on, ``future`` is what happened next, and
:meth:`Scenario.truth` says, for every customer known at ``end``, whether they were alive and
what they bought in the window. A served model's forecast for the next season can then be
scored against the truth instead of a back-test on the past.

:data:`SCENARIOS` maps each scenario's name to the function that builds it, for a command
line's ``--scenario NAME``. The scenarios, their segments and rates are described in
``docs/simulator.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import pandas as pd

from churnmodel.datasets.simulate import DateLike, _to_day, simulate
from churnmodel.exceptions import ConfigError
from churnmodel.io.tables import write_table
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP

__all__ = [
    "SCENARIOS",
    "SEASONAL_RETAILER",
    "TRUTH_COLUMNS",
    "Scenario",
    "seasonal_retailer",
]

#: Columns of :meth:`Scenario.truth`, after the ``customer_id`` index.
TRUTH_COLUMNS: Final = (
    "segment",
    "alive",
    "purchases_next",
    "spend_next",
    "lapsed",
    "p_lapse",
)

#: The simulator settings of :func:`seasonal_retailer` (dates aside); see docs/simulator.md.
SEASONAL_RETAILER: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "segment_shares": MappingProxyType(
            {
                "regular": 0.45,
                "seasonal": 0.20,
                "declining": 0.15,
                "promo": 0.10,
                "high_value": 0.10,
            }
        ),
        # About 4 purchases a year (one a quarter) for a regular customer; Gamma shape 1.5
        # spreads them from one every few years to one a month.
        "purchase_rate_mean": 4.0 / 365.0,
        "purchase_rate_shape": 1.5,
        # At the mean dropout rate (1/1095 per day) a customer stays three years on average;
        # with Gamma shape 2 the rates vary widely across customers.
        "dropout_rate_mean": 1.0 / 1095.0,
        "dropout_rate_shape": 2.0,
        "seasons": MappingProxyType({"winter_holidays": ("11-01", "12-31")}),
        "seasonal_purchases_per_season": 2.0,
        # Seasonal customers are loyal to their season: four years at the mean rate.
        "seasonal_dropout_rate_mean": 1.0 / 1460.0,
        # About one purchase in 165 off-seasons (304 days at 2e-5 per day).
        "seasonal_off_season_rate": 2e-5,
        # Declining customers' rate halves every ~8 months on average.
        "declining_half_life_days": 240.0,
        "high_value_rate_multiplier": 3.0,
        "high_value_spend_multiplier": 5.0,
        "spend_mean": 50.0,
    }
)

_HISTORY_MONTHS: Final = 30  # 2.5 years


@dataclass(frozen=True, eq=False)
class Scenario:
    """A simulated log split at the day a model is served, with the truth of what came next.

    Attributes
    ----------
    name
        The scenario's name, a key of :data:`SCENARIOS`.
    start, end
        First and last day of the training log (inclusive): ``transactions`` holds every row
        from the start of ``start`` to the end of ``end``.
    horizon_days
        Length of the forecast window ``(end, end + horizon_days]`` in days.
    params
        The scenario's arguments and, under ``"simulate"``, every argument passed to
        :func:`~churnmodel.datasets.simulate.simulate`.
    transactions
        Canonical rows (``customer_id``, ``timestamp``, ``amount``, ``order_id``) up to and
        including ``end``, sorted by ``timestamp`` then ``customer_id``: what a user trains
        on. Refunds of these purchases that come after ``end`` are in ``future``.
    future
        Canonical rows in the forecast window, sorted the same way: every row the log gains
        after ``end``, including those of customers acquired in the window (who are in
        neither ``customers`` nor :meth:`truth`).
    customers
        The simulator's truth table (see :class:`~churnmodel.datasets.simulate.SimulatedLog`)
        for the customers whose first purchase is on or before ``end``, index
        ``customer_id``. ``death`` may fall in the window (NaT: after the window);
        ``n_purchases`` counts purchase rows in ``transactions`` only.
    """

    name: str
    start: date
    end: date
    horizon_days: int
    params: dict[str, Any] = field(repr=False)
    transactions: pd.DataFrame = field(repr=False)
    future: pd.DataFrame = field(repr=False)
    customers: pd.DataFrame = field(repr=False)

    def truth(self) -> pd.DataFrame:
        """Return the true state and next-window behaviour of every customer known at ``end``.

        A customer-day is a purchase day when its net amount (purchases minus same-day
        refunds) is > 0: churnmodel's default
        :class:`~churnmodel.features.queries.PurchaseRule` on these logs, which have no $0
        orders (a day netting 0 is a same-day full refund, which that rule does not count).
        The customers are those with a purchase day on or before ``end``, the ones
        churnmodel's features score; a customer whose only day by then nets to 0 or less (a
        same-day full refund) is left out, as in the features.

        Returns
        -------
        pandas.DataFrame
            Index ``customer_id`` (sorted); columns ``segment`` (the true segment),
            ``alive`` (bool: not dropped out by the end of ``end``), ``purchases_next``
            (int: purchase days in ``(end, end + horizon_days]``), ``spend_next`` (float: net
            amount of every row in that window, refunds of earlier purchases included,
            floored at 0) and ``lapsed`` (bool: ``purchases_next == 0``), the labels
            :func:`~churnmodel.features.snapshots.build_snapshots` computes; ``p_lapse``, the
            true probability of ``lapsed`` given the customer's parameters and state at
            ``end`` (the best any score could know; its ROC AUC is a ceiling).
        """
        known = _purchase_days(self.transactions).index.unique(CUSTOMER_ID).sort_values()
        in_window = _purchase_days(self.future)
        purchases = in_window.groupby(level=CUSTOMER_ID).size().reindex(known, fill_value=0)
        spend = self.future.groupby(CUSTOMER_ID)[AMOUNT].sum().reindex(known, fill_value=0.0)
        death = self.customers["death"].reindex(known)
        boundary = pd.Timestamp(self.end) + pd.Timedelta(days=1)
        truth = pd.DataFrame(
            {
                "segment": self.customers["segment"].reindex(known),
                "alive": (death.isna() | (death >= boundary)).astype(bool),
                "purchases_next": purchases.astype(np.int64),
                "spend_next": spend.clip(lower=0.0).astype(np.float64),
            },
            index=known,
        )
        truth["lapsed"] = truth["purchases_next"] == 0
        truth["p_lapse"] = self._p_lapse(truth.index, truth["alive"].to_numpy())
        return truth

    def _p_lapse(self, customers: pd.Index, alive: np.ndarray) -> np.ndarray:
        """Return the true P(no purchase in the window) of each customer, from their parameters.

        Given a customer's segment, rates and state at the end of ``end`` (what no model can
        see), purchases in the window form a Poisson process whose rate is the customer's
        (in season only for a seasonal customer, plus the rare off-season rate; decaying with
        the half-life for a declining one) until an exponential dropout at their dropout rate:
        ``P = E_u[exp(-Lambda(min(u, H)))]`` over the dropout time ``u``, on a grid of days. A
        customer who has dropped out never buys again (``P = 1``). The ranking of this
        probability is the best any lapse score could reach on this draw (a ceiling for ROC
        AUC); it ignores refunds that net a purchase day to zero.
        """
        sim = self.params["simulate"]
        info = self.customers.reindex(customers)
        h = self.horizon_days
        origin = pd.Timestamp(sim["start"])
        days = (pd.Timestamp(self.end) - origin).days + np.arange(h) + 0.5  # since origin
        rate = info["purchase_rate"].to_numpy(dtype=float)[:, None] * np.ones((1, h))
        segment = info["segment"].to_numpy()
        seasonal = segment == "seasonal"
        if seasonal.any():
            in_season = np.zeros(h, dtype=bool)
            dates = pd.Timestamp(self.end) + pd.to_timedelta(np.arange(1, h + 1), unit="D")
            month_day = dates.strftime("%m-%d")
            for first, last in dict(sim["seasons"]).values():
                in_season |= (month_day >= first) & (month_day <= last)
            rate[seasonal] = rate[seasonal] * in_season[None, :] + float(
                sim["seasonal_off_season_rate"]
            )
        declining = segment == "declining"
        if declining.any():
            first = (info["first_purchase"] - origin) / pd.Timedelta(days=1)
            t0 = first.to_numpy(dtype=float)[declining][:, None]
            half = info["purchase_rate_half_life"].to_numpy(dtype=float)[declining][:, None]
            rate[declining] *= np.exp(-np.log(2.0) * (days[None, :] - t0) / half)
        mu = np.nan_to_num(info["dropout_rate"].to_numpy(dtype=float), nan=0.0)[:, None]
        cumulative = np.cumsum(rate, axis=1)  # Lambda at the end of each day
        # Dropout in day k (midway): purchases before it; none: the whole window.
        before = np.concatenate([np.zeros((len(info), 1)), cumulative[:, :-1]], axis=1)
        half_day = before + rate / 2.0
        edges = np.exp(-mu * np.arange(h + 1)[None, :])
        p = np.sum((edges[:, :-1] - edges[:, 1:]) * np.exp(-half_day), axis=1)
        p += edges[:, -1] * np.exp(-cumulative[:, -1])
        return np.where(alive & (segment != "promo"), np.clip(p, 0.0, 1.0), 1.0)

    def write(
        self, folder: str | os.PathLike[str], *, file_format: str = "parquet"
    ) -> dict[str, Path]:
        """Write ``transactions`` and :meth:`truth` to ``folder``, each file atomically.

        Each file is written to a temporary file beside it and renamed over it
        (:func:`churnmodel.io.write_table`), so a reader never sees half a file; the two files
        are replaced one after the other, the transactions first.

        Parameters
        ----------
        folder
            Target folder, created if needed.
        file_format
            ``"parquet"`` (default) or ``"csv"``.

        Returns
        -------
        dict of str to pathlib.Path
            ``{"transactions": <folder>/transactions.<ext>, "truth": <folder>/truth.<ext>}``;
            the truth file has ``customer_id`` as its first column.

        Raises
        ------
        ConfigError
            If ``file_format`` is neither "parquet" nor "csv".
        """
        if file_format not in {"parquet", "csv"}:
            raise ConfigError(f"'file_format' must be 'parquet' or 'csv', got {file_format!r}")
        target = Path(folder)
        paths = {
            "transactions": target / f"transactions.{file_format}",
            "truth": target / f"truth.{file_format}",
        }
        write_table(self.transactions, paths["transactions"])
        write_table(self.truth().reset_index(), paths["truth"])
        return paths


def _purchase_days(rows: pd.DataFrame) -> pd.Series:
    """Net amount per (customer_id, day) of the days whose net amount is > 0."""
    day = rows[TIMESTAMP].dt.normalize().rename("day")
    net = rows.groupby([rows[CUSTOMER_ID], day], sort=False)[AMOUNT].sum()
    return net[net > 0]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name!r} must be an integer, got {value!r}")
    if value <= 0:
        raise ConfigError(f"{name!r} must be > 0, got {value!r}")
    return int(value)


def _history_start(end: pd.Timestamp, history_days: int | None) -> pd.Timestamp:
    """First day of the training log: 2.5 years before ``end`` unless ``history_days``."""
    if history_days is not None:
        return end - pd.Timedelta(days=history_days - 1)
    # 30 months back from the day after ``end``, then back to the first of that month: the
    # log covers at least 2.5 years and starts on the first of a month.
    back = end + pd.Timedelta(days=1) - pd.DateOffset(months=_HISTORY_MONTHS)
    return pd.Timestamp(back.year, back.month, 1)


def _split(
    name: str,
    n_customers: int,
    seed: int,
    end: DateLike,
    horizon_days: int,
    history_days: int | None,
    settings: Mapping[str, Any],
) -> Scenario:
    """Simulate ``start .. end + horizon_days`` with ``settings`` and split the log at ``end``."""
    horizon = _positive_int("horizon_days", horizon_days)
    history = None if history_days is None else _positive_int("history_days", history_days)
    last = _to_day("end", end)
    try:
        start = _history_start(last, history).as_unit("ns")
    except (OverflowError, ValueError):
        raise ConfigError(
            f"'history_days' reaches before 1677-09-22 from 'end' {last.date()}, got {history!r}"
        ) from None
    try:
        simulated_end = (last + pd.Timedelta(days=horizon)).as_unit("ns")
    except (OverflowError, ValueError):
        raise ConfigError(
            f"'horizon_days' reaches after 2262-04-11 from 'end' {last.date()}, got {horizon!r}"
        ) from None
    kwargs = {k: _plain(v) for k, v in settings.items()}
    log = simulate(n_customers, seed, start=start, end=simulated_end, **kwargs)

    boundary = last + pd.Timedelta(days=1)
    tx = log.transactions
    before = (tx[TIMESTAMP] < boundary).to_numpy()
    transactions = tx[before].reset_index(drop=True)
    future = tx[~before].reset_index(drop=True)
    customers = log.customers[log.customers["first_purchase"] < boundary].copy()
    bought = transactions.loc[transactions[AMOUNT] > 0, CUSTOMER_ID].value_counts()
    customers["n_purchases"] = bought.reindex(customers.index, fill_value=0).astype(np.int64)
    params: dict[str, Any] = {
        "n_customers": int(n_customers),
        "seed": int(seed),
        "start": start.date().isoformat(),
        "end": last.date().isoformat(),
        "horizon_days": horizon,
        "history_days": (last - start).days + 1,
        "simulate": log.params,
    }
    return Scenario(
        name=name,
        start=start.date(),
        end=last.date(),
        horizon_days=horizon,
        params=params,
        transactions=transactions,
        future=future,
        customers=customers,
    )


def _plain(value: Any) -> Any:
    """Read-only mappings of the settings as plain dicts (as ``simulate`` records them)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def seasonal_retailer(
    n_customers: int = 20_000,
    seed: int = 0,
    *,
    end: DateLike = "2025-06-30",
    horizon_days: int = 184,
    history_days: int | None = None,
) -> Scenario:
    """Simulate a retailer with a holiday season, served on ``end`` for the next half year.

    Five segments (:data:`SEASONAL_RETAILER`; shares of customers): regular customers buying
    about four times a year (45%), seasonal customers buying almost only from 1 November to
    31 December (20%), customers whose buying fades with a half-life of about eight months
    (15%), one-time promotion buyers (10%) and high-value customers buying three times as
    often and spending five times as much per purchase (10%). Customers are acquired
    uniformly over the whole simulated period, the forecast window included.

    With the defaults the training log runs from 2023-01-01 to 2025-06-30 and the forecast
    window is 2025-07-01 .. 2025-12-31, holiday season included: a model that reads the
    seasonal customers' silence since January as churn gets them wrong.

    Parameters
    ----------
    n_customers
        Customers simulated over the whole period (some are acquired after ``end`` and
        appear only in ``future``).
    seed
        Seed of the random streams (an integer >= 0); the same arguments give the same
        scenario.
    end
        Last day of the training log, the day the model is served.
    horizon_days
        Length of the forecast window after ``end``, in days (> 0).
    history_days
        Days in the training log, ``end`` included. Default: from the first of the month
        30 months before the day after ``end`` (2023-01-01 for 2025-06-30), at least 2.5
        years.

    Returns
    -------
    Scenario
        The training log, the window's rows, the customers' truth and :meth:`Scenario.truth`.

    Raises
    ------
    ConfigError
        If an argument cannot be used; the message names it and shows the value.

    Examples
    --------
    >>> sc = seasonal_retailer(2_000, seed=1)
    >>> str(sc.end), str(sc.start), sc.horizon_days
    ('2025-06-30', '2023-01-01', 184)
    >>> truth = sc.truth()
    >>> bool(truth.loc[~truth["alive"], "purchases_next"].eq(0).all())
    True
    """
    return _split(
        "seasonal_retailer", n_customers, seed, end, horizon_days, history_days, SEASONAL_RETAILER
    )


#: Scenario builders by name. Each takes ``(n_customers, seed)`` and keyword-only ``end``,
#: ``horizon_days`` and ``history_days``, and returns a :class:`Scenario`.
SCENARIOS: Final[Mapping[str, Callable[..., Scenario]]] = MappingProxyType(
    {"seasonal_retailer": seasonal_retailer}
)
