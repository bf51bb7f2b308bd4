"""Discounted customer lifetime value from a purchase model and a spend model, vectorised.

CLV over a horizon of ``H`` days cut into periods of ``P`` days (the last one shorter if ``P``
does not divide ``H``):

    CLV = E[spend per purchase] * sum_k  E[purchases in period k] / (1 + annual_rate)^(t_k / D)

where ``t_k`` is the end of period ``k`` in days (cash flows are discounted at the period end) and
``D`` is ``days_per_year``. Times are converted to the purchase model's unit (days or weeks)
explicitly, so there is no hidden "month" anywhere. lifetimes' ``customer_lifetime_value`` is the
special case ``P = 30`` days, ``H = 30 * months`` and a per-period rate ``d``, which is
``annual_rate = (1 + d) ** (D / 30) - 1``.

Intervals come from a parametric bootstrap: parameter vectors are drawn from the asymptotic
normal of each model's log-parameters (so every draw is positive), CLV is recomputed for each
draw, and the ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles are reported. They
reflect estimation uncertainty of the population parameters, not the randomness of a customer's
own future purchases.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError
from churnmodel.models._purchase import PurchaseModel
from churnmodel.models._summary import RFMData, check_positive, read_summary
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
    spend_model: GammaGammaModel,
    summary: pd.DataFrame,
    *,
    horizon_days: float = 365.0,
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
        A fitted :class:`GammaGammaModel`.
    summary
        RFM summary at the cut-off: ``frequency``, ``recency``, ``T``, ``monetary_value``.
    horizon_days
        CLV horizon in days.
    period_days
        Cash-flow period in days (30 reproduces lifetimes' "month").
    annual_discount_rate
        Discount rate per year; cash flows are discounted at the end of their period.
    days_per_year
        Days in a year for the discount rate.
    interval
        Coverage of the interval (0.9 gives ``clv_low``/``clv_high`` at the 5 % and 95 %
        quantiles); ``None`` skips the bootstrap.
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
        If the summary breaks a rule.
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
    if not isinstance(spend_model, GammaGammaModel):
        got = type(spend_model).__name__
        raise TypeError(f"'spend_model' must be a GammaGammaModel, got {got}")
    purchase_model._check_fitted()
    spend_model._check_fitted()
    if interval is not None and not (isinstance(interval, float) and 0.0 < interval < 1.0):
        raise ConfigError(f"'interval' must be a float in (0, 1) or None, got {interval!r}")
    if not isinstance(n_draws, int | np.integer) or n_draws < 20:
        raise ConfigError(f"'n_draws' must be an integer >= 20, got {n_draws!r}")
    ends, factors = discount_arrays(horizon_days, period_days, annual_discount_rate, days_per_year)
    times = ends / days_per_unit(purchase_model.time_unit_)
    data = read_summary(summary, time_unit=time_unit, monetary=True)
    data = data.in_unit(purchase_model.time_unit_)
    purchases, spend, clv = lifetime_value_arrays(purchase_model, spend_model, data, times, factors)
    out = pd.DataFrame(
        {"expected_purchases": purchases, "expected_spend": spend, "clv": clv},
        index=data.index,
    )
    if interval is not None:
        low, high = _bootstrap(
            purchase_model, spend_model, data, times, factors, interval, int(n_draws), seed
        )
        out["clv_low"] = low
        out["clv_high"] = high
    return out


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
    discounted = purchase_model._discounted_purchases(purchase_model.params_, data, times, factors)
    if spend is None:
        money = np.asarray(data.monetary_value)
        spend = spend_model._expected_spend(spend_model.params_, data.frequency, money)
    purchases = purchase_model._discounted_purchases(
        purchase_model.params_, data, times[-1:], np.ones(1)
    )
    return purchases, spend, discounted * spend


def _bootstrap(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    data: RFMData,
    times: np.ndarray,
    factors: np.ndarray,
    interval: float,
    n_draws: int,
    seed: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of CLV over parameter draws; customers in chunks to bound memory.

    The alive-conditional factor depends on (x, T) only, so it is computed per draw for the
    distinct pairs once; per customer, a draw costs P(alive) and the spend, both elementwise.
    """
    rng = np.random.default_rng(seed)
    purchase_draws = purchase_model.sample_params(n_draws, rng)
    spend_draws = spend_model.sample_params(n_draws, rng)
    names = purchase_model.param_names
    spend_names = spend_model.param_names
    purchase_params = [dict(zip(names, row, strict=True)) for row in purchase_draws]
    spend_params = [dict(zip(spend_names, row, strict=True)) for row in spend_draws]

    first, inverse = data.groups("frequency", "T")
    pair_values = np.stack(
        [
            purchase_model._purchases_if_alive(
                params, data.frequency[first], data.T[first], times, factors
            )
            for params in purchase_params
        ]
    )
    money = np.asarray(data.monetary_value)
    quantiles = [(1.0 - interval) / 2.0, (1.0 + interval) / 2.0]
    n = len(data)
    low = np.empty(n)
    high = np.empty(n)
    chunk = max(1, _CHUNK_VALUES // n_draws)
    values = np.empty((n_draws, min(chunk, n)))
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        part = data.take(rows)
        width = len(part)
        pair_index = inverse[rows]
        for d in range(n_draws):
            alive = purchase_model._p_alive(purchase_params[d], part)
            spend = spend_model._expected_spend(spend_params[d], part.frequency, money[rows])
            values[d, :width] = np.maximum(alive * pair_values[d, pair_index], 0.0) * spend
        low[rows], high[rows] = np.quantile(values[:, :width], quantiles, axis=0)
    return low, high
