"""Fit BG/NBD, MBG/NBD and Pareto/NBD side by side and choose one by a documented rule.

The rule, in order:

1. with a holdout series of repeat purchases per period (tracking data), the model with the
   lowest MAPE of *cumulative* repeat purchases over the holdout periods;
2. else, with a per-customer holdout (``frequency_holdout``, ``duration_holdout``), the model with
   the lowest mean absolute error of each customer's holdout purchases;
3. else, the lowest AIC on the calibration data.

Ties (equal to 1e-12) go to the lower AIC. Out-of-sample tracking is preferred because the models
differ mostly in how they extrapolate dropout, which the calibration fit cannot show; AIC is the
fallback because all three have four parameters, so it ranks them by likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from churnmodel.exceptions import DataValidationError, ModelFitError
from churnmodel.models._purchase import PurchaseModel
from churnmodel.models._summary import read_summary
from churnmodel.models.beta_geo import BetaGeoModel
from churnmodel.models.modified_beta_geo import ModifiedBetaGeoModel
from churnmodel.models.pareto_nbd import ParetoNBDModel

__all__ = ["ModelComparison", "compare_purchase_models"]


@dataclass(frozen=True)
class ModelComparison:
    """Result of :func:`compare_purchase_models`.

    Attributes
    ----------
    table
        One row per candidate: ``n_params``, ``log_likelihood``, ``aic``, ``bic`` and, with a
        holdout, ``holdout_mape`` (tracking series; a fraction, 0.05 = 5 %) or ``holdout_mae`` and
        ``holdout_total_error`` (per-customer holdout; relative error of the total).
    models
        The fitted candidates by name (those that could be fitted).
    best
        Name of the chosen model.
    rule
        The criterion that chose it, in words.
    errors
        Candidates that could not be fitted, with the reason.
    """

    table: pd.DataFrame
    models: dict[str, PurchaseModel]
    best: str
    rule: str
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def best_model(self) -> PurchaseModel:
        """The fitted chosen model."""
        return self.models[self.best]


def _default_candidates() -> dict[str, PurchaseModel]:
    return {
        "BG/NBD": BetaGeoModel(),
        "MBG/NBD": ModifiedBetaGeoModel(),
        "Pareto/NBD": ParetoNBDModel(),
    }


def compare_purchase_models(
    calibration: pd.DataFrame,
    *,
    holdout: pd.Series | pd.DataFrame | None = None,
    time_unit: str | None = None,
    candidates: Mapping[str, PurchaseModel] | None = None,
) -> ModelComparison:
    """Fit the purchase models on a calibration summary and choose one.

    Parameters
    ----------
    calibration
        RFM summary at the end of the calibration period.
    holdout
        Optional out-of-sample data, either

        * a Series of actual repeat purchases per period by the calibration customers, indexed
          by the period end measured from the cut-off in the summary's time unit (e.g. 1, 2, ...,
          39 for weekly data in weeks); or
        * a DataFrame indexed like ``calibration`` with ``frequency_holdout`` (purchases in the
          holdout) and ``duration_holdout`` (its length, in the summary's time unit).
    time_unit
        Unit of the summary if ``calibration.attrs`` has no ``"time_unit"``.
    candidates
        Unfitted models by name (cloned before fitting); default BG/NBD, MBG/NBD, Pareto/NBD.

    Returns
    -------
    ModelComparison
        The table, the fitted models and the choice (see the module docstring for the rule).

    Raises
    ------
    ModelFitError
        If no candidate could be fitted.
    DataValidationError
        If the summary or the holdout breaks a rule.
    """
    data = read_summary(calibration, time_unit=time_unit)
    unit = data.time_unit
    n = len(data)
    # Check the holdout before spending time on fits.
    if isinstance(holdout, pd.Series):
        periods, actual = _tracking_series(holdout)
    elif isinstance(holdout, pd.DataFrame):
        freq, duration = _per_customer_holdout(holdout, data.index)
    elif holdout is not None:
        raise DataValidationError(
            f"'holdout' must be a pandas Series or DataFrame, got {type(holdout).__name__}"
        )
    models: dict[str, PurchaseModel] = {}
    errors: dict[str, str] = {}
    rows: dict[str, dict[str, float]] = {}
    for name, candidate in (candidates or _default_candidates()).items():
        model = clone(candidate)
        try:
            model.fit(calibration, time_unit=time_unit)
        except ModelFitError as exc:
            errors[name] = str(exc)
            continue
        models[name] = model
        k = len(model.param_names)
        ll = model.log_likelihood_
        rows[name] = {
            "n_params": float(k),
            "log_likelihood": ll,
            "aic": 2 * k - 2 * ll,
            "bic": k * math.log(n) - 2 * ll,
        }
    if not models:
        reasons = " | ".join(f"{k}: {v}" for k, v in errors.items())
        raise ModelFitError(
            f"no purchase model could be fitted: {reasons}",
            details={"errors": errors},
        )

    metric = "aic"
    rule = "lowest AIC on the calibration data (no holdout given)"
    if isinstance(holdout, pd.Series):
        cumulative = np.cumsum(actual)
        used = cumulative > 0
        for name, model in models.items():
            tracked = model.expected_cumulative_purchases(calibration, periods, time_unit=unit)
            errors_abs = np.abs(tracked.to_numpy()[used] - cumulative[used]) / cumulative[used]
            rows[name]["holdout_mape"] = float(errors_abs.mean()) if used.any() else math.nan
        metric = "holdout_mape"
        rule = "lowest MAPE of cumulative repeat purchases over the holdout periods"
    elif isinstance(holdout, pd.DataFrame):
        for name, model in models.items():
            predicted = np.empty(n)
            for length in np.unique(duration):
                rows_here = duration == length
                if length <= 0:
                    predicted[rows_here] = 0.0
                    continue
                expected = model.expected_purchases(calibration, float(length), time_unit=unit)
                predicted[rows_here] = expected.to_numpy()[rows_here]
            rows[name]["holdout_mae"] = float(np.mean(np.abs(predicted - freq)))
            total = float(freq.sum())
            rows[name]["holdout_total_error"] = (
                (float(predicted.sum()) - total) / total if total > 0 else math.nan
            )
        metric = "holdout_mae"
        rule = "lowest mean absolute error of per-customer holdout purchases"

    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    ranked = table.assign(_m=table[metric].fillna(np.inf).round(12)).sort_values(["_m", "aic"])
    best = str(ranked.index[0])
    return ModelComparison(table=table, models=models, best=best, rule=rule, errors=errors)


def _tracking_series(holdout: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    hint = (
        "pass actual repeat purchases per period, indexed by the period end measured from the "
        "cut-off in the summary's time unit (1, 2, 3, ...)"
    )
    try:
        periods = np.asarray(holdout.index, dtype=np.float64)
        actual = np.asarray(holdout.to_numpy(), dtype=np.float64)
    except (TypeError, ValueError):
        raise DataValidationError("the holdout series must be numeric", hint=hint) from None
    if periods.size == 0:
        raise DataValidationError("the holdout series is empty", hint=hint)
    if not (np.all(np.isfinite(periods)) and np.all(periods > 0) and np.all(np.diff(periods) > 0)):
        raise DataValidationError(
            f"the holdout index must be increasing period ends > 0, got {periods[:5].tolist()}...",
            hint=hint,
        )
    if not (np.all(np.isfinite(actual)) and np.all(actual >= 0)):
        raise DataValidationError("the holdout purchases must be finite and >= 0", hint=hint)
    return periods, actual


def _per_customer_holdout(holdout: pd.DataFrame, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    hint = "pass a DataFrame indexed like the calibration summary with those two columns"
    for column in ("frequency_holdout", "duration_holdout"):
        if column not in holdout.columns:
            raise DataValidationError(
                f"the holdout frame has no column {column!r}", column=column, hint=hint
            )
    missing = index.difference(holdout.index)
    if len(missing) > 0:
        raise DataValidationError(
            f"{len(missing)} calibration customers are missing from the holdout frame "
            f"(first: {missing[0]!r})",
            hint=hint,
        )
    aligned = holdout.loc[index]
    freq = aligned["frequency_holdout"].to_numpy(dtype=np.float64)
    duration = aligned["duration_holdout"].to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(freq) & np.isfinite(duration) & (freq >= 0) & (duration >= 0))
    if bad.any():
        raise DataValidationError(
            f"{int(bad.sum())} holdout rows have missing or negative values",
            rows=aligned.loc[bad, ["frequency_holdout", "duration_holdout"]],
            hint=hint,
        )
    return freq, duration
