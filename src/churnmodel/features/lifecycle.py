"""Life-cycle stages judged against each customer's own buying rhythm.

A customer is *lapsed* when the time since their last purchase is long compared with their
usual gap between purchases, not after a fixed number of days for everyone: a weekly buyer is
overdue after three weeks, a yearly buyer is not. The rules, applied in this order:

=============== ===============================================================================
stage           rule (``ratio`` = days since last purchase / typical gap)
=============== ===============================================================================
new             one purchase day so far and ``ratio <= lapse_ratio``
loyal           ``ratio <= lapse_ratio``, at least ``loyal_min_purchase_days`` purchase days and
                ``loyal_min_tenure_days`` since the first
active          any other customer with ``ratio <= lapse_ratio``
lapsed_seasonal ``ratio > lapse_ratio``, but their own history shows a season they have not
                missed yet: their purchase days span at least ``seasonal_min_span_days``
                (``recency_days``: bought in two seasons about a year apart), concentrate in
                one time of year (``season_concentration >= seasonal_min_concentration``)
                and the last one is at most ``seasonal_max_silence_days`` ago: likely back
                when the season comes round
lapsed_short    ``lapse_ratio < ratio <= long_lapse_ratio``
lapsed_long     ``long_lapse_ratio < ratio <= inactive_ratio``
inactive        ``ratio > inactive_ratio``: a win-back is unlikely
=============== ===============================================================================

The typical gap of a repeat customer is their mean gap between purchase days,
``recency_days / frequency``, floored at ``min_gap_days`` (two purchases on consecutive days
do not make a customer overdue after three). A one-time buyer has no rhythm of their own and
is judged against ``default_gap_days``: by default the median typical gap of the repeat
customers at the same cut-off (90 days when there are none), so the rule uses no data from
after the cut-off.

The seasonal rule reads only the customer's own history, not the forecast window (the season
features follow :class:`~churnmodel.features.FeatureWindows`, the stage does not).
``season_concentration`` is the mean resultant length R of the purchase days' angles in the
year (1 for one purchase day, about ``1 / sqrt(n)`` for ``n`` days spread over the year):
with the span condition a single purchase, or two on the same few days, is no evidence of a
season. A pure once-a-year buyer (typical gap 365 days) is ``active`` by the gap rule until
1.5 years have passed, so the seasonal rule matters for customers with several purchase days
per season, whose typical gap is short. ``docs/features.md`` gives the rates measured on
simulated logs with and without seasonal customers.

References
----------
Mardia, K. V. and Jupp, P. E. (2000). Directional Statistics. Wiley, section 2.3.1 (the mean
resultant length).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.schemas import LIFECYCLE_STAGES

__all__ = [
    "STAGE_DTYPE",
    "LifecycleRules",
    "assign_lifecycle_stage",
    "lifecycle_codes",
    "typical_gap_days",
]

_FALLBACK_GAP_DAYS = 90.0
#: Columns of the features table (:func:`~churnmodel.features.customer_features`) the rules
#: read; :func:`lifecycle_codes` takes the same with ``recency_days`` and ``age_days`` (the
#: per-customer aggregate's) in place of ``days_since_last`` and ``tenure_days``.
_REQUIRED = (
    "frequency",
    "n_purchase_days",
    "days_since_last",
    "tenure_days",
    "season_concentration",
)


@dataclass(frozen=True)
class LifecycleRules:
    """Thresholds of the life-cycle stage rules (see the module docstring)."""

    lapse_ratio: float = 1.5
    long_lapse_ratio: float = 3.0
    inactive_ratio: float = 6.0
    loyal_min_purchase_days: int = 5
    loyal_min_tenure_days: int = 365
    min_gap_days: float = 14.0
    default_gap_days: float | None = None
    seasonal_min_span_days: float = 300.0
    seasonal_min_concentration: float = 0.9
    seasonal_max_silence_days: float = 395.0

    def validate(self) -> None:
        """Raise ConfigError unless the thresholds are ordered and positive."""
        if not 0 < self.lapse_ratio < self.long_lapse_ratio < self.inactive_ratio:
            raise ConfigError(
                "lifecycle ratios must satisfy 0 < lapse_ratio < long_lapse_ratio < "
                f"inactive_ratio, got {self.lapse_ratio}, {self.long_lapse_ratio}, "
                f"{self.inactive_ratio}"
            )
        if self.min_gap_days <= 0:
            raise ConfigError(f"'min_gap_days' must be > 0, got {self.min_gap_days}")
        if not self.seasonal_min_span_days > 0:
            raise ConfigError(
                f"'seasonal_min_span_days' must be > 0, got {self.seasonal_min_span_days}"
            )
        if not 0 < self.seasonal_min_concentration <= 1:
            raise ConfigError(
                "'seasonal_min_concentration' must be in (0, 1], "
                f"got {self.seasonal_min_concentration}"
            )
        if not self.seasonal_max_silence_days > 0:
            raise ConfigError(
                f"'seasonal_max_silence_days' must be > 0, got {self.seasonal_max_silence_days}"
            )
        if self.default_gap_days is not None and self.default_gap_days <= 0:
            raise ConfigError(f"'default_gap_days' must be > 0, got {self.default_gap_days}")

    def frozen_at(self, features: pd.DataFrame) -> LifecycleRules:
        """Return these rules with ``default_gap_days`` fixed to its value in ``features``.

        Left unset, the gap one-time buyers are judged by is the median of the customers
        scored together, so a customer's stage would depend on who else is in the request or
        the batch chunk. A fitted model keeps the value of its training cut-off instead
        (``features``: :func:`~churnmodel.features.customer_features` of the customers at
        that cut-off, with these rules); at the cut-off nothing changes. Rules
        with ``default_gap_days`` set are returned as they are.
        """
        if self.default_gap_days is not None:
            return self
        missing = [c for c in ("frequency", "gap_mean_days") if c not in features.columns]
        if missing:
            raise DataValidationError(
                f"features lack column(s) {missing} needed to fix the default gap",
                column=missing[0],
                hint="pass the output of churnmodel.features.customer_features",
            )
        repeat = features["frequency"].to_numpy(dtype=float) > 0
        own = np.maximum(features["gap_mean_days"].to_numpy(dtype=float), self.min_gap_days)
        return replace(self, default_gap_days=_default_gap(repeat, own, self))


def typical_gap_days(features: pd.DataFrame, rules: LifecycleRules = LifecycleRules()) -> pd.Series:
    """Return each customer's typical gap between purchase days (days), as the rules use it."""
    repeat, own = _own_gaps(features, rules)
    gap = np.where(repeat, own, _default_gap(repeat, own, rules))
    return pd.Series(gap, index=features.index, name="typical_gap_days")


