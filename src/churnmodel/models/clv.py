"""Discounted customer lifetime value from a purchase model and a spend model, vectorised.

CLV over a horizon of ``H`` days cut into periods of ``P`` days (the last one shorter if ``P``
does not divide ``H``):

    CLV = E[spend per purchase] * sum_k  E[purchases in period k] / (1 + annual_rate)^(t_k / D)

where ``t_k`` is the end of period ``k`` in days (cash flows are discounted at the period end) and
``D`` is ``days_per_year``. Times are converted to the purchase model's unit (days or weeks)
explicitly, so there is no hidden "month" anywhere. lifetimes' ``customer_lifetime_value`` is the
special case ``P = 30`` days, ``H = 30 * months`` and a per-period rate ``d``, which is
``annual_rate = (1 + d) ** (D / 30) - 1``.

The spend per purchase is a fitted Gamma-Gamma model's conditional expectation, or given: one
amount for every customer or one per customer (a plan's price, a margin). The horizon may be
one for everyone or one per customer (a contract's end); a horizon of 0 is worth 0.

Intervals come from a parametric bootstrap: parameter vectors are drawn from the asymptotic
normal of each model's log-parameters (so every draw is positive), CLV is recomputed for each
draw, and the ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles are reported. They
reflect estimation uncertainty of the population parameters, not the randomness of a customer's
own future purchases.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models._purchase import Params, PurchaseModel
from churnmodel.models._summary import (
    RFMData,
    _distinct_rows,
    check_positive,
    read_covariates,
    read_summary,
)
from churnmodel.models.gamma_gamma import GammaGammaModel
from churnmodel.schemas import days_per_unit

__all__ = ["customer_lifetime_value", "discount_schedule"]

# Bootstrap values held in memory at once (draws x customers), about 80 MB of float64.
_CHUNK_VALUES = 10_000_000


def discount_schedule(
    *,
    horizon_days: float,
    period_days: float,
    annual_discount_rate: float,
    days_per_year: float = 365.0,
) -> pd.DataFrame:
    """Return the period ends (days) and their discount factors used by the CLV.

    Parameters
    ----------
    horizon_days
        Length of the CLV horizon in days (> 0).
    period_days
        Length of one cash-flow period in days (> 0); the last period is cut at the horizon.
    annual_discount_rate
        Discount rate per year (>= 0), e.g. 0.1 for 10 %.
    days_per_year
        Days in the year of the discount rate (365 by default; 365.25 also common).

    Returns
    -------
    pandas.DataFrame
        Columns ``end_days`` and ``discount_factor``, one row per period.
    """
    ends, factors = discount_arrays(horizon_days, period_days, annual_discount_rate, days_per_year)
    return pd.DataFrame({"end_days": ends, "discount_factor": factors})


def discount_arrays(
    horizon_days: float, period_days: float, annual_discount_rate: float, days_per_year: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the two columns of :func:`discount_schedule` as arrays (same checks)."""
    horizon = check_positive("horizon_days", horizon_days)
    period = check_positive("period_days", period_days)
    rate = check_positive("annual_discount_rate", annual_discount_rate, allow_zero=True)
    year = check_positive("days_per_year", days_per_year)
    n_periods = max(1, math.ceil(horizon / period - 1e-9))
    ends = np.minimum(np.arange(1, n_periods + 1) * period, horizon)
    return ends, np.power(1.0 + rate, -ends / year)


