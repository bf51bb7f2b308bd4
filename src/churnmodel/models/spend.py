"""Supervised spend model: expected spend in the next H days, and how it combines with CLV.

:class:`SpendRegressor` is a scikit-learn regressor (``HistGradientBoostingRegressor`` with
Poisson loss by default: spend is non-negative, mostly zero and heavy-tailed, and the Poisson
deviance keeps the mean of the predictions equal to the mean of the target; a Poisson GLM is
the simple alternative). It is trained on snapshots whose label is the net spend in a window of
``h`` days after each cut-off. Given the purchase model's spend over the same window among the
features (``prob_expected_spend``), it caps its prediction at ``cap_ratio`` times that spend
(no value where the purchase model expects no purchase) and learns the ratio of the actual to
the purchase model's spend on its training rows (``level_ratio_``); with ``monotonic=True`` it
never rises as a customer grows stale.

Two pieces of arithmetic tie it to the probabilistic models (BG/NBD family x Gamma-Gamma):

* :func:`horizon_extension_factor`: when the training label window ``h`` is shorter than the
  scoring horizon ``H``, the supervised ``h``-day spend is multiplied by the purchase model's
  ``E[X(H)] / E[X(h)]``. The Gamma-Gamma spend per purchase cancels in that ratio, so only the
  shape of the expected purchase curve is borrowed. :class:`~churnmodel.models.ChurnBundle`
  reads it at a fixed time since the last purchase (``h``), so that it does not change as the
  customer grows stale.
* :func:`rescaled_clv`: the CLV is the supervised spend over the first ``H`` days, discounted
  at the middle of that window, plus the purchase model's discounted spend beyond ``H`` up to
  the CLV horizon scaled by one global factor (``level_ratio_``). ``method="probabilistic"``
  keeps BG/NBD x Gamma-Gamma's CLV unchanged.

See ``docs/lapse-and-spend.md`` for why and for the measured effect.
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils import Tags
from sklearn.utils.validation import column_or_1d

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models._trees import FastHGBRegressor
from churnmodel.models.encoding import (
    categorical_mask,
    fit_matrix,
    linear_preprocessor,
    transform_matrix,
)
from churnmodel.models.estimators import (
    EstimatorNotFittedError,
    StageRanks,
    check_int_param,
    check_number_param,
    monotonic_constraints,
    thread_limit,
)

__all__ = [
    "CLV_METHODS",
    "PURCHASE_SPEND_COLUMN",
    "SpendRegressor",
    "horizon_extension_factor",
    "rescaled_clv",
    "window_discount",
]

_MODELS = ("hgb", "glm")
#: How the scores' ``clv`` is formed (see :func:`rescaled_clv`).
CLV_METHODS: tuple[str, ...] = ("rescaled", "probabilistic")
#: The purchase model's expected spend over the label window among the features: the cap of
#: the prediction and the reference of ``level_ratio_``.
PURCHASE_SPEND_COLUMN = "prob_expected_spend"


class SpendRegressor(RegressorMixin, BaseEstimator):
    """Expected net spend of a customer in the next H days.

    Parameters
    ----------
    model
        ``"hgb"`` (``HistGradientBoostingRegressor``, default) or ``"glm"`` (Poisson GLM on
        ``signed_log1p``-transformed, imputed, standardised features and one-hot categories).
    loss
        Loss of the gradient boosting: ``"poisson"`` (default), ``"squared_error"``.
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization
        Gradient-boosting settings.
    alpha
        L2 penalty of the Poisson GLM.
    monotonic
        Constrain the gradient boosting to be monotone in staleness: non-increasing in the
        features that rise as the scoring date moves past the last purchase and non-decreasing
        in those that fall (the mirror image of
        :class:`~churnmodel.models.LapseClassifier`'s constraints, the life-cycle stage read
        as a rank; columns matched by name). Default True; no effect on unnamed columns or on
        ``model="glm"``.
    cap_ratio
        The prediction is at most ``cap_ratio`` times the purchase model's expected spend over
        the same window (the ``prob_expected_spend`` column, when the features hold it), so a
        customer the purchase model expects no purchase from gets no spend. Default 10 (binds
        for 0.02-0.14 % of CDNOW customers; ``docs/lapse-and-spend.md``); None: no cap.
    random_state
        Seed of the gradient boosting.
    n_threads
        Cap on the OpenMP/BLAS threads during ``fit`` (None: scikit-learn's default, every
        core). 1 is much faster on a machine busy with other jobs. Prediction runs under the
        caller's limits (the scoring job sets them once for the whole run).

    Attributes
    ----------
    estimator_ : estimator
        The fitted model.
    n_iter_ : int
        Boosting iterations (or solver iterations of the Poisson GLM).
    n_features_in_ : int
    feature_names_in_ : numpy.ndarray
        Only when fitted on a DataFrame with string column names.
    mean_target_ : float
        Mean spend of the training rows (for reference).
    stage_ranks_ : StageRanks or None
        How the stage column is read as a rank (``monotonic`` gradient boosting), else None.
    cap_index_ : int or None
        Column of ``prob_expected_spend`` in the encoded matrix (``None``: not among the
        features, no cap).
    level_ratio_ : float or None
        Total spend over total ``prob_expected_spend`` of the training rows (where finite):
        how far the purchase model x Gamma-Gamma's level is from what customers spent
        (``None`` without the column).
    """

    def __init__(
        self,
        *,
        model: str = "hgb",
        loss: str = "poisson",
        learning_rate: float = 0.05,
        max_iter: int = 200,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 100,
        l2_regularization: float = 0.0,
        alpha: float = 1e-4,
        monotonic: bool = True,
        cap_ratio: float | None = 10.0,
        random_state: int | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.model = model
        self.loss = loss
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.alpha = alpha
        self.monotonic = monotonic
        self.cap_ratio = cap_ratio
        self.random_state = random_state
        self.n_threads = n_threads

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A model pickled before the constraints and the cap (a registered champion): its
        # hyperparameters as it was fitted, so it predicts what it predicted then.
        state = {"monotonic": False, "cap_ratio": None, **state}
        if "estimator_" in state:
            state = {"stage_ranks_": None, "cap_index_": None, "level_ratio_": None, **state}
        super().__setstate__(state)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.target_tags.positive_only = True
        return tags

    def _check_params(self) -> None:
        if self.model not in _MODELS:
            raise ConfigError(f"'model' must be one of {list(_MODELS)}, got {self.model!r}")
        if self.loss not in ("poisson", "squared_error"):
            raise ConfigError(f"'loss' must be 'poisson' or 'squared_error', got {self.loss!r}")
        check_int_param("max_iter", self.max_iter, 1)
        check_int_param("max_leaf_nodes", self.max_leaf_nodes, 2)
        check_int_param("min_samples_leaf", self.min_samples_leaf, 1)
        check_number_param("learning_rate", self.learning_rate, positive=True)
        check_number_param("l2_regularization", self.l2_regularization, positive=False)
        check_number_param("alpha", self.alpha, positive=False)
        if not isinstance(self.monotonic, bool | np.bool_):
            raise ConfigError(f"'monotonic' must be True or False, got {self.monotonic!r}")
        if self.cap_ratio is not None:
            check_number_param("cap_ratio", self.cap_ratio, positive=True)

    def fit(self, X: Any, y: Any, *, level_rows: Any = None) -> Self:
        """Fit on features ``X`` and spend ``y`` (>= 0, not all 0).

        Parameters
        ----------
        X, y
            Features and spend in the label window.
        level_rows
            Optional boolean mask of the rows that set the level of the predictions: after the
            fit, every prediction is multiplied by the ratio of these rows' total spend to their
            total prediction (``season_level_``, 1 without them). The training design passes
            the snapshot whose label window is the served window one year earlier: a calendar
            window's spend depends on the season, which the model, fitted on windows of every
            season at once, averages. One factor, so it changes no ranking.

        Returns
        -------
        self

        Raises
        ------
        ConfigError
            For a hyperparameter out of range.
        DataValidationError
            If ``y`` is negative, not finite, or 0 for every row.
        """
        self._check_params()
        encoder, matrix = fit_matrix(self, X)
        mask = categorical_mask(encoder, matrix.shape[1])
        stage = StageRanks.of(encoder) if self.monotonic and self.model == "hgb" else None
        if stage is not None:  # the stage as its staleness rank, constrained like the rest
            matrix, mask = stage.apply(matrix), stage.categorical(mask)
        target = column_or_1d(np.asarray(y, dtype=np.float64), warn=True)
        if target.shape[0] != matrix.shape[0]:
            raise ValueError(
                f"X has {matrix.shape[0]} rows but y has {target.shape[0]}; they must match"
            )
        if not np.all(np.isfinite(target)):
            raise DataValidationError(
                "spend y has missing or infinite values",
                hint="drop those rows or fill them before fitting",
            )
        if np.any(target < 0):
            raise DataValidationError(
                f"spend y must be >= 0, got {int((target < 0).sum())} negative value(s)",
                hint="floor net spend at 0 (returns can make it negative)",
            )
        if self.loss == "poisson" and not np.any(target > 0):
            raise DataValidationError(
                "spend y is 0 for every row: a Poisson model has nothing to learn",
                hint="use a longer label window or more customers",
            )
        names = getattr(self, "feature_names_in_", None)
        names = None if names is None else [str(n) for n in names]
        if self.model == "hgb":
            cst = monotonic_constraints(names, list(mask), sign=-1) if self.monotonic else None
            estimator: Any = FastHGBRegressor(
                loss=self.loss,
                learning_rate=self.learning_rate,
                max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                categorical_features=mask if mask.any() else None,
                monotonic_cst=cst,
                early_stopping=False,
                random_state=self.random_state,
            )
        else:
            estimator = Pipeline(
                [
                    ("prep", linear_preprocessor(mask)),
                    (
                        "glm",
                        PoissonRegressor(alpha=self.alpha, solver="newton-cholesky", max_iter=500),
                    ),
                ]
            )
        with thread_limit(self.n_threads):
            estimator.fit(matrix, target)
        self.encoder_ = encoder
        self.stage_ranks_ = stage
        self.estimator_ = estimator
        self.mean_target_ = float(target.mean())
        self.cap_index_ = (
            names.index(PURCHASE_SPEND_COLUMN)
            if names is not None and PURCHASE_SPEND_COLUMN in names
            else None
        )
        self.level_ratio_ = None
        if self.cap_index_ is not None:
            reference = matrix[:, self.cap_index_]
            usable = np.isfinite(reference)
            total = float(reference[usable].sum())
            if total > 0:
                self.level_ratio_ = float(target[usable].sum()) / total
        iterations = getattr(estimator, "n_iter_", None)
        if iterations is None and isinstance(estimator, Pipeline):
            iterations = estimator[-1].n_iter_
        self.n_iter_ = int(np.max(iterations)) if iterations is not None else self.max_iter
        self.season_level_ = 1.0
        if level_rows is not None:
            rows = np.asarray(level_rows, dtype=bool)
            if rows.shape != target.shape:
                raise DataValidationError(
                    f"'level_rows' has {rows.shape[0]} values for {target.shape[0]} rows of X"
                )
            predicted = float(self._raw(matrix[rows]).sum())
            if rows.any() and predicted > 0 and float(target[rows].sum()) > 0:
                self.season_level_ = float(target[rows].sum()) / predicted
        return self

    def _raw(self, model_matrix: np.ndarray) -> np.ndarray:
        """Return the model's prediction (floored at 0) of rows it reads as they are."""
        return np.maximum(np.asarray(self.estimator_.predict(model_matrix), dtype=float), 0.0)

    def predict(self, X: Any) -> np.ndarray:
        """Return the expected spend of each row (>= 0, capped: see ``cap_ratio``)."""
        if not hasattr(self, "estimator_"):
            raise EstimatorNotFittedError(
                "this SpendRegressor is not fitted yet; call fit(X, y) first"
            )
        return self.predict_encoded(transform_matrix(self, self.encoder_, X))

    def predict_encoded(self, matrix: np.ndarray) -> np.ndarray:
        """Return :meth:`predict` of rows already encoded as the model reads them.

        ``matrix``: ``encoder_.transform(X)`` (or, without an encoder, ``X`` as floats).
        """
        if not hasattr(self, "estimator_"):
            raise EstimatorNotFittedError(
                "this SpendRegressor is not fitted yet; call fit(X, y) first"
            )
        stage = self.stage_ranks_
        model_matrix = matrix if stage is None else stage.apply(matrix)
        values = self._raw(model_matrix) * getattr(self, "season_level_", 1.0)
        index = self.cap_index_
        if self.cap_ratio is None or index is None:
            return values
        cap = float(self.cap_ratio) * np.maximum(matrix[:, index], 0.0)
        return np.where(np.isnan(cap), values, np.minimum(values, cap))


