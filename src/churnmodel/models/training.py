"""Training sets for the supervised models: cut-offs, snapshots and probabilistic features.

A training set holds one row per (cut-off, customer known at the cut-off): the customer
features computed from data up to the cut-off only, the outputs of the probabilistic models
(BG/NBD family + Gamma-Gamma) **fitted on data up to that cut-off only**, and what the customer
did in the label window ``(cutoff, cutoff + label_horizon_days]``.

Cut-offs (:meth:`TrainingDesign.cutoffs`), with ``S`` the scoring date, ``h`` the label horizon
and ``g`` the gap:

* the latest cut-off is ``S - g - h``: its label window ends ``g`` days before ``S``;
* ``n_cutoffs - 1`` more go back in steps of ``step_days`` (default ``h``);
* with ``include_last_year``, the cut-off ``S - 365`` (the same season one year earlier, so
  that seasonal buyers are learned in their season), if its window also ends by ``S - g``;
* cut-offs with fewer than ``min_history_days`` of log before them are dropped (a purchase
  model fitted on a few weeks of history is degenerate).

Every label window therefore ends on or before ``S - g``: no training label overlaps the
evaluation window ``(S, S + H]``. The latest cut-off is the **calibration** cut-off: the
classifier is fitted on the earlier ones and calibrated on it, a time-separated fold.

When the log is too short for label windows of the target horizon ``H`` (CDNOW: nine months
of history before the scoring date and ``H = 273`` days), the label horizon ``h`` is set
shorter than ``H``. The probabilistic columns are then computed at ``h`` for training and at
``H`` for scoring ("horizon-matched"), so the probabilistic models carry the horizon; see
``docs/lapse-and-spend.md``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Self, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.features import (
    BEHAVIOUR_COLUMNS,
    FeatureWindows,
    LifecycleRules,
    PurchaseRule,
    build_snapshots,
)
from churnmodel.features.customer import FeatureColumns, customer_feature_columns, to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.models._base import DegenerateFitWarning
from churnmodel.models._purchase import PurchaseModel
from churnmodel.models._summary import read_summary
from churnmodel.models.beta_geo import BetaGeoModel
from churnmodel.models.clv import discount_arrays, lifetime_value_arrays
from churnmodel.models.gamma_gamma import GammaGammaModel
from churnmodel.models.modified_beta_geo import ModifiedBetaGeoModel
from churnmodel.models.pareto_nbd import ParetoNBDModel
from churnmodel.schemas import CUSTOMER_ID, LIFECYCLE_STAGES, RFM_COLUMNS, days_per_unit

__all__ = [
    "CATEGORICAL_COLUMNS",
    "FEATURE_COLUMNS",
    "PROBABILISTIC_COLUMNS",
    "PURCHASE_MODELS",
    "SCORE_COLUMNS",
    "ChurnBundle",
    "EstimatorNotFittedError",
    "ProbabilisticFeatures",
    "TabularEncoder",
    "TrainingCutoffs",
    "TrainingDesign",
    "TrainingSet",
    "as_frame",
    "build_training_set",
    "categorical_mask",
    "check_int_param",
    "check_number_param",
    "fit_matrix",
    "linear_preprocessor",
    "signed_log1p",
    "thread_limit",
    "transform_matrix",
    "until",
]

#: Outputs of the probabilistic models used as features (``prob_`` keeps them apart).
PROBABILISTIC_COLUMNS: tuple[str, ...] = (
    "prob_p_alive",
    "prob_p_no_purchase",
    "prob_expected_purchases",
    "prob_spend_per_purchase",
    "prob_expected_spend",
    "prob_clv",
)
#: Categorical feature columns.
CATEGORICAL_COLUMNS: tuple[str, ...] = ("lifecycle_stage",)
#: Every column the supervised models read, in this order.
FEATURE_COLUMNS: tuple[str, ...] = (
    *RFM_COLUMNS,
    *BEHAVIOUR_COLUMNS,
    *CATEGORICAL_COLUMNS,
    *PROBABILISTIC_COLUMNS,
)
#: Purchase models by name.
PURCHASE_MODELS: Mapping[str, type[PurchaseModel]] = {
    "bgnbd": BetaGeoModel,
    "mbgnbd": ModifiedBetaGeoModel,
    "pareto": ParetoNBDModel,
}
# Gamma-Gamma needs positive mean spend; a repeat buyer whose repeat days net to $0 (CDNOW
# free orders) is predicted with one cent instead (the formula is continuous there).
_MIN_MONETARY = 0.01


def _positive_int(name: str, value: object, *, allow_zero: bool = False) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or int(value) < (0 if allow_zero else 1):  # type: ignore[call-overload]
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name!r} must be an integer {bound}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


# ------------------------------------------------------------------------------ cut-offs
@dataclass(frozen=True)
class TrainingCutoffs:
    """Cut-offs of a training set.

    Attributes
    ----------
    fit
        Cut-offs whose snapshots fit the supervised models, oldest first.
    calibration
        The latest cut-off; its snapshot calibrates the classifier (a time-separated fold).
    label_horizon_days
        Length of every label window.
    label_end
        The last day any label window reaches (``scoring_date - gap_days`` at most).
    """

    fit: tuple[date, ...]
    calibration: date
    label_horizon_days: int
    label_end: date

    @property
    def all(self) -> tuple[date, ...]:
        """Every cut-off, oldest first (the calibration cut-off last)."""
        return (*self.fit, self.calibration)


@dataclass(frozen=True)
class TrainingDesign:
    """How training snapshots are laid out in time (module docstring).

    Attributes
    ----------
    horizon_days
        ``H``: the horizon of the scores (P(no purchase in the next ``H`` days), spend in the
        next ``H`` days).
    label_horizon_days
        ``h``: the label window of the training snapshots; default ``H``. Set it shorter when
        the log before the scoring date is too short for ``H``-day windows.
    n_cutoffs
        Number of recent cut-offs (the latest calibrates; at least 2).
    step_days
        Days between recent cut-offs; default ``h`` (label windows do not overlap).
    include_last_year
        Add the cut-off one year before the scoring date (seasonal buyers in their season).
    gap_days
        Days between the end of the latest label window and the scoring date.
    min_history_days
        Drop cut-offs with fewer days of log before them.
    fit_to_history
        When the ``n_cutoffs`` recent cut-offs do not all have ``min_history_days`` of log
        before them, shorten ``h`` (never lengthen it) to the longest label window for which
        they do (:meth:`longest_label_horizon`), instead of dropping cut-offs.
    """

    horizon_days: int
    label_horizon_days: int | None = None
    n_cutoffs: int = 3
    step_days: int | None = None
    include_last_year: bool = True
    gap_days: int = 0
    min_history_days: int = 90
    fit_to_history: bool = False

    def validate(self) -> None:
        """Raise ConfigError for a setting out of range (the message shows the value)."""
        _positive_int("horizon_days", self.horizon_days)
        if self.label_horizon_days is not None:
            _positive_int("label_horizon_days", self.label_horizon_days)
            if self.label_horizon_days > self.horizon_days:
                raise ConfigError(
                    f"'label_horizon_days' must be <= horizon_days ({self.horizon_days}), "
                    f"got {self.label_horizon_days}"
                )
        if _positive_int("n_cutoffs", self.n_cutoffs) < 2:
            raise ConfigError(
                f"'n_cutoffs' must be >= 2 (one to fit, the latest to calibrate), "
                f"got {self.n_cutoffs}"
            )
        if self.step_days is not None:
            _positive_int("step_days", self.step_days)
        _positive_int("gap_days", self.gap_days, allow_zero=True)
        _positive_int("min_history_days", self.min_history_days, allow_zero=True)

    @property
    def label_horizon(self) -> int:
        """``h`` in days as configured (``label_horizon_days`` or ``horizon_days``)."""
        return int(self.label_horizon_days or self.horizon_days)

    def longest_label_horizon(self, scoring_date: Any, *, data_start: Any) -> int:
        """Return the longest ``h`` for which all ``n_cutoffs`` recent cut-offs have history.

        ``S - gap - (n_cutoffs - 1) * step - (data_start + min_history_days)`` in days, with
        ``step = step_days`` (required: with the default ``step = h`` the answer would depend
        on itself). Can be 0 or negative when no window fits.
        """
        if self.step_days is None:
            raise ConfigError(
                "the longest label horizon needs an explicit 'step_days' (the default step "
                "equals the label horizon)"
            )
        end = to_date(scoring_date, "scoring_date")
        floor = to_date(data_start, "data_start") + timedelta(days=self.min_history_days)
        room = (end - floor).days - self.gap_days - (self.n_cutoffs - 1) * self.step_days
        return int(room)

    def cutoffs(self, scoring_date: Any, *, data_start: Any) -> TrainingCutoffs:
        """Return the training cut-offs for ``scoring_date`` given the first day of the log.

        Raises
        ------
        ConfigError
            If fewer than two cut-offs have ``min_history_days`` of log before them; the message
            says which setting to change.
        """
        self.validate()
        end = to_date(scoring_date, "scoring_date")
        start = to_date(data_start, "data_start")
        h = self.label_horizon
        if self.fit_to_history:
            h = min(h, self.longest_label_horizon(end, data_start=start))
            if h < 1:
                raise ConfigError(
                    f"no label window fits {self.n_cutoffs} cut-offs {self.step_days} days apart "
                    f"with {self.min_history_days} days of history between the log start "
                    f"{start.isoformat()} and the scoring date {end.isoformat()}; use fewer "
                    "cut-offs, a shorter step or min_history_days, or a later scoring date"
                )
        step = self.step_days or h
        label_end = end - timedelta(days=self.gap_days)
        latest = label_end - timedelta(days=h)
        days = {latest - timedelta(days=k * step) for k in range(self.n_cutoffs)}
        last_year = end - timedelta(days=365)
        if self.include_last_year and last_year + timedelta(days=h) <= label_end:
            days.add(last_year)
        floor = start + timedelta(days=self.min_history_days)
        kept = sorted(d for d in days if d >= floor)
        if len(kept) < 2:
            hint = "Use a shorter label_horizon_days or step_days, or a later scoring date"
            if self.step_days is not None:
                longest = self.longest_label_horizon(end, data_start=start)
                if longest > 0:
                    hint = (
                        f"label_horizon_days <= {longest} fits (or set fit_to_history=True); "
                        "or use a shorter step_days, or a later scoring date"
                    )
            raise ConfigError(
                f"only {len(kept)} training cut-off(s) have {self.min_history_days} days of "
                f"history after the log starts on {start.isoformat()} (label horizon {h} days, "
                f"step {step} days, scoring date {end.isoformat()}); at least 2 are needed, one "
                f"to fit and the latest to calibrate. {hint}"
            )
        return TrainingCutoffs(
            fit=tuple(kept[:-1]),
            calibration=kept[-1],
            label_horizon_days=h,
            label_end=label_end,
        )


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
        summary = _summary(features)
        caught: list[str] = []
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always", DegenerateFitWarning)
            purchase = PURCHASE_MODELS[self.purchase_model](penalizer=self.penalizer)
            purchase.fit(summary)
            repeat = summary["frequency"] > 0
            spendable = ~repeat | (features["monetary_value"] > 0)
            spend = GammaGammaModel().fit(summary[spendable.to_numpy()])
        for record in records:
            if issubclass(record.category, DegenerateFitWarning):
                caught.append(str(record.message))
            else:  # not ours to silence
                warnings.warn_explicit(
                    record.message, record.category, record.filename, record.lineno
                )
        self.purchase_model_: PurchaseModel = purchase
        self.spend_model_: GammaGammaModel = spend
        self.time_unit_: str = str(summary.attrs["time_unit"])
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
        reused = None if reuse is None else {c: reuse[c].to_numpy() for c in _HORIZON_FREE}
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
_HORIZON_FREE = ("prob_p_alive", "prob_spend_per_purchase", "prob_clv")


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


# ----------------------------------------------------------------------------- encoding
class TabularEncoder:
    """Turn a features frame with categorical columns into a float matrix, the same way each time.

    Categorical columns (pandas ``category``, ``object`` or string dtype) become integer codes
    of the categories seen in ``fit`` (NaN for missing or unseen values); numeric columns are
    cast to float (NaN kept: read as missing). :data:`LIFECYCLE_STAGES` fixes the codes of
    ``lifecycle_stage`` so that they never depend on which stages a training set holds.
    Columns are matched by name, so their order may change between ``fit`` and ``transform``.
    Fitted attributes: ``columns_``, ``categories_`` (column -> categories).
    """

    def fit(self, X: pd.DataFrame) -> Self:
        """Learn the columns and categories of ``X``."""
        self.columns_: list[Any] = list(X.columns)
        self.categories_: dict[Any, list[Any]] = {}
        for name in X.columns:
            column = X[name]
            if not _is_categorical(column):
                continue
            if name == "lifecycle_stage":
                cats: list[Any] = list(LIFECYCLE_STAGES)
            elif isinstance(column.dtype, pd.CategoricalDtype):
                cats = list(column.cat.categories)
            else:
                cats = sorted(pd.unique(column.dropna()).tolist(), key=str)
            self.categories_[name] = cats
        return self

    @property
    def categorical_mask(self) -> np.ndarray:
        """Boolean mask of the categorical columns of the encoded matrix."""
        return np.array([c in self.categories_ for c in self.columns_], dtype=bool)

    def transform(self, X: Any) -> np.ndarray:
        """Return ``X`` as a float matrix (categorical columns as codes)."""
        if not isinstance(X, pd.DataFrame):
            raise DataValidationError(
                f"the model was fitted on a DataFrame with columns {self.columns_[:5]}...; "
                f"pass a DataFrame with the same columns, got {type(X).__name__}"
            )
        self._check_columns(X.columns)
        out = np.empty((len(X), len(self.columns_)), dtype=np.float64)
        numeric = [j for j, name in enumerate(self.columns_) if name not in self.categories_]
        block = X.loc[:, [self.columns_[j] for j in numeric]]
        if all(
            pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in block.dtypes
        ):
            # Numbers already: one conversion of the whole block (a scoring request has few
            # rows and ~30 columns, where column-by-column conversion costs 1 ms).
            out[:, numeric] = block.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            for j in numeric:
                column = X[self.columns_[j]]
                out[:, j] = pd.to_numeric(column).to_numpy(dtype=np.float64, na_value=np.nan)
        for j, name in enumerate(self.columns_):
            if name in self.categories_:
                out[:, j] = self._codes(name, X[name].astype(object).to_numpy())
        return self._finite(out)

    def transform_columns(self, columns: Mapping[str, Any], n_rows: int) -> np.ndarray:
        """Return :meth:`transform` of columns given as arrays (name -> values), same matrix.

        Numeric columns are NumPy arrays (NaN read as missing); categorical ones hold the
        category values (a pandas ``Categorical`` or an object array).
        """
        self._check_columns(columns)
        out = np.empty((n_rows, len(self.columns_)), dtype=np.float64)
        for j, name in enumerate(self.columns_):
            values = columns[name]
            out[:, j] = self._codes(name, values) if name in self.categories_ else values
        return self._finite(out)

    def _check_columns(self, present: Any) -> None:
        missing = [c for c in self.columns_ if c not in present]
        if missing:
            raise DataValidationError(
                f"the features have no column {missing[0]!r} ({len(missing)} missing)",
                column=str(missing[0]),
                hint="pass the same feature columns the model was fitted on",
            )

    def _codes(self, name: Any, values: Any) -> np.ndarray:
        """Return the fitted category codes of ``values`` (NaN for missing or unseen)."""
        cache = self.__dict__.setdefault("_index_cache", {})
        if name not in cache:
            cache[name] = pd.Index(self.categories_[name])
        index = cast(pd.Index, cache[name])
        if isinstance(values, pd.Categorical):
            # Codes of the column's own categories -> codes of the fitted ones.
            mapped = index.get_indexer(values.categories)
            codes = np.where(values.codes >= 0, mapped[values.codes], -1)
        else:
            codes = index.get_indexer(pd.Index(np.asarray(values, dtype=object)))
        return np.where(codes >= 0, codes, np.nan)

    def _finite(self, out: np.ndarray) -> np.ndarray:
        if np.isinf(out).any():
            bad = [c for j, c in enumerate(self.columns_) if np.isinf(out[:, j]).any()]
            raise DataValidationError(
                f"feature column(s) {bad} hold infinite values",
                column=str(bad[0]),
                hint="replace infinities with NaN (read as missing) or finite values",
            )
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_index_cache", None)
        return state


def _is_categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
    )


def _needs_encoder(X: Any) -> bool:
    """Return whether ``X`` is a DataFrame (string column names) with a categorical column."""
    return (
        isinstance(X, pd.DataFrame)
        and all(isinstance(c, str) for c in X.columns)
        and any(_is_categorical(X[c]) for c in X.columns)
    )


def fit_matrix(estimator: BaseEstimator, X: Any) -> tuple[TabularEncoder | None, np.ndarray]:
    """Validate ``X`` in ``fit`` and return ``(encoder, float matrix)``.

    A DataFrame with categorical columns is encoded by a :class:`TabularEncoder` (returned),
    and ``n_features_in_`` and ``feature_names_in_`` are set here; anything else goes through
    scikit-learn's ``validate_data`` (numeric, NaN allowed), which sets them.
    """
    if _needs_encoder(X):
        encoder = TabularEncoder().fit(X)
        matrix = encoder.transform(X)
        if matrix.shape[0] < 1:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        estimator.n_features_in_ = matrix.shape[1]
        estimator.feature_names_in_ = np.asarray(encoder.columns_, dtype=object)
        return encoder, matrix
    matrix = validate_data(
        estimator, X, reset=True, dtype=np.float64, ensure_all_finite="allow-nan"
    )
    return None, np.asarray(matrix)


def transform_matrix(
    estimator: BaseEstimator, encoder: TabularEncoder | None, X: Any
) -> np.ndarray:
    """Return ``X`` as the float matrix a fitted estimator reads (see :func:`fit_matrix`)."""
    if encoder is not None:
        return encoder.transform(X)
    matrix = validate_data(
        estimator, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan"
    )
    return np.asarray(matrix)


class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
    """A supervised model was used before ``fit``.

    Both :class:`churnmodel.exceptions.NotFittedError` and scikit-learn's ``NotFittedError``,
    so callers of either library can catch it.
    """


@contextlib.contextmanager
def thread_limit(n_threads: int | None) -> Iterator[None]:
    """Cap OpenMP and BLAS threads at ``n_threads`` for the block; None: no cap.

    On a machine shared with other jobs, OpenMP (gradient boosting) and BLAS (linear models)
    threads that spin while waiting for a busy core make fitting many times slower; one
    thread per model avoids that.
    """
    if n_threads is None:
        yield
        return
    with threadpool_limits(limits=int(n_threads)):
        yield


def check_int_param(name: str, value: object, minimum: int) -> None:
    """Raise ConfigError unless hyperparameter ``name`` is an integer >= ``minimum``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or int(value) < minimum:  # type: ignore[call-overload]
        raise ConfigError(f"{name!r} must be an integer >= {minimum}, got {value!r}")