def _own_gaps(features: pd.DataFrame, rules: LifecycleRules) -> tuple[np.ndarray, np.ndarray]:
    """Return which customers are repeat buyers and their mean gap (NaN for one-time buyers)."""
    _check_columns(features, ("frequency", "tenure_days", "days_since_last"))
    freq = features["frequency"].to_numpy(dtype=float)
    rec = _recency_days(features)
    return _own_gap_values(freq, rec, rules)


def _recency_days(features: pd.DataFrame) -> np.ndarray:
    """First to last purchase day (days) of a features table."""
    return features["tenure_days"].to_numpy(dtype=float) - features["days_since_last"].to_numpy(
        dtype=float
    )


def _check_columns(features: pd.DataFrame, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"life-cycle stages need column(s) {missing}; "
            f"columns present: {list(features.columns)}",
            column=missing[0],
            hint="compute features with churnmodel.customer_features",
        )


def _own_gap_values(
    freq: np.ndarray, rec: np.ndarray, rules: LifecycleRules
) -> tuple[np.ndarray, np.ndarray]:
    repeat = freq > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(repeat, rec / np.where(repeat, freq, 1.0), np.nan)
    return repeat, np.maximum(own, rules.min_gap_days)


def _default_gap(repeat: np.ndarray, own: np.ndarray, rules: LifecycleRules) -> float:
    """Return the gap one-time buyers are judged by: the rules' value or the repeat median."""
    if rules.default_gap_days is not None:
        default = float(rules.default_gap_days)
    else:
        default = float(np.median(own[repeat])) if repeat.any() else _FALLBACK_GAP_DAYS
    return max(default, rules.min_gap_days)