def customer_lifetime_value(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | float | Any,
    summary: pd.DataFrame,
    *,
    horizon_days: float | Any = 365.0,
    period_days: float = 30.0,
    annual_discount_rate: float = 0.1,
    days_per_year: float = 365.0,
    interval: float | None = 0.9,
    n_draws: int = 200,
    seed: int | None = 0,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Discounted CLV of each customer over a horizon, with a bootstrap interval.

    Parameters
    ----------
    purchase_model
        A fitted :class:`BetaGeoModel`, :class:`ModifiedBetaGeoModel` or
        :class:`ParetoNBDModel`.
    spend_model
        The spend per purchase: a fitted :class:`GammaGammaModel` (its conditional expectation,
        from ``monetary_value``), a number (the same for every customer), or one number per
        customer: a Series indexed like ``summary`` (every customer present) or an array of
        its length. Given amounts must be finite and >= 0; the summary then needs no
        ``monetary_value``.
    summary
        RFM summary at the cut-off: ``frequency``, ``recency``, ``T`` and, with a Gamma-Gamma
        model, ``monetary_value``.
    horizon_days
        CLV horizon in days (>= 0; 0 is worth 0): one number, or one per customer (a Series
        indexed like ``summary`` or an array of its length), e.g. the days left on a contract.
    period_days
        Cash-flow period in days (30 reproduces lifetimes' "month"). With per-customer
        horizons the periods start at the cut-off for everyone and each customer's last one
        ends at their horizon.
    annual_discount_rate
        Discount rate per year; cash flows are discounted at the end of their period.
    days_per_year
        Days in a year for the discount rate.
    interval
        Coverage of the interval (0.9 gives ``clv_low``/``clv_high`` at the 5 % and 95 %
        quantiles); ``None`` skips the bootstrap. Given spend is fixed in the draws: the
        interval then reflects the purchase model's uncertainty only.
    n_draws
        Bootstrap draws of the parameters (>= 20).
    seed
        Seed of the bootstrap, for reproducible intervals.
    time_unit
        Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``summary``: ``expected_purchases`` (undiscounted, over the horizon),
        ``expected_spend`` (per purchase), ``clv``, and with an interval ``clv_low`` and
        ``clv_high``. All finite and >= 0.

    Raises
    ------
    ConfigError
        For a setting out of range (the message shows the value).
    DataValidationError
        If the summary breaks a rule, or a per-customer spend or horizon is missing or
        invalid (the message names the customers).
    ModelFitError
        If an interval is asked for and a model has no covariance.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: Using Iso-Value Curves
    for Customer Base Analysis", Journal of Marketing Research 42(4), 415-430.
    """
    if not isinstance(purchase_model, PurchaseModel):
        raise TypeError(
            f"'purchase_model' must be a BG/NBD-family model, got {type(purchase_model).__name__}"
        )
    if getattr(purchase_model, "time_unit_", None) == "P":
        raise TypeError(
            "'purchase_model' counts discrete transaction opportunities (BG/BB), not days: its "
            "residual value is purchase_model.dert(summary, discount_rate) times the value of "
            "a transaction"
        )
    gamma_gamma = spend_model if isinstance(spend_model, GammaGammaModel) else None
    fitted_spend = gamma_gamma is not None
    if not fitted_spend and not _numbers_like(spend_model):
        raise TypeError(
            "'spend_model' must be a GammaGammaModel, a number or one number per customer, "
            f"got {type(spend_model).__name__}"
        )
    purchase_model._check_fitted()
    if gamma_gamma is not None:
        gamma_gamma._check_fitted()
    if interval is not None and not (isinstance(interval, float) and 0.0 < interval < 1.0):
        raise ConfigError(f"'interval' must be a float in (0, 1) or None, got {interval!r}")
    if not isinstance(n_draws, int | np.integer) or n_draws < 20:
        raise ConfigError(f"'n_draws' must be an integer >= 20, got {n_draws!r}")
    period = check_positive("period_days", period_days)
    rate = check_positive("annual_discount_rate", annual_discount_rate, allow_zero=True)
    year = check_positive("days_per_year", days_per_year)
    data = read_summary(summary, time_unit=time_unit, monetary=fitted_spend)
    names = purchase_model._covariate_names()
    if names:
        data = replace(data, covariates=read_covariates(summary, names), covariate_names=names)
    data = data.in_unit(purchase_model.time_unit_)
    if gamma_gamma is not None:
        spend = gamma_gamma._expected_spend(
            gamma_gamma.params_, data.frequency, np.asarray(data.monetary_value)
        )
    else:
        spend = _per_customer(spend_model, summary, "spend_model", "spend per purchase")
    horizons = _per_customer(horizon_days, summary, "horizon_days", "horizon in days")
    unit = days_per_unit(purchase_model.time_unit_)
    schedule = _Schedule(horizons, period, rate, year, unit)
    params = purchase_model._full_params()
    purchases, discounted = schedule.purchases(purchase_model, params, data)
    out = pd.DataFrame(
        {"expected_purchases": purchases, "expected_spend": spend, "clv": discounted * spend},
        index=data.index,
    )
    if interval is not None:
        low, high = _bootstrap(
            purchase_model,
            gamma_gamma,
            spend,
            data,
            schedule,
            interval,
            int(n_draws),
            seed,
        )
        out["clv_low"] = low
        out["clv_high"] = high
    return out


def _numbers_like(value: Any) -> bool:
    """Return whether ``value`` is a number, a Series, or a sequence or array of numbers."""
    if isinstance(value, int | float | np.number | pd.Series | np.ndarray | list | tuple):
        return not isinstance(value, bool)
    return False


def _per_customer(value: Any, summary: pd.DataFrame, name: str, what: str) -> np.ndarray:
    """Return a number or one number per customer as an array of ``len(summary)``, >= 0."""
    if isinstance(value, pd.Series):
        missing = summary.index.difference(value.index)
        if len(missing):
            shown = ", ".join(repr(c) for c in missing[:5])
            raise DataValidationError(
                f"{name!r} has no {what} for {len(missing)} customer(s) of the summary "
                f"({shown}{', ...' if len(missing) > 5 else ''})",
                hint=f"index {name!r} like the summary, with a value for every customer",
            )
        values = value.reindex(summary.index).to_numpy(dtype=np.float64, na_value=np.nan)
    elif np.ndim(value) == 0:
        number = check_positive(name, value, allow_zero=True)
        return np.full(len(summary), number)
    else:
        try:
            values = np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ConfigError(f"{name!r} must be numbers >= 0, got {value!r}") from None
        if values.size != len(summary):
            raise DataValidationError(
                f"{name!r} has {values.size} values but the summary has {len(summary)} rows",
                hint=f"pass one {what} per customer, or a Series indexed like the summary",
            )
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        ids = ", ".join(repr(c) for c in summary.index[bad][:5])
        raise DataValidationError(
            f"{name!r} is missing, infinite or negative for {int(bad.sum())} customer(s) "
            f"({ids}{', ...' if int(bad.sum()) > 5 else ''}; first value "
            f"{float(values[bad][0])!r})",
            hint=f"a {what} is a number >= 0",
        )
    return values


class _Schedule:
    """The cash-flow periods of each customer and their discount factors.

    Periods of ``period`` days start at the cut-off; a customer's last period ends at their
    horizon ``H`` (cut short when ``period`` does not divide it). With one horizon for everyone
    the grid of period ends is :func:`discount_arrays`'; with several, the periods that end
    before a customer's horizon are a shared grid and each customer adds their own last one.
    """

    def __init__(
        self, horizons: np.ndarray, period: float, rate: float, year: float, unit: float
    ) -> None:
        self.horizons = horizons
        self.unit = unit
        self.common = bool(np.all(horizons == horizons[0]))
        if self.common:
            horizon = float(horizons[0])
            if horizon > 0:
                ends, self.factors = discount_arrays(horizon, period, rate, year)
                self.times = ends / unit
            return
        # Full periods strictly before each customer's last one: k * period < H.
        full = np.maximum(np.ceil(horizons / period - 1e-9) - 1, 0).astype(np.int64)
        self.full = full
        grid = np.arange(1, int(full.max()) + 1) * period
        self.grid_times = grid / unit
        self.grid_factors = np.power(1.0 + rate, -grid / year)
        self.last_factors = np.power(1.0 + rate, -horizons / year)

    def purchases(
        self,
        model: PurchaseModel,
        params: Params,
        data: RFMData,
        rows: slice = slice(None),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (expected purchases over the horizon, discounted expected purchases).

        ``data`` holds the customers ``rows`` of the summary the schedule was built for.
        """
        if self.common:
            if self.horizons[0] <= 0:
                return np.zeros(len(data)), np.zeros(len(data))
            discounted = model._discounted_purchases(params, data, self.times, self.factors)
            purchases = model._discounted_purchases(params, data, self.times[-1:], np.ones(1))
            return purchases, discounted
        h_all = self.horizons[rows] / self.unit
        full_all = self.full[rows]
        last_all = self.last_factors[rows]
        purchases = np.zeros(len(data))
        discounted = np.zeros(len(data))
        for group, pattern in model._split(params, data):
            part = data if group is None else data.take(group)
            at = slice(None) if group is None else group
            at_h, disc = self._per_customer(
                model, pattern, part, h_all[at], full_all[at], last_all[at]
            )
            purchases[at], discounted[at] = at_h, disc
        return purchases, discounted

    def _per_customer(
        self,
        model: PurchaseModel,
        params: Params,
        data: RFMData,
        h: np.ndarray,
        full: np.ndarray,
        last_factors: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-customer horizons for customers of one covariate pattern (``params``)."""
        first, inverse = data.groups("frequency", "T")
        x, T = data.frequency[first], data.T[first]
        # Per (x, T): E[Y(t_k) | alive] on the shared grid and the discounted sums up to k.
        if self.grid_times.size:
            grid = model._cumulative_if_alive(params, x, T, self.grid_times)
        else:
            grid = np.zeros((x.size, 0))
        cumulative = np.hstack([np.zeros((x.size, 1)), grid])
        steps = np.diff(cumulative, axis=1)
        discounted_sums = np.hstack(
            [np.zeros((x.size, 1)), np.cumsum(steps * self.grid_factors[None, :], axis=1)]
        )
        # Per (x, T, H): E[Y(H) | alive], at each customer's own horizon.
        triple, back = _distinct_rows([data.frequency, data.T, h])
        at_h = model._cumulative_if_alive(
            params, data.frequency[triple], data.T[triple], h[triple][:, None]
        )[:, 0]
        at_h = np.where(h[triple] > 0, at_h, 0.0)[back]
        before = cumulative[inverse, full]
        alive = model._p_alive(params, data)
        discounted = discounted_sums[inverse, full] + last_factors * (at_h - before)
        return np.maximum(alive * at_h, 0.0), np.maximum(alive * discounted, 0.0)


def lifetime_value_arrays(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    data: RFMData,
    times: np.ndarray,
    factors: np.ndarray,
    *,
    spend: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the point estimates of :func:`customer_lifetime_value` of validated data.

    Parameters
    ----------
    data
        RFM data with ``monetary_value``, in the purchase model's unit.
    times, factors
        Period ends in the purchase model's unit and their discount factors.
    spend
        Gamma-Gamma's expected spend per purchase of ``data`` if the caller has it already.

    Returns
    -------
    tuple of numpy.ndarray
        Expected purchases over the horizon (undiscounted), expected spend per purchase, CLV.
    """
    params = purchase_model._full_params()
    discounted = purchase_model._discounted_purchases(params, data, times, factors)
    if spend is None:
        money = np.asarray(data.monetary_value)
        spend = spend_model._expected_spend(spend_model.params_, data.frequency, money)
    purchases = purchase_model._discounted_purchases(params, data, times[-1:], np.ones(1))
    return purchases, spend, discounted * spend


def _bootstrap(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    spend: np.ndarray,
    data: RFMData,
    schedule: _Schedule,
    interval: float,
    n_draws: int,
    seed: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of CLV over parameter draws; customers in chunks to bound memory.

    The alive-conditional factor depends on (x, T) only, so with one horizon it is computed per
    draw for the distinct pairs once; per customer, a draw costs P(alive) and the spend, both
    elementwise. Given spend (``spend_model`` None) is the same in every draw.
    """
    rng = np.random.default_rng(seed)
    purchase_draws = purchase_model.sample_params(n_draws, rng)
    names = purchase_model.param_names
    purchase_params = [dict(zip(names, row, strict=True)) for row in purchase_draws]
    spend_params: list[dict[str, float]] = []
    if spend_model is not None:
        spend_draws = spend_model.sample_params(n_draws, rng)
        spend_names = spend_model.param_names
        spend_params = [dict(zip(spend_names, row, strict=True)) for row in spend_draws]
    money = np.asarray(data.monetary_value) if spend_model is not None else None

    def spend_of(d: int, rows: slice, part: RFMData) -> np.ndarray:
        if spend_model is None or money is None:
            return spend[rows]
        return spend_model._expected_spend(spend_params[d], part.frequency, money[rows])

    quantiles = [(1.0 - interval) / 2.0, (1.0 + interval) / 2.0]
    n = len(data)
    low = np.empty(n)
    high = np.empty(n)
    chunk = max(1, _CHUNK_VALUES // n_draws)
    values = np.empty((n_draws, min(chunk, n)))
    covariates = bool(purchase_model._coefficient_names())
    if covariates or not schedule.common or schedule.horizons[0] <= 0:
        # Per-customer horizons or covariates (parameters per customer): the whole per-customer
        # computation for each draw.
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            part = data.take(rows)
            width = len(part)
            for d in range(n_draws):
                _, discounted = schedule.purchases(purchase_model, purchase_params[d], part, rows)
                values[d, :width] = discounted * spend_of(d, rows, part)
            low[rows], high[rows] = np.quantile(values[:, :width], quantiles, axis=0)
        return low, high
    first, inverse = data.groups("frequency", "T")
    pair_values = np.stack(
        [
            purchase_model._purchases_if_alive(
                params, data.frequency[first], data.T[first], schedule.times, schedule.factors
            )
            for params in purchase_params
        ]
    )
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        part = data.take(rows)
        width = len(part)
        pair_index = inverse[rows]
        for d in range(n_draws):
            alive = purchase_model._p_alive(purchase_params[d], part)
            values[d, :width] = np.maximum(alive * pair_values[d, pair_index], 0.0) * spend_of(
                d, rows, part
            )
        low[rows], high[rows] = np.quantile(values[:, :width], quantiles, axis=0)
    return low, high