def check_number_param(name: str, value: object, *, positive: bool) -> None:
    """Raise ConfigError unless hyperparameter ``name`` is a finite number > 0 (or >= 0)."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not ok or not math.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"{name!r} must be a number {bound}, got {value!r}")


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """Return ``sign(x) * log(1 + |x|)``: tames heavy-tailed spend for linear models."""
    return np.asarray(np.sign(values) * np.log1p(np.abs(values)))


def categorical_mask(encoder: TabularEncoder | None, n_features: int) -> np.ndarray:
    """Return the categorical-column mask of an encoded matrix (all False without encoder)."""
    if encoder is None:
        return np.zeros(n_features, dtype=bool)
    return encoder.categorical_mask


def linear_preprocessor(categorical_mask: np.ndarray) -> ColumnTransformer:
    """Preprocessing for the linear alternatives (logistic, Poisson GLM) of an encoded matrix.

    Numeric columns: ``signed_log1p``, median imputation with missing-value indicators,
    standardisation. Categorical codes: one-hot, missing and unseen values as one more level.
    """
    mask = np.asarray(categorical_mask, dtype=bool)
    numeric = Pipeline(
        [
            ("log", FunctionTransformer(signed_log1p)),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            (
                "impute",
                SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
            ),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    parts: list[tuple[str, Any, Any]] = [("numeric", numeric, np.flatnonzero(~mask))]
    if mask.any():
        parts.append(("categorical", categorical, np.flatnonzero(mask)))
    return ColumnTransformer(parts)


# --------------------------------------------------------------------------- training set
@dataclass(frozen=True)
class TrainingSet:
    """Snapshots at the training cut-offs, with probabilistic features and labels.

    Attributes
    ----------
    frame
        One row per (cut-off, customer): ``cutoff``, ``customer_id``, ``role`` (``"fit"`` or
        ``"calibration"``), :data:`FEATURE_COLUMNS`, and the labels ``purchases_next``,
        ``spend_next``, ``lapsed`` over the label window.
    cutoffs
        The cut-offs (:class:`TrainingCutoffs`).
    horizon_days
        ``H``, the horizon of the scores.
    time_unit
        Unit of ``recency`` and ``T``.
    fit_warnings
        Degenerate-fit messages of the probabilistic models, by cut-off.
    """

    frame: pd.DataFrame
    cutoffs: TrainingCutoffs
    horizon_days: int
    time_unit: str
    fit_warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def label_horizon_days(self) -> int:
        """``h``, the length of the label windows."""
        return self.cutoffs.label_horizon_days

    def features(self, role: str | None = None) -> pd.DataFrame:
        """Return :data:`FEATURE_COLUMNS` of the rows with ``role`` (all rows if None)."""
        return self._rows(role).loc[:, list(FEATURE_COLUMNS)]

    def lapsed(self, role: str | None = None) -> pd.Series:
        """Return the lapse label (1 = no purchase in the label window) as int."""
        return self._rows(role)["lapsed"].astype("int64")

    def spend(self, role: str | None = None) -> pd.Series:
        """Net spend in the label window (floored at 0)."""
        return self._rows(role)["spend_next"].astype(np.float64)

    def cutoff(self, role: str | None = None) -> pd.Series:
        """Return the cut-off of each row (the time key of the calibration fold)."""
        return self._rows(role)["cutoff"]

    def _rows(self, role: str | None) -> pd.DataFrame:
        if role is None:
            return self.frame
        if role not in ("fit", "calibration"):
            raise ConfigError(f"'role' must be 'fit', 'calibration' or None, got {role!r}")
        return self.frame[self.frame["role"] == role]

    def summary(self) -> pd.DataFrame:
        """One row per cut-off: role, customers, lapse rate, mean spend in the label window."""
        grouped = self.frame.groupby("cutoff", sort=True)
        out = pd.DataFrame(
            {
                "role": grouped["role"].first(),
                "n_customers": grouped.size(),
                "lapse_rate": grouped["lapsed"].mean(),
                "mean_spend_next": grouped["spend_next"].mean(),
            }
        )
        out["label_end"] = pd.DatetimeIndex(out.index) + pd.Timedelta(days=self.label_horizon_days)
        return out


def build_training_set(
    transactions: TransactionsLike,
    *,
    scoring_date: Any,
    design: TrainingDesign,
    time_unit: str = "D",
    purchase: PurchaseRule | None = None,
    rules: LifecycleRules | None = None,
    windows: FeatureWindows | None = None,
    probabilistic: ProbabilisticFeatures | None = None,
) -> TrainingSet:
    """Build the training set for a model that will score at ``scoring_date``.

    Parameters
    ----------
    transactions
        Canonical transactions; only rows on or before ``scoring_date - gap_days`` are read for
        features and labels (rows after it may be present and are never used).
    scoring_date
        The cut-off the models will score at; every label window ends on or before it (minus
        ``design.gap_days``).
    design
        Cut-offs, label horizon and gap (:class:`TrainingDesign`).
    time_unit, purchase, rules, windows
        Feature settings, as for :func:`churnmodel.features.customer_features`.
    probabilistic
        Settings of the probabilistic features (an unfitted :class:`ProbabilisticFeatures`;
        one copy is fitted per cut-off on that cut-off's features only).

    Returns
    -------
    TrainingSet

    Raises
    ------
    ConfigError
        If too few cut-offs fit in the log (the message says what to change).
    """
    design.validate()
    template = probabilistic or ProbabilisticFeatures()
    transactions = as_frame(transactions)
    first, last = _log_span(transactions)
    cutoffs = design.cutoffs(scoring_date, data_start=first)
    if last < cutoffs.calibration:
        raise DataValidationError(
            f"the log ends on {last.isoformat()}, before the latest training cut-off "
            f"{cutoffs.calibration.isoformat()}; labels of that cut-off would be empty",
            hint="check that the transactions cover the period up to the scoring date",
        )
    h = cutoffs.label_horizon_days
    # Labels are complete up to the scoring date (the caller's log covers it), even when no
    # one bought on its last days; the window ends never pass label_end <= scoring_date.
    snapshots = build_snapshots(
        until(transactions, cutoffs.label_end),
        cutoffs.all,
        h,
        time_unit=time_unit,
        purchase=purchase,
        rules=rules,
        windows=windows,
        require_complete=False,
    )
    frames = []
    fit_warnings: dict[str, list[str]] = {}
    for key, snap in snapshots.groupby("cutoff", sort=True):
        cutoff = to_date(str(key), "cutoff")
        feats = snap.set_index(CUSTOMER_ID)
        feats.attrs = {"time_unit": time_unit}
        model = ProbabilisticFeatures(**_params(template)).fit(feats)
        if model.fit_warnings_:
            fit_warnings[cutoff.isoformat()] = model.fit_warnings_
        prob = model.transform(feats, h)
        frame = pd.concat([feats, prob], axis=1).reset_index()
        is_cal = cutoff == cutoffs.calibration
        frame.insert(1, "role", "calibration" if is_cal else "fit")
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    columns = ["cutoff", "role", CUSTOMER_ID, *FEATURE_COLUMNS, "purchases_next", "spend_next"]
    out = out.loc[:, [*columns, "lapsed"]]
    return TrainingSet(
        frame=out,
        cutoffs=cutoffs,
        horizon_days=int(design.horizon_days),
        time_unit=time_unit,
        fit_warnings=fit_warnings,
    )


def _params(model: ProbabilisticFeatures) -> dict[str, Any]:
    return {
        "purchase_model": model.purchase_model,
        "clv_horizon_days": model.clv_horizon_days,
        "clv_period_days": model.clv_period_days,
        "annual_discount_rate": model.annual_discount_rate,
        "penalizer": model.penalizer,
    }


def as_frame(transactions: TransactionsLike) -> pd.DataFrame:
    """Return canonical transactions as a DataFrame (a ``TransactionTable`` is converted)."""
    if isinstance(transactions, pd.DataFrame):
        return transactions
    to_pandas = getattr(transactions, "to_pandas", None)
    if callable(to_pandas):
        frame = to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    raise DataValidationError(
        f"transactions must be a pandas DataFrame or a TransactionTable, "
        f"got {type(transactions).__name__}",
        hint="use churnmodel.read_transactions to get one",
    )


def _log_span(transactions: pd.DataFrame) -> tuple[date, date]:
    """First and last day of a transaction log."""
    if "timestamp" not in transactions.columns or transactions.empty:
        raise DataValidationError(
            "the transactions are empty or have no 'timestamp' column",
            column="timestamp",
            hint="pass canonical transactions (churnmodel.read_transactions)",
        )
    ts = transactions["timestamp"]
    return pd.Timestamp(ts.min()).date(), pd.Timestamp(ts.max()).date()


def until(transactions: pd.DataFrame, last_day: date) -> pd.DataFrame:
    """Return the rows on or before ``last_day`` (whole day, any time zone)."""
    ts = transactions["timestamp"]
    bound = pd.Timestamp(last_day + timedelta(days=1))
    if getattr(ts.dt, "tz", None) is not None:
        bound = bound.tz_localize(ts.dt.tz)
    return transactions[ts < bound]


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
        # Imported here: churnmodel.models.spend imports this module.
        from churnmodel.models.spend import rescaled_clv_values

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
        from churnmodel.models.spend import extension_factor_values

        H, h = float(self.horizon_days), float(self.label_horizon_days)
        if h == H:
            prob_h = prob_H
        else:
            reuse = {c: prob_H[c] for c in _HORIZON_FREE}
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
