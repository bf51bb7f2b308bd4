"""Supervised spend model: expected spend in the next H days, and how it combines with CLV.

:class:`SpendRegressor` is a scikit-learn regressor (``HistGradientBoostingRegressor`` with
Poisson loss by default: spend is non-negative, mostly zero and heavy-tailed, and the Poisson
deviance keeps the mean of the predictions equal to the mean of the target; a Poisson GLM is
the simple alternative). It is trained on snapshots whose label is the net spend in a window of
``h`` days after each cut-off.

Two pieces of arithmetic tie it to the probabilistic models (BG/NBD family x Gamma-Gamma):

* :func:`horizon_extension_factor`: when the training label window ``h`` is shorter than the
  scoring horizon ``H``, the supervised ``h``-day spend is multiplied by the purchase model's
  ``E[X(H)] / E[X(h)]`` of the same customer. The Gamma-Gamma spend per purchase cancels in
  that ratio, so only the shape of the customer's expected purchase curve is borrowed.
* :func:`rescaled_clv`: CLV beyond ``H`` stays the probabilistic model's discounted CLV, rescaled
  so that its first ``H`` days agree with the supervised estimate:
  ``clv = expected_spend_H * D / E[X(H)]`` with ``D`` the discounted expected purchases over the
  CLV horizon. ``method="probabilistic"`` keeps BG/NBD x Gamma-Gamma's CLV unchanged.

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
    check_int_param,
    check_number_param,
    thread_limit,
)

__all__ = [
    "CLV_METHODS",
    "SpendRegressor",
    "horizon_extension_factor",
    "rescaled_clv",
]

_MODELS = ("hgb", "glm")
#: How the scores' ``clv`` is formed (see :func:`rescaled_clv`).
CLV_METHODS: tuple[str, ...] = ("rescaled", "probabilistic")


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
        self.random_state = random_state
        self.n_threads = n_threads

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

    def fit(self, X: Any, y: Any) -> Self:
        """Fit on features ``X`` and spend ``y`` (>= 0, not all 0).

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
        if self.model == "hgb":
            estimator: Any = FastHGBRegressor(
                loss=self.loss,
                learning_rate=self.learning_rate,
                max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                categorical_features=mask if mask.any() else None,
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
        self.estimator_ = estimator
        self.mean_target_ = float(target.mean())
        iterations = getattr(estimator, "n_iter_", None)
        if iterations is None and isinstance(estimator, Pipeline):
            iterations = estimator[-1].n_iter_
        self.n_iter_ = int(np.max(iterations)) if iterations is not None else self.max_iter
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Return the expected spend of each row (>= 0)."""
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
        values = np.asarray(self.estimator_.predict(matrix), dtype=float)
        return np.maximum(values, 0.0)


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


def rescaled_clv(
    expected_spend: pd.Series,
    *,
    expected_purchases: pd.Series,
    discounted_purchases: pd.Series,
) -> pd.Series:
    """CLV whose first H days agree with the supervised spend: ``spend_H * D / E[X(H)]``.

    Parameters
    ----------
    expected_spend
        Supervised expected spend over the scoring horizon ``H``.
    expected_purchases
        The purchase model's expected purchases over ``H`` (undiscounted).
    discounted_purchases
        The purchase model's discounted expected purchases over the CLV horizon (its CLV divided
        by the Gamma-Gamma spend per purchase).

    Returns
    -------
    pandas.Series
        ``clv``, indexed like ``expected_spend``; 0 where the purchase model expects no purchase.

    Notes
    -----
    Equivalent to the probabilistic CLV times the ratio of the supervised to the probabilistic
    ``H``-day spend, without the Gamma-Gamma spend per purchase (it cancels).
    """
    values = rescaled_clv_values(
        expected_spend.to_numpy(dtype=np.float64),
        expected_purchases=expected_purchases.reindex(expected_spend.index).to_numpy(
            dtype=np.float64
        ),
        discounted_purchases=discounted_purchases.reindex(expected_spend.index).to_numpy(
            dtype=np.float64
        ),
    )
    return pd.Series(values, index=expected_spend.index, name="clv")


def rescaled_clv_values(
    expected_spend: np.ndarray,
    *,
    expected_purchases: np.ndarray,
    discounted_purchases: np.ndarray,
) -> np.ndarray:
    """Return :func:`rescaled_clv` of three aligned arrays."""
    spend = np.asarray(expected_spend, dtype=np.float64)
    purchases = np.asarray(expected_purchases, dtype=np.float64)
    discounted = np.asarray(discounted_purchases, dtype=np.float64)
    usable = np.isfinite(purchases) & np.isfinite(discounted) & (purchases > 1e-12)
    multiplier = np.divide(discounted, purchases, out=np.zeros_like(spend), where=usable)
    return spend * multiplier
