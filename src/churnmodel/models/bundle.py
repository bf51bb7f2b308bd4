"""The bundle of every fitted model plus the feature settings: what scores customers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import FeatureWindows, LifecycleRules, PurchaseRule
from churnmodel.features.customer import FeatureColumns, customer_feature_columns, to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.models.encoding import TabularEncoder
from churnmodel.models.probabilistic import (
    HORIZON_FREE_COLUMNS,
    PROBABILISTIC_COLUMNS,
    ProbabilisticFeatures,
)
from churnmodel.models.spend import extension_factor_values, rescaled_clv_values
from churnmodel.models.training import FEATURE_COLUMNS
from churnmodel.schemas import RFM_COLUMNS

__all__ = ["SCORE_COLUMNS", "ChurnBundle"]

# ------------------------------------------------------------------------------- bundle
#: Columns of the scores table, in order (index ``customer_id``).
SCORE_COLUMNS: tuple[str, ...] = (
    "as_of",
    "p_churn",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
    "value_at_risk",
    "lifecycle_stage",
    "model_version",
)


@dataclass(frozen=True)
class ChurnBundle:
    """Every fitted model plus the feature settings: what scores customers at any date.

    Built by :func:`churnmodel.workflows.fit_bundle`. Picklable with the standard library
    (no lambdas, no training frames: the probabilistic models keep parameters only, the
    supervised models their trees or coefficients), and small.

    Attributes
    ----------
    cutoff
        The cut-off the bundle was fitted at: nothing after it was read.
    horizon_days
        ``H``: horizon of ``p_churn``, ``expected_purchases`` and ``expected_spend``.
    label_horizon_days
        ``h``: label window of the training snapshots (``<= H``).
    time_unit, purchase, rules, windows
        Feature settings (:func:`churnmodel.features.customer_features`).
    probabilistic
        Purchase model + Gamma-Gamma fitted at ``cutoff`` on data up to it.
    classifier
        The calibrated :class:`~churnmodel.models.LapseClassifier`.
    spend_model
        The :class:`~churnmodel.models.SpendRegressor` (``h``-day spend).
    clv_method
        ``"rescaled"`` or ``"probabilistic"`` (:func:`~churnmodel.models.rescaled_clv`).
    training_summary
        One row per training cut-off (role, customers, lapse rate, mean spend): no customer rows.
    fit_warnings
        Degenerate-fit messages of the probabilistic models, by cut-off.
    model_version
        Written to the ``model_version`` column of the scores (set by the tracking layer).
    """

    cutoff: date
    horizon_days: int
    label_horizon_days: int
    time_unit: str
    purchase: PurchaseRule | None
    rules: LifecycleRules | None
    windows: FeatureWindows | None
    probabilistic: ProbabilisticFeatures
    classifier: Any
    spend_model: Any
    clv_method: str = "rescaled"
    training_summary: pd.DataFrame | None = None
    fit_warnings: Mapping[str, list[str]] = field(default_factory=dict)
    model_version: str | None = None

    def features(self, transactions: TransactionsLike, as_of: Any) -> pd.DataFrame:
        """Return customer features at ``as_of`` with the bundle's feature settings."""
        return self._feature_columns(transactions, as_of).frame()

    def model_frame(self, features: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
        """Return :data:`FEATURE_COLUMNS`, probabilistic columns over ``horizon_days``."""
        prob = self.probabilistic.transform(features, horizon_days)
        return pd.concat([features, prob], axis=1).loc[:, list(FEATURE_COLUMNS)]

    def predict(
        self,
        data: pd.DataFrame | TransactionsLike,
        as_of: Any = None,
        *,
        include_baselines: bool = False,
    ) -> pd.DataFrame:
        """Score every customer known at ``as_of``.

        Parameters
        ----------
        data
            Customer features (from :meth:`features` or
            :func:`churnmodel.features.customer_features` with the bundle's settings), or
            canonical transactions, whose features at ``as_of`` are computed here.
        as_of
            Scoring date; required with transactions, read from ``data.attrs["as_of"]`` with
            features.
        include_baselines
            Add the baseline scores the scorecard compares with: ``baseline_recency`` (days
            since the last purchase), ``baseline_{purchase model}`` (P(no purchase in H)),
            ``baseline_scaled_spend`` (spend in the trailing ``min(365, history)`` days scaled
            to H), ``baseline_{purchase model}_gg`` (expected purchases x Gamma-Gamma spend in
            H), plus ``prob_clv`` (the probabilistic CLV) and ``p_churn_uncalibrated``.

        Returns
        -------
        pandas.DataFrame
            Index ``customer_id``; columns :data:`SCORE_COLUMNS`: ``as_of``, ``p_churn``
            (calibrated P(no purchase in the next H days)), ``p_alive``, ``expected_purchases``
            (purchase model, H days), ``expected_spend`` (supervised, H days), ``clv``,
            ``value_at_risk`` (= clv x p_churn), ``lifecycle_stage``, ``model_version``.
        """
        # The work runs on columns (arrays), not frames: a scoring request holds a customer or
        # two, where building and taking apart DataFrames costs more than the arithmetic.
        features = self._features(data, as_of)
        H = float(self.horizon_days)
        if len(features) == 0:  # nobody has bought by as_of: no rows, the same columns
            prob_H = {c: np.zeros(0) for c in PROBABILISTIC_COLUMNS}
            p_churn = spend = np.zeros(0)
        else:
            prob_H = self.probabilistic.transform_columns(features, H)
            p_churn = self._lapse_proba(features, prob_H)
            spend_h, factor = self._spend_columns(features, prob_H)
            spend = spend_h * factor
        if self.clv_method == "rescaled":
            clv = rescaled_clv_values(
                spend,
                expected_purchases=prob_H["prob_expected_purchases"],
                discounted_purchases=prob_H["prob_clv"] / prob_H["prob_spend_per_purchase"],
            )
        else:
            clv = np.where(np.isnan(prob_H["prob_clv"]), 0.0, prob_H["prob_clv"])
        columns: dict[str, Any] = {
            "as_of": np.full(
                len(features), pd.Timestamp(features.attrs.get("as_of", as_of)).to_datetime64()
            ),
            "p_churn": p_churn,
            "p_alive": prob_H["prob_p_alive"],
            "expected_purchases": prob_H["prob_expected_purchases"],
            "expected_spend": spend,
            "clv": clv,
            "value_at_risk": clv * p_churn,
            "lifecycle_stage": features.columns["lifecycle_stage"],
            "model_version": pd.array([self.model_version] * len(features), dtype="string"),
        }
        if include_baselines:
            name = self.probabilistic.purchase_model
            values = features.columns
            history = min(365.0, float(np.max(values["tenure_days"], initial=0)) + 1.0)
            columns["baseline_recency"] = values["days_since_last"].astype(np.float64)
            columns[f"baseline_{name}"] = prob_H["prob_p_no_purchase"]
            columns["baseline_scaled_spend"] = (
                np.clip(values["spend_365d"], 0.0, None).astype(np.float64) * H / history
            )
            columns[f"baseline_{name}_gg"] = prob_H["prob_expected_spend"]
            columns["prob_clv"] = prob_H["prob_clv"]
            columns["p_churn_uncalibrated"] = (
                self.classifier.predict_uncalibrated(self._frame(features, prob_H))
                if len(features)
                else np.zeros(0)
            )
        return pd.DataFrame(columns, index=features.index)

    def spend_inputs(
        self, features: pd.DataFrame, prob_H: pd.DataFrame | None = None
    ) -> tuple[pd.DataFrame, pd.Series]:
        """Return what the spend model reads and the factor that carries it from ``h`` to ``H``.

        Parameters
        ----------
        features
            Customer features at the scoring date.
        prob_H
            The probabilistic columns over ``H`` if already computed.

        Returns
        -------
        tuple
            ``X_h`` (:data:`FEATURE_COLUMNS`, probabilistic columns over the label window
            ``h``) and the extension factor ``E[X(H)] / E[X(h)]`` (1 when ``h == H``); the
            expected spend over ``H`` is ``spend_model.predict(X_h) * factor``.
        """
        H = float(self.horizon_days)
        columns = FeatureColumns.of(features)
        if prob_H is None:
            cols_H = self.probabilistic.transform_columns(columns, H)
        else:
            cols_H = {c: prob_H[c].to_numpy() for c in PROBABILISTIC_COLUMNS}
        prob_h, factor = self._label_window(columns, cols_H)
        return (
            self._frame(columns, prob_h),
            pd.Series(factor, index=features.index, name="extension_factor"),
        )

    def _label_window(
        self, features: FeatureColumns, prob_H: Mapping[str, np.ndarray]
    ) -> tuple[Mapping[str, np.ndarray], np.ndarray]:
        """Return the probabilistic columns over the label window ``h`` and the factor to ``H``.

        The spend model was fitted on ``h``-day spend; ``E[X(H)] / E[X(h)]`` carries its
        prediction to ``H`` (1 when ``h == H``).
        """
        H, h = float(self.horizon_days), float(self.label_horizon_days)
        if h == H:
            prob_h = prob_H
        else:
            reuse = {c: prob_H[c] for c in HORIZON_FREE_COLUMNS}
            prob_h = self.probabilistic.transform_columns(features, h, reuse=reuse)
        factor = extension_factor_values(
            prob_h["prob_expected_purchases"],
            prob_H["prob_expected_purchases"],
            short_days=h,
            long_days=H,
        )
        return prob_h, factor

    def _spend_columns(
        self, features: FeatureColumns, prob_H: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the spend model's ``h``-day prediction and the factor to ``H`` (arrays)."""
        prob_h, factor = self._label_window(features, prob_H)
        spend_h = self._model_output(self.spend_model, "predict", features, prob_h)
        return np.asarray(spend_h, dtype=np.float64), factor

    def _lapse_proba(
        self, features: FeatureColumns, prob_H: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Return the classifier's P(lapse) over ``H`` of each customer."""
        proba = self._model_output(self.classifier, "predict_proba", features, prob_H)
        return np.asarray(proba[:, 1], dtype=np.float64)

    @classmethod
    def _model_output(
        cls, model: Any, method: str, features: FeatureColumns, prob: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Return ``model.<method>`` of :data:`FEATURE_COLUMNS` (with ``prob``'s columns).

        A model with a :class:`TabularEncoder` and ``<method>_encoded`` (the lapse and spend
        models) is given the encoded columns; any other gets the frame.
        """
        encoder = getattr(model, "encoder_", None)
        encoded = getattr(model, f"{method}_encoded", None)
        if isinstance(encoder, TabularEncoder) and encoded is not None:
            return np.asarray(
                encoded(encoder.transform_columns({**features.columns, **prob}, len(features)))
            )
        return np.asarray(getattr(model, method)(cls._frame(features, prob)))

    @staticmethod
    def _frame(features: FeatureColumns, prob: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Return :data:`FEATURE_COLUMNS` as a frame (for models without an encoder)."""
        values = {**features.columns, **prob}
        return pd.DataFrame({c: values[c] for c in FEATURE_COLUMNS}, index=features.index)

    def _feature_columns(self, transactions: TransactionsLike, as_of: Any) -> FeatureColumns:
        return customer_feature_columns(
            transactions,
            as_of,
            time_unit=self.time_unit,
            purchase=self.purchase,
            rules=self.rules,
            windows=self.windows,
        )

    def _features(self, data: Any, as_of: Any) -> FeatureColumns:
        if isinstance(data, pd.DataFrame) and set(RFM_COLUMNS) <= set(data.columns):
            if data.attrs.get("time_unit") != self.time_unit:
                raise DataValidationError(
                    f"the features are in time unit {data.attrs.get('time_unit')!r}; the bundle "
                    f"was fitted with {self.time_unit!r}",
                    hint="compute features with ChurnBundle.features(transactions, as_of)",
                )
            if as_of is not None and to_date(as_of) != to_date(data.attrs.get("as_of", as_of)):
                raise DataValidationError(
                    f"as_of={as_of!r} but the features were computed at {data.attrs['as_of']}"
                )
            return FeatureColumns.of(data)
        if as_of is None:
            raise ConfigError("'as_of' is required when scoring transactions")
        return self._feature_columns(data, as_of)