def horizon_extension_factor(
    purchases_short: pd.Series,
    purchases_long: pd.Series,
    *,
    short_days: float,
    long_days: float,
) -> pd.Series:
    """Ratio that carries an expected spend over ``short_days`` to ``long_days``.

    ``E[X(long)] / E[X(short)]`` per customer, from a purchase model's expected purchases over
    both horizons; where ``E[X(short)]`` is not positive and finite, the plain time ratio
    ``long_days / short_days``. Equal horizons give exactly 1.

    Parameters
    ----------
    purchases_short, purchases_long
        Expected purchases over the two horizons, indexed by customer.
    short_days, long_days
        The horizons in days (> 0).

    Returns
    -------
    pandas.Series
        ``extension_factor``, indexed like ``purchases_short``; finite and >= 0.
    """
    values = extension_factor_values(
        purchases_short.to_numpy(dtype=np.float64),
        purchases_long.reindex(purchases_short.index).to_numpy(dtype=np.float64),
        short_days=short_days,
        long_days=long_days,
    )
    return pd.Series(values, index=purchases_short.index, name="extension_factor")


def extension_factor_values(
    purchases_short: np.ndarray,
    purchases_long: np.ndarray,
    *,
    short_days: float,
    long_days: float,
) -> np.ndarray:
    """Return :func:`horizon_extension_factor` of two aligned arrays."""
    for name, value in (("short_days", short_days), ("long_days", long_days)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ConfigError(f"{name!r} must be > 0, got {value!r}")
    short = np.asarray(purchases_short, dtype=np.float64)
    if short_days == long_days:
        return np.ones_like(short)
    long = np.asarray(purchases_long, dtype=np.float64)
    usable = np.isfinite(short) & np.isfinite(long) & (short > 1e-12)
    ratio = np.divide(long, short, out=np.full_like(short, long_days / short_days), where=usable)
    return np.maximum(ratio, 0.0)


def window_discount(
    *,
    horizon_days: float,
    clv_horizon_days: float,
    annual_discount_rate: float,
    days_per_year: float = 365.0,
) -> float:
    """Return the weight of the ``H``-day expected spend in the CLV over ``clv_horizon_days``.

    With ``L = clv_horizon_days`` and ``r`` the annual rate: ``(1 + r) ** -(H / 2 / D)`` when
    ``L >= H`` (the window's spend discounted at its middle), else
    ``L / H * (1 + r) ** -(L / 2 / D)`` (the share of the window within the CLV horizon,
    discounted at its middle). ``D`` is ``days_per_year``. One number for every customer: no
    ratio of a customer's own curve, so nothing in it can rise as the customer grows stale.
    """
    for name, value in (
        ("horizon_days", horizon_days),
        ("clv_horizon_days", clv_horizon_days),
        ("days_per_year", days_per_year),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ConfigError(f"{name!r} must be > 0, got {value!r}")
    rate = annual_discount_rate
    if not (isinstance(rate, int | float) and math.isfinite(rate) and rate >= 0):
        raise ConfigError(f"'annual_discount_rate' must be >= 0, got {rate!r}")
    H, L = float(horizon_days), float(clv_horizon_days)
    span = min(H, L)
    share = 1.0 if L >= H else L / H
    return share * (1.0 + float(rate)) ** (-span / 2.0 / float(days_per_year))


def rescaled_clv(
    expected_spend: pd.Series,
    *,
    tail_spend: pd.Series,
    horizon_days: float,
    clv_horizon_days: float,
    annual_discount_rate: float,
    days_per_year: float = 365.0,
) -> pd.Series:
    """CLV: the supervised spend over the first ``H`` days plus the purchase model's tail.

    ``clv = expected_spend * window_discount(...) + tail_spend``.

    Parameters
    ----------
    expected_spend
        Supervised expected spend over the scoring horizon ``H`` (``horizon_days``).
    tail_spend
        The purchase model's discounted expected spend after ``H`` up to ``clv_horizon_days``
        (0 when ``clv_horizon_days <= H``), already scaled to the supervised level (the spend
        model's ``level_ratio_``).
    horizon_days, clv_horizon_days, annual_discount_rate, days_per_year
        See :func:`window_discount`.

    Returns
    -------
    pandas.Series
        ``clv``, indexed like ``expected_spend``; missing tails count as 0.

    Notes
    -----
    Every term is a customer's spend forecast times a number that is the same for every
    customer, so the CLV is 0 where the purchase model expects no purchase (the spend model is
    capped by it, and so is the tail) and never rises as a customer grows stale when the spend
    model does not.
    """
    values = rescaled_clv_values(
        expected_spend.to_numpy(dtype=np.float64),
        tail_spend=tail_spend.reindex(expected_spend.index).to_numpy(dtype=np.float64),
        weight=window_discount(
            horizon_days=horizon_days,
            clv_horizon_days=clv_horizon_days,
            annual_discount_rate=annual_discount_rate,
            days_per_year=days_per_year,
        ),
    )
    return pd.Series(values, index=expected_spend.index, name="clv")


def rescaled_clv_values(
    expected_spend: np.ndarray, *, tail_spend: np.ndarray, weight: float
) -> np.ndarray:
    """Return :func:`rescaled_clv` of aligned arrays, ``weight`` from :func:`window_discount`."""
    spend = np.asarray(expected_spend, dtype=np.float64)
    tail = np.asarray(tail_spend, dtype=np.float64)
    return spend * weight + np.where(np.isfinite(tail), np.maximum(tail, 0.0), 0.0)