def assign_lifecycle_stage(
    features: pd.DataFrame, rules: LifecycleRules = LifecycleRules()
) -> pd.Series:
    """Return each customer's life-cycle stage as an ordered categorical Series.

    Parameters
    ----------
    features
        Customer features at a cut-off (:func:`~churnmodel.features.customer_features`)
        with at least ``frequency``, ``n_purchase_days``, ``days_since_last``,
        ``tenure_days`` and ``season_concentration``.
    rules
        Thresholds; see the module docstring. Unless ``default_gap_days`` is set, one-time
        buyers are judged by the median typical gap of the repeat customers in ``features``
        (as :func:`~churnmodel.features.customer_features` does at its cut-off).
    """
    rules.validate()
    _check_columns(features, _REQUIRED)
    columns = {
        "frequency": features["frequency"].to_numpy(),
        "n_purchase_days": features["n_purchase_days"].to_numpy(),
        "recency_days": _recency_days(features),
        "age_days": features["tenure_days"].to_numpy(),
        "season_concentration": features["season_concentration"].to_numpy(),
    }
    codes = lifecycle_codes(columns, rules)
    return pd.Series(
        pd.Categorical.from_codes(codes, dtype=STAGE_DTYPE),
        index=features.index,
        name="lifecycle_stage",
    )


#: The dtype of ``lifecycle_stage``: the stages in :data:`LIFECYCLE_STAGES` order.
STAGE_DTYPE = pd.CategoricalDtype(list(LIFECYCLE_STAGES))


def lifecycle_codes(columns: Mapping[str, np.ndarray], rules: LifecycleRules) -> np.ndarray:
    """Return the stage of each customer as codes into :data:`LIFECYCLE_STAGES` (int64).

    The rules of :func:`assign_lifecycle_stage` (``rules`` already validated) on the columns
    of the per-customer aggregate: ``frequency``, ``n_purchase_days``, ``recency_days``,
    ``age_days`` (first purchase day to the cut-off) and ``season_concentration``, for callers
    that hold the columns as arrays.
    """
    freq = np.asarray(columns["frequency"])
    rec = np.asarray(columns["recency_days"], dtype=float)
    repeat, own = _own_gap_values(freq.astype(float), rec, rules)
    gap = np.where(repeat, own, _default_gap(repeat, own, rules))
    tenure = np.asarray(columns["age_days"])
    since_last = (tenure - np.asarray(columns["recency_days"])).astype(float)
    ratio = since_last / gap
    n_days = np.asarray(columns["n_purchase_days"])
    concentration = np.asarray(columns["season_concentration"], dtype=float)
    seasonal = (
        (rec >= rules.seasonal_min_span_days)
        & (concentration >= rules.seasonal_min_concentration)
        & (since_last <= rules.seasonal_max_silence_days)
    )
    on_rhythm = ratio <= rules.lapse_ratio
    loyal = (n_days >= rules.loyal_min_purchase_days) & (tenure >= rules.loyal_min_tenure_days)
    code = {stage: i for i, stage in enumerate(LIFECYCLE_STAGES)}
    codes = np.select(
        [
            on_rhythm & (freq == 0),
            on_rhythm & loyal,
            on_rhythm,
            seasonal,
            ratio <= rules.long_lapse_ratio,
            ratio <= rules.inactive_ratio,
        ],
        [
            code["new"],
            code["loyal"],
            code["active"],
            code["lapsed_seasonal"],
            code["lapsed_short"],
            code["lapsed_long"],
        ],
        default=code["inactive"],
    )
    return codes.astype(np.int64)
