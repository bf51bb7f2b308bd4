"""Purchase model and Gamma-Gamma fitted at one cut-off, turned into feature columns."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.features.customer import FeatureColumns
from churnmodel.models._base import DegenerateFitWarning
from churnmodel.models._purchase import PurchaseModel
from churnmodel.models._summary import read_summary
from churnmodel.models.beta_geo import BetaGeoModel
from churnmodel.models.clv import discount_arrays, lifetime_value_arrays
from churnmodel.models.gamma_gamma import GammaGammaModel
from churnmodel.models.modified_beta_geo import ModifiedBetaGeoModel
from churnmodel.models.pareto_nbd import ParetoNBDModel
from churnmodel.schemas import RFM_COLUMNS, days_per_unit

__all__ = [
    "HORIZON_FREE_COLUMNS",
    "PROBABILISTIC_COLUMNS",
    "PURCHASE_MODELS",
    "ProbabilisticFeatures",
]

PROBABILISTIC_COLUMNS: tuple[str, ...] = (
    "prob_p_alive",
    "prob_p_no_purchase",
    "prob_expected_purchases",
    "prob_spend_per_purchase",
    "prob_expected_spend",
    "prob_clv",
)
#: Categorical feature columns.
PURCHASE_MODELS: Mapping[str, type[PurchaseModel]] = {
    "bgnbd": BetaGeoModel,
    "mbgnbd": ModifiedBetaGeoModel,
    "pareto": ParetoNBDModel,
}
# Gamma-Gamma needs positive mean spend; a repeat buyer whose repeat days net to $0 (CDNOW
# free orders) is predicted with one cent instead (the formula is continuous there).
_MIN_MONETARY = 0.01


# ---------------------------------------------------------------- probabilistic features
class ProbabilisticFeatures:
    """A purchase model and Gamma-Gamma fitted at one cut-off, turned into feature columns.

    Follows the scikit-learn conventions (keyword-only hyperparameters, ``fit`` returns self,
    fitted state ends in ``_``, no training data kept) but takes a customer-features frame and a
    horizon, so it is not a scikit-learn transformer.

    Parameters
    ----------
    purchase_model
        ``"bgnbd"`` (default), ``"mbgnbd"`` or ``"pareto"``.
    clv_horizon_days, clv_period_days, annual_discount_rate
        Settings of the discounted CLV (``prob_clv``).
    penalizer
        L2 penalty of the purchase model fit (0: maximum likelihood).

    Attributes
    ----------
    purchase_model_ : PurchaseModel
    spend_model_ : GammaGammaModel
    time_unit_ : str
        Unit of the summary the models were fitted on.
    fit_warnings_ : list of str
        Messages of the :class:`~churnmodel.models.DegenerateFitWarning` raised while fitting
        (kept, not re-emitted: a training set fits one model per cut-off).
    """

    def __init__(
        self,
        *,
        purchase_model: str = "bgnbd",
        clv_horizon_days: float = 365.0,
        clv_period_days: float = 30.0,
        annual_discount_rate: float = 0.1,
        penalizer: float = 0.0,
    ) -> None:
        self.purchase_model = purchase_model
        self.clv_horizon_days = clv_horizon_days
        self.clv_period_days = clv_period_days
        self.annual_discount_rate = annual_discount_rate
        self.penalizer = penalizer

    def __repr__(self) -> str:
        return (
            f"ProbabilisticFeatures(purchase_model={self.purchase_model!r}, "
            f"clv_horizon_days={self.clv_horizon_days!r})"
        )

    def fit(self, features: pd.DataFrame) -> Self:
        """Fit the purchase model and Gamma-Gamma on the customers of a features frame.

        Parameters
        ----------
        features
            Customer features at one cut-off (:func:`churnmodel.features.customer_features`):
            ``frequency``, ``recency``, ``T``, ``monetary_value``, ``attrs["time_unit"]``.
            Repeat buyers whose repeat days net to 0 are left out of the Gamma-Gamma fit.

        Returns
        -------
        self
        """
        self._check_settings()
        summary = _summary(features)
        repeat = summary["frequency"] > 0
        spendable = ~repeat | (features["monetary_value"] > 0)
        return self._fit(summary, summary[spendable.to_numpy()], str(summary.attrs["time_unit"]))

    def fit_summaries(
        self, purchases: pd.DataFrame, spend: pd.DataFrame, *, time_unit: str
    ) -> Self:
        """Fit on compressed summaries: the same models as :meth:`fit` on every customer.

        For a log that lives elsewhere (``churnmodel train --engine spark``): one row per
        distinct value, with the number of customers sharing it, is all the fits read.

        Parameters
        ----------
        purchases
            ``frequency``, ``recency``, ``T`` and ``customers``: one row per distinct
            (frequency, recency, T) of the customers at the cut-off (in ``time_unit``).
        spend
            ``frequency``, ``monetary_value`` and ``customers``: one row per distinct
            (frequency, monetary_value) of the customers whose features have
            ``frequency == 0`` or ``monetary_value > 0`` (those :meth:`fit` keeps).
        time_unit
            Unit of ``recency`` and ``T``.
        """
        self._check_settings()
        for name, table, columns in (
            ("purchases", purchases, ("frequency", "recency", "T", "customers")),
            ("spend", spend, ("frequency", "monetary_value", "customers")),
        ):
            missing = [c for c in columns if c not in table.columns]
            if missing:
                raise DataValidationError(
                    f"the {name} summary has no column {missing[0]!r}", column=missing[0]
                )
        purchase_summary = purchases.loc[:, ["frequency", "recency", "T", "customers"]]
        purchase_summary.attrs = {"time_unit": time_unit}
        freq = spend["frequency"].to_numpy()
        money = spend["monetary_value"].to_numpy(dtype=np.float64)
        spend_summary = pd.DataFrame(
            {
                "frequency": freq,
                "monetary_value": np.where(freq > 0, np.maximum(money, _MIN_MONETARY), 0.0),
                "customers": spend["customers"].to_numpy(),
            }
        )
        return self._fit(purchase_summary, spend_summary, time_unit, weights="customers")

    def _check_settings(self) -> None:
        if self.purchase_model not in PURCHASE_MODELS:
            raise ConfigError(
                f"'purchase_model' must be one of {sorted(PURCHASE_MODELS)}, "
                f"got {self.purchase_model!r}"
            )
        for name in ("clv_horizon_days", "clv_period_days"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name!r} must be > 0, got {value!r}")
        rate = self.annual_discount_rate
        if not isinstance(rate, int | float) or not math.isfinite(rate) or rate < 0:
            raise ConfigError(f"'annual_discount_rate' must be >= 0, got {rate!r}")

    def _fit(
        self,
        purchases: pd.DataFrame,
        spend: pd.DataFrame,
        time_unit: str,
        *,
        weights: str | None = None,
    ) -> Self:
        """Fit the purchase model on ``purchases`` and Gamma-Gamma on ``spend``."""
        caught: list[str] = []
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always", DegenerateFitWarning)
            purchase = PURCHASE_MODELS[self.purchase_model](penalizer=self.penalizer)
            purchase.fit(purchases, time_unit=time_unit, weights=weights)
            spend_model = GammaGammaModel().fit(spend, weights=weights)
        for record in records:
            if issubclass(record.category, DegenerateFitWarning):
                caught.append(str(record.message))
            else:  # not ours to silence
                warnings.warn_explicit(
                    record.message, record.category, record.filename, record.lineno
                )
        self.purchase_model_: PurchaseModel = purchase
        self.spend_model_: GammaGammaModel = spend_model
        self.time_unit_: str = time_unit
        self.fit_warnings_: list[str] = caught
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "purchase_model_"):
            raise NotFittedError(
                "this ProbabilisticFeatures is not fitted yet; call fit(features) first"
            )

    def transform(
        self,
        features: pd.DataFrame,
        horizon_days: float,
        *,
        reuse: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Return :data:`PROBABILISTIC_COLUMNS` for each customer over ``horizon_days``.

        Parameters
        ----------
        features
            Customer features at a cut-off, in any time unit (converted to the fitted one).
        horizon_days
            The horizon of ``prob_p_no_purchase``, ``prob_expected_purchases`` and
            ``prob_expected_spend`` (= expected purchases x expected spend per purchase).
        reuse
            This method's output for the same ``features`` over another horizon: its columns
            that do not depend on the horizon (``prob_p_alive``, ``prob_spend_per_purchase``,
            ``prob_clv``) are taken from it instead of computed again (the CLV sum is most of
            the cost).

        Returns
        -------
        pandas.DataFrame
            Indexed like ``features``: ``prob_p_alive``, ``prob_p_no_purchase``,
            ``prob_expected_purchases``, ``prob_spend_per_purchase``, ``prob_expected_spend``,
            ``prob_clv`` (discounted, over ``clv_horizon_days``). Non-finite model outputs
            (degenerate fits) are left NaN; the gradient-boosting models read NaN as missing.
        """
        if reuse is not None and not reuse.index.equals(features.index):
            raise ValueError("'reuse' must be the transform of the same customers")
        reused = None if reuse is None else {c: reuse[c].to_numpy() for c in HORIZON_FREE_COLUMNS}
        columns = self.transform_columns(features, horizon_days, reuse=reused)
        return pd.DataFrame(columns, index=features.index)

    def transform_columns(
        self,
        features: pd.DataFrame | FeatureColumns,
        horizon_days: float,
        *,
        reuse: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Return :meth:`transform`'s columns as arrays (name -> values, customers in order).

        ``features`` may be :class:`~churnmodel.features.customer.FeatureColumns`; ``reuse``
        holds the horizon-free columns of another horizon's output for the same customers.
        """
        self._check_fitted()
        if not (isinstance(horizon_days, int | float) and horizon_days > 0):
            raise ConfigError(f"'horizon_days' must be > 0, got {horizon_days!r}")
        summary = _summary(features)
        unit = str(summary.attrs["time_unit"])
        pm, sm = self.purchase_model_, self.spend_model_
        # Validated once; the models' own array methods (what their public methods wrap).
        data = read_summary(summary, monetary=True).in_unit(pm.time_unit_)
        model_unit = days_per_unit(unit) / days_per_unit(pm.time_unit_)
        horizon = float(horizon_days) / days_per_unit(unit) * model_unit
        with np.errstate(all="ignore"):
            purchases = pm._expected_purchases(data, horizon)
            if reuse is not None:
                p_alive = np.asarray(reuse["prob_p_alive"])
                per_purchase = np.asarray(reuse["prob_spend_per_purchase"])
                clv = np.asarray(reuse["prob_clv"])
                p_none = pm._probability_no_purchase(data, horizon)
            else:
                p_alive = pm._probability_alive(data)
                p_none = pm._probability_no_purchase(data, horizon, alive=p_alive)
                money = np.asarray(data.monetary_value)
                per_purchase = sm._expected_spend(sm.params_, data.frequency, money)
                ends, factors = discount_arrays(
                    float(self.clv_horizon_days),
                    float(self.clv_period_days),
                    float(self.annual_discount_rate),
                    365.0,
                )
                _, _, clv = lifetime_value_arrays(
                    pm, sm, data, ends / days_per_unit(pm.time_unit_), factors, spend=per_purchase
                )
            columns = {
                "prob_p_alive": p_alive,
                "prob_p_no_purchase": p_none,
                "prob_expected_purchases": purchases,
                "prob_spend_per_purchase": per_purchase,
                "prob_expected_spend": purchases * per_purchase,
                "prob_clv": clv,
            }
        # Non-finite outputs of a degenerate fit are left missing.
        return {k: np.where(np.isfinite(v), v, np.nan) for k, v in columns.items()}


#: The columns of ProbabilisticFeatures' output that do not depend on the horizon.
HORIZON_FREE_COLUMNS = ("prob_p_alive", "prob_spend_per_purchase", "prob_clv")


def _summary(features: pd.DataFrame | FeatureColumns) -> pd.DataFrame:
    """Return the RFM summary the probabilistic models read (one-cent floor on spend)."""
    if not isinstance(features, pd.DataFrame | FeatureColumns):
        raise DataValidationError(
            f"customer features must be a DataFrame, got {type(features).__name__}"
        )
    missing = [c for c in RFM_COLUMNS if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"customer features have no column {missing[0]!r}",
            column=missing[0],
            hint="build them with churnmodel.features.customer_features",
        )
    if "time_unit" not in features.attrs:
        raise DataValidationError(
            "customer features do not say which unit recency and T are in "
            "(attrs has no 'time_unit')",
            hint="build them with churnmodel.features.customer_features",
        )
    columns = {name: _values(features, name) for name in RFM_COLUMNS}
    freq = columns["frequency"]
    money = np.asarray(columns["monetary_value"], dtype=np.float64)
    columns["monetary_value"] = np.where(freq > 0, np.maximum(money, _MIN_MONETARY), 0.0)
    summary = pd.DataFrame(columns, index=features.index)
    summary.attrs = {"time_unit": features.attrs["time_unit"]}
    return summary


def _values(features: pd.DataFrame | FeatureColumns, name: str) -> Any:
    """Return one column of features as an array (a Categorical for the stage)."""
    if isinstance(features, FeatureColumns):
        return features.columns[name]
    column = features[name]
    return column.array if isinstance(column.dtype, pd.CategoricalDtype) else column.to_numpy()
