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
from churnmodel.models._summary import RFMData
from churnmodel.models.clv import discount_arrays
from churnmodel.models.encoding import TabularEncoder
from churnmodel.models.probabilistic import (
    HORIZON_FREE_COLUMNS,
    PROBABILISTIC_COLUMNS,
    ProbabilisticFeatures,
)
from churnmodel.models.spend import (
    extension_factor_values,
    rescaled_clv_values,
    window_discount,
)
from churnmodel.models.training import FEATURE_COLUMNS
from churnmodel.schemas import RFM_COLUMNS, days_per_unit

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
    "horizon_days",
    "clv_horizon_days",
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

    def feature_columns(self, transactions: TransactionsLike, as_of: Any) -> FeatureColumns:
        """Return :meth:`features` as columns, which :meth:`predict` takes as they are.

        The batch job computes the next chunk's features (DuckDB) while the models score this
        one: ``predict(bundle.feature_columns(t, as_of), as_of)`` is ``predict(t, as_of)``.
        """
        return self._feature_columns(transactions, as_of)

    def model_frame(self, features: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
        """Return :data:`FEATURE_COLUMNS`, probabilistic columns over ``horizon_days``."""
        prob = self.probabilistic.transform(features, horizon_days)
        return pd.concat([features, prob], axis=1).loc[:, list(FEATURE_COLUMNS)]

    def predict(
        self,
        data: pd.DataFrame | TransactionsLike | FeatureColumns,
        as_of: Any = None,
        *,
        include_baselines: bool = False,
    ) -> pd.DataFrame:
        """Score every customer known at ``as_of``.

        Parameters
        ----------
        data
            Customer features (from :meth:`features` or :meth:`feature_columns`, or
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
            (purchase model, H days), ``expected_spend`` (supervised, H days, capped by the
            purchase model), ``clv`` (see :func:`~churnmodel.models.rescaled_clv`),
            ``value_at_risk`` (= clv x p_churn), ``lifecycle_stage``, ``horizon_days`` (H),
            ``clv_horizon_days``, ``model_version``.
        """
        # The work runs on columns (arrays), not frames: a scoring request holds a customer or
        # two, where building and taking apart DataFrames costs more than the arithmetic.
        features = self._features(data, as_of)
        H = float(self.horizon_days)
        n = len(features)
        prob_H: Mapping[str, np.ndarray]
        if n == 0:  # nobody has bought by as_of: no rows, the same columns
            prob_H = {c: np.zeros(0) for c in PROBABILISTIC_COLUMNS}
            p_churn = spend = tail = np.zeros(0)
        else:
            prob_H = self.probabilistic.transform_columns(features, H)
            p_churn = self._lapse_proba(features, prob_H)
            spend_h, factor = self._spend_columns(features, prob_H)
            spend = spend_h * factor
            tail = self._tail_spend(features, prob_H)
        if self.clv_method == "rescaled":
            clv = rescaled_clv_values(spend, tail_spend=tail, weight=self._window_weight())
        else:
            clv = np.where(np.isnan(prob_H["prob_clv"]), 0.0, prob_H["prob_clv"])
        columns: dict[str, Any] = {
            "as_of": np.full(n, pd.Timestamp(features.attrs.get("as_of", as_of)).to_datetime64()),
            "p_churn": p_churn,
            "p_alive": prob_H["prob_p_alive"],
            "expected_purchases": prob_H["prob_expected_purchases"],
            "expected_spend": spend,
            "clv": clv,
            "value_at_risk": clv * p_churn,
            "lifecycle_stage": features.columns["lifecycle_stage"],
            "horizon_days": np.full(n, H),
            "clv_horizon_days": np.full(n, float(self.probabilistic.clv_horizon_days)),
            "model_version": pd.array([self.model_version] * n, dtype="string"),
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
                if n
                else np.zeros(0)
            )
        return pd.DataFrame(columns, index=features.index)

    @property
    def spend_level(self) -> float:
        """The factor that scales the purchase model's spend beyond ``H`` in the CLV.

        The spend model's ``level_ratio_`` (total spend over the purchase model x Gamma-Gamma's
        on its training rows); 1 when it has none.
        """
        level = getattr(self.spend_model, "level_ratio_", None)
        if level is None or not np.isfinite(level) or level <= 0:
            return 1.0
        return float(level)

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
            ``h``) and the extension factor (:meth:`extension_factor`; 1 when ``h == H``); the
            expected spend over ``H`` is ``spend_model.predict(X_h) * factor``.
        """
        H = float(self.horizon_days)
        columns = FeatureColumns.of(features)
        if prob_H is None:
            cols_H = self.probabilistic.transform_columns(columns, H)
        else:
            cols_H = {c: prob_H[c].to_numpy() for c in PROBABILISTIC_COLUMNS}
        prob_h = self._label_window(columns, cols_H)
        return (
            self._frame(columns, prob_h),
            pd.Series(self._extension(columns), index=features.index, name="extension_factor"),
        )

    def tail_spend(self, features: pd.DataFrame, prob_H: pd.DataFrame | None = None) -> pd.Series:
        """Return the CLV's part after ``H``: the purchase model's discounted spend, levelled.

        The purchase model x Gamma-Gamma's expected spend in the CLV's periods that end after
        ``H`` (the first one from ``H``), each discounted at its end, times
        :attr:`spend_level`; 0 when the CLV horizon is not longer than ``H`` or
        ``clv_method`` is ``"probabilistic"``. With ``expected_spend``, the CLV is
        ``rescaled_clv(expected_spend, tail_spend=..., ...)``
        (:func:`~churnmodel.models.rescaled_clv`).
        """
        columns = FeatureColumns.of(features)
        if prob_H is None:
            cols_H = self.probabilistic.transform_columns(columns, float(self.horizon_days))
        else:
            cols_H = {c: prob_H[c].to_numpy() for c in PROBABILISTIC_COLUMNS}
        return pd.Series(self._tail_spend(columns, cols_H), index=features.index, name="tail_spend")

    def extension_factor(self, features: pd.DataFrame) -> pd.Series:
        """Return the factor that carries the ``h``-day supervised spend to ``H`` days.

        ``E[X(H)] / E[X(h)]`` of the purchase model (:func:`horizon_extension_factor`) for
        the customer's history read ``h`` days after their last purchase: the shape of their
        purchase curve, at a fixed time since the last purchase so that it does not change as
        the customer grows stale (read at the scoring date it rises towards ``H / h``: a
        customer who is still alive after a long silence buys at a steadier rate). 1 when
        ``h == H``.
        """
        columns = FeatureColumns.of(features)
        return pd.Series(self._extension(columns), index=features.index, name="extension_factor")

    def _label_window(
        self, features: FeatureColumns, prob_H: Mapping[str, np.ndarray]
    ) -> Mapping[str, np.ndarray]:
        """Return the probabilistic columns over the label window ``h`` (``prob_H`` if h == H).

        The spend model was fitted on ``h``-day spend with ``h``-day purchase-model columns.
        """
        H, h = float(self.horizon_days), float(self.label_horizon_days)
        if h == H:
            return prob_H
        reuse = {c: prob_H[c] for c in HORIZON_FREE_COLUMNS}
        return self.probabilistic.transform_columns(features, h, reuse=reuse)

    def _purchase_data(self, features: FeatureColumns) -> RFMData:
        """Return frequency, recency and T in the purchase model's unit (validated already)."""
        pm = self.probabilistic.purchase_model_
        unit = str(features.attrs.get("time_unit", self.time_unit))
        scale = days_per_unit(unit) / days_per_unit(pm.time_unit_)
        values = features.columns
        return RFMData(
            frequency=np.asarray(values["frequency"], dtype=np.float64),
            recency=np.asarray(values["recency"], dtype=np.float64) * scale,
            T=np.asarray(values["T"], dtype=np.float64) * scale,
            time_unit=pm.time_unit_,
            index=features.index,
        )

    def _extension(self, features: FeatureColumns) -> np.ndarray:
        """Return :meth:`extension_factor` of feature columns."""
        H, h = float(self.horizon_days), float(self.label_horizon_days)
        if h == H or len(features) == 0:
            return np.ones(len(features))
        pm = self.probabilistic.purchase_model_
        data = self._purchase_data(features)
        day = 1.0 / days_per_unit(pm.time_unit_)
        # The history as it stands h days after the last purchase; the alive-conditional curve
        # (P(alive) cancels in the ratio), once per distinct (x, T_ref).
        ref = RFMData(
            frequency=data.frequency,
            recency=data.recency,
            T=data.recency + h * day,
            time_unit=data.time_unit,
            index=data.index,
        )
        first, inverse = ref.groups("frequency", "T")
        x, T_ref = ref.frequency[first], ref.T[first]
        with np.errstate(all="ignore"):
            short = pm._purchases_if_alive(pm.params_, x, T_ref, np.array([h * day]), np.ones(1))
            long = pm._purchases_if_alive(pm.params_, x, T_ref, np.array([H * day]), np.ones(1))
        return extension_factor_values(short[inverse], long[inverse], short_days=h, long_days=H)

    def _spend_columns(
        self, features: FeatureColumns, prob_H: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the spend model's ``h``-day prediction and the factor to ``H`` (arrays)."""
        prob_h = self._label_window(features, prob_H)
        spend_h = self._model_output(self.spend_model, "predict", features, prob_h)
        return np.asarray(spend_h, dtype=np.float64), self._extension(features)

    def _window_weight(self) -> float:
        """Return :func:`~churnmodel.models.spend.window_discount` of the bundle's settings."""
        prob = self.probabilistic
        return window_discount(
            horizon_days=float(self.horizon_days),
            clv_horizon_days=float(prob.clv_horizon_days),
            annual_discount_rate=float(prob.annual_discount_rate),
        )

    def _tail_spend(self, features: FeatureColumns, prob_H: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the purchase model's discounted spend after ``H`` in the CLV, at the spend level.

        The CLV's periods (``clv_period_days``, discounted at their ends, as ``prob_clv``)
        that end after ``H``, the first one from ``H``; times the Gamma-Gamma spend per
        purchase and :attr:`spend_level`. 0 when the CLV horizon is not longer than ``H``.
        """
        prob = self.probabilistic
        H, L = float(self.horizon_days), float(prob.clv_horizon_days)
        if L <= H or self.clv_method != "rescaled":
            return np.zeros(len(features))
        ends, factors = discount_arrays(
            L, float(prob.clv_period_days), float(prob.annual_discount_rate), 365.0
        )
        later = ends > H
        pm = prob.purchase_model_
        day = 1.0 / days_per_unit(pm.time_unit_)
        times = np.concatenate(([H], ends[later])) * day
        weights = np.concatenate(([0.0], factors[later]))  # nothing for (0, H]
        with np.errstate(all="ignore"):
            purchases = pm._discounted_purchases(
                pm.params_, self._purchase_data(features), times, weights
            )
        tail = purchases * prob_H["prob_spend_per_purchase"] * self.spend_level
        return np.where(np.isfinite(tail), tail, 0.0)

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
        computed = isinstance(data, FeatureColumns)
        if computed or (isinstance(data, pd.DataFrame) and set(RFM_COLUMNS) <= set(data.columns)):
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
            return data if computed else FeatureColumns.of(data)
        if as_of is None:
            raise ConfigError("'as_of' is required when scoring transactions")
        return self._feature_columns(data, as_of)
