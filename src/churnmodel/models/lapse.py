"""Lapse classifier: calibrated P(no purchase in the next H days) from customer features.

A scikit-learn classifier, gradient boosting by default (``HistGradientBoostingClassifier``,
which reads missing values and the life-cycle stage natively) or logistic regression as the
simple alternative, followed by a probability calibration fitted on a **time-separated** fold:
given the cut-off of each training row, the model is fitted on the rows of the earlier
cut-offs and calibrated (isotonic or sigmoid) on the rows of the latest one, through
:class:`sklearn.calibration.CalibratedClassifierCV` around a
:class:`sklearn.frozen.FrozenEstimator`. The calibrated probability of the positive class (the
larger label, 1 = lapsed) is the ``p_churn`` of the scores.

References
----------
Niculescu-Mizil, A. and Caruana, R. (2005), "Predicting good probabilities with supervised
learning", ICML 2005.

Zadrozny, B. and Elkan, C. (2002), "Transforming classifier scores into accurate multiclass
probability estimates", KDD 2002.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import Tags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models._trees import FastHGBClassifier
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

__all__ = ["LapseClassifier"]

_MODELS = ("hgb", "logistic")
_CALIBRATIONS = ("isotonic", "sigmoid")


class LapseClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated probability that a customer makes no purchase in the next H days.

    Parameters
    ----------
    model
        ``"hgb"`` (``HistGradientBoostingClassifier``, default) or ``"logistic"`` (logistic
        regression on ``signed_log1p``-transformed, imputed, standardised features and one-hot
        categories).
    calibration
        ``"isotonic"`` (default), ``"sigmoid"`` (Platt scaling) or ``None`` (raw scores).
    calibration_cv
        Folds of the cross-fitted calibration used only when ``fit`` gets no ``cutoff`` (then
        the calibration fold is not time-separated; the workflows always pass ``cutoff``).
        Fewer folds are used when a class has fewer rows, none when it has one.
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization
        Gradient-boosting settings (``model="hgb"``).
    C
        Inverse regularisation strength of the logistic regression (``model="logistic"``).
    random_state
        Seed of the gradient boosting (ties in its binning); the fit is otherwise deterministic.
    n_threads
        Cap on the OpenMP/BLAS threads during ``fit`` and permutation importance (None:
        scikit-learn's default, every core). 1 is much faster on a machine busy with other jobs.
        Prediction runs under the caller's limits (the scoring job sets them once for the
        whole run; capping per call costs milliseconds a request cannot spare).

    Attributes
    ----------
    classes_ : numpy.ndarray
        The two labels; ``predict_proba[:, 1]`` is the probability of ``classes_[1]``.
    estimator_ : estimator
        The fitted, uncalibrated model (on the rows of the earlier cut-offs when ``cutoff`` is
        given).
    calibrator_ : CalibratedClassifierCV or None
        The calibration; ``None`` when ``calibration`` is ``None``.
    calibration_cutoff_ : object or None
        The cut-off whose rows calibrated the model (``None`` without ``cutoff``).
    n_fit_rows_, n_calibration_rows_ : int
        Rows used to fit and to calibrate.
    n_iter_ : int
        Boosting iterations (or solver iterations of the logistic regression).
    n_features_in_ : int
    feature_names_in_ : numpy.ndarray
        Only when fitted on a DataFrame with string column names.

    Notes
    -----
    Categorical columns of a DataFrame (``lifecycle_stage``) are encoded with
    :class:`~churnmodel.models.encoding.TabularEncoder`; gradient boosting treats them as
    categorical splits, logistic regression one-hot encodes them. No training data are kept.
    """

    def __init__(
        self,
        *,
        model: str = "hgb",
        calibration: str | None = "isotonic",
        calibration_cv: int = 3,
        learning_rate: float = 0.05,
        max_iter: int = 100,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 100,
        l2_regularization: float = 0.0,
        C: float = 1.0,
        random_state: int | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.model = model
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.C = C
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    # ---------------------------------------------------------------------------- checks
    def _check_params(self) -> None:
        if self.model not in _MODELS:
            raise ConfigError(f"'model' must be one of {list(_MODELS)}, got {self.model!r}")
        if self.calibration is not None and self.calibration not in _CALIBRATIONS:
            raise ConfigError(
                f"'calibration' must be one of {list(_CALIBRATIONS)} or None, "
                f"got {self.calibration!r}"
            )
        check_int_param("calibration_cv", self.calibration_cv, 2)
        check_int_param("max_iter", self.max_iter, 1)
        check_int_param("max_leaf_nodes", self.max_leaf_nodes, 2)
        check_int_param("min_samples_leaf", self.min_samples_leaf, 1)
        check_number_param("learning_rate", self.learning_rate, positive=True)
        check_number_param("l2_regularization", self.l2_regularization, positive=False)
        check_number_param("C", self.C, positive=True)

    def _base(self, categorical: np.ndarray) -> Any:
        if self.model == "hgb":
            return FastHGBClassifier(
                learning_rate=self.learning_rate,
                max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                categorical_features=categorical if categorical.any() else None,
                early_stopping=False,
                random_state=self.random_state,
            )
        return Pipeline(
            [
                ("prep", linear_preprocessor(categorical)),
                ("logistic", LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=500)),
            ]
        )

    # ------------------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any, *, cutoff: Any = None) -> Self:
        """Fit the model and its calibration.

        Parameters
        ----------
        X
            Features: a DataFrame (categorical columns allowed, NaN read as missing) or a 2-D
            numeric array.
        y
            Binary labels (1 = lapsed: no purchase in the label window).
        cutoff
            The cut-off (any sortable time key) of each row. Rows of the latest cut-off
            calibrate, the others fit: a time-separated fold. Without it, the calibration is
            cross-fitted on ``calibration_cv`` stratified folds.

        Returns
        -------
        self

        Raises
        ------
        ConfigError
            For a hyperparameter out of range (the message shows the value).
        DataValidationError
            If a fold lacks one of the classes, or ``cutoff`` does not match ``X``.
        """
        self._check_params()
        with thread_limit(self.n_threads):
            return self._fit(X, y, cutoff)

    def _fit(self, X: Any, y: Any, cutoff: Any) -> Self:
        encoder, matrix = fit_matrix(self, X)
        target = column_or_1d(np.asarray(y), warn=True)
        if target.shape[0] != matrix.shape[0]:
            raise ValueError(
                f"X has {matrix.shape[0]} rows but y has {target.shape[0]}; they must match"
            )
        if target.dtype.kind == "f" and not np.all(np.isfinite(target)):
            raise ValueError("Input y contains NaN or infinity; labels must be 0/1")
        y_type = type_of_target(target, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(
                "Only binary classification is supported (lapsed or not). The type of the "
                f"target is {y_type}."
            )
        classes = np.unique(target)
        if classes.size != 2:
            raise ValueError(
                f"LapseClassifier needs both classes in y (lapsed and not lapsed), got one "
                f"class: {classes.tolist()}"
            )
        base = self._base(categorical_mask(encoder, matrix.shape[1]))
        calibration_cutoff = None
        if cutoff is not None:
            keys = np.asarray(pd.Series(cutoff).to_numpy())
            if keys.shape[0] != matrix.shape[0]:
                raise DataValidationError(
                    f"'cutoff' has {keys.shape[0]} values for {matrix.shape[0]} rows of X"
                )
            calibration_cutoff = max(keys.tolist())
            is_cal = keys == calibration_cutoff
            if self.calibration is None:
                is_cal = np.zeros_like(is_cal)
            fit_rows = ~is_cal
            _check_fold(target[fit_rows], classes, "fit (earlier cut-offs)")
            base.fit(matrix[fit_rows], target[fit_rows])
            calibrator = None
            if self.calibration is not None:
                _check_fold(target[is_cal], classes, f"calibration (cut-off {calibration_cutoff})")
                calibrator = CalibratedClassifierCV(FrozenEstimator(base), method=self.calibration)
                calibrator.fit(matrix[is_cal], target[is_cal])
            n_fit, n_cal = int(fit_rows.sum()), int(is_cal.sum())
        elif self.calibration is None:
            base.fit(matrix, target)
            calibrator = None
            n_fit, n_cal = matrix.shape[0], 0
        else:
            folds = min(self.calibration_cv, int(np.unique(target, return_counts=True)[1].min()))
            if folds < 2:  # a class with one row cannot be cross-fitted: no calibration
                base.fit(matrix, target)
                calibrator = None
                n_fit, n_cal = matrix.shape[0], 0
            else:
                calibrator = CalibratedClassifierCV(
                    base, method=self.calibration, cv=folds, ensemble=True
                )
                calibrator.fit(matrix, target)
                base = calibrator.calibrated_classifiers_[0].estimator
                n_fit, n_cal = matrix.shape[0], matrix.shape[0]

        self.encoder_ = encoder
        self.estimator_ = base
        self.calibrator_: CalibratedClassifierCV | None = calibrator
        self.classes_ = classes
        self.calibration_cutoff_ = calibration_cutoff
        self.n_fit_rows_ = n_fit
        self.n_calibration_rows_ = n_cal
        iterations = getattr(base, "n_iter_", None)
        if iterations is None and isinstance(base, Pipeline):
            iterations = base[-1].n_iter_
        self.n_iter_ = int(np.max(iterations)) if iterations is not None else self.max_iter
        return self

    # --------------------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise EstimatorNotFittedError(
                "this LapseClassifier is not fitted yet; call fit(X, y, cutoff=...) first"
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return calibrated class probabilities, shape ``(n, 2)``; column 1 is ``p_churn``."""
        self._check_fitted()
        return self.predict_proba_encoded(transform_matrix(self, self.encoder_, X))

    def predict_proba_encoded(self, matrix: np.ndarray) -> np.ndarray:
        """Return :meth:`predict_proba` of rows already encoded as the model reads them.

        ``matrix``: ``encoder_.transform(X)`` (or, without an encoder, ``X`` as floats).
        """
        self._check_fitted()
        if self.calibrator_ is None:
            return np.asarray(self.estimator_.predict_proba(matrix))
        return _calibrated_proba(self.calibrator_, matrix)

    def predict_uncalibrated(self, X: Any) -> np.ndarray:
        """Return the uncalibrated probability of ``classes_[1]`` (for diagnostics)."""
        self._check_fitted()
        matrix = transform_matrix(self, self.encoder_, X)
        return np.asarray(self.estimator_.predict_proba(matrix)[:, 1])

    def permutation_importance(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        n_repeats: int = 5,
        max_samples: float | int = 1.0,
        random_state: int | None = 0,
        scoring: str = "roc_auc",
    ) -> pd.DataFrame:
        """Drop in ``scoring`` when each feature is shuffled, on held-out rows.

        :func:`sklearn.inspection.permutation_importance` on the encoded matrix (the same
        permutations as on ``X``, without re-encoding ``X`` for every one). ``max_samples``
        (a share of the rows, or a number of rows; above the number of rows means every row)
        draws one subsample, seeded by ``random_state``, on which both the intact and the
        shuffled scores are computed. (scikit-learn's own ``max_samples`` scores the intact
        model on every row and the shuffled ones on a subsample: a feature the model never
        uses then shows the difference between the two samples as its importance.)

        Returns
        -------
        pandas.DataFrame
            ``importance_mean`` and ``importance_std`` indexed by ``feature``, largest first.
        """
        self._check_fitted()
        matrix = transform_matrix(self, self.encoder_, X)
        target = np.asarray(y)
        model = self.calibrator_ if self.calibrator_ is not None else self.estimator_
        rows = _subsample(matrix.shape[0], max_samples, random_state)
        if rows is not None:
            matrix, target = matrix[rows], target[rows]
        with thread_limit(self.n_threads):
            result = permutation_importance(
                model,
                matrix,
                target,
                scoring=scoring,
                n_repeats=n_repeats,
                random_state=random_state,
            )
        names = getattr(self, "feature_names_in_", None)
        index = list(names) if names is not None else [f"x{j}" for j in range(matrix.shape[1])]
        out = pd.DataFrame(
            {"importance_mean": result.importances_mean, "importance_std": result.importances_std},
            index=pd.Index(index, name="feature"),
        )
        return out.sort_values("importance_mean", ascending=False)

    def predict(self, X: Any) -> np.ndarray:
        """Return the more probable class of each row."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[(proba[:, 1] > 0.5).astype(int)])

    def predict_churn(self, X: pd.DataFrame) -> pd.Series:
        """Return ``p_churn`` (probability of ``classes_[1]``) indexed like ``X``."""
        proba = self.predict_proba(X)[:, 1]
        index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(proba))
        return pd.Series(proba, index=index, name="p_churn")


def _calibrated_proba(calibrator: CalibratedClassifierCV, matrix: np.ndarray) -> np.ndarray:
    """Return ``calibrator.predict_proba(matrix)`` of a binary model, the same numbers.

    scikit-learn fits a ``LabelEncoder`` and resolves the response method of every calibrated
    classifier on each call: 0.6 ms, three times the cost of the model itself on one row (a
    scoring request). For two classes and a model with ``decision_function`` (gradient
    boosting, the logistic pipeline), this averages the same calibrated probabilities in the
    same order: column 1 is the calibrator's prediction on the decision function, column 0 is
    one minus it. Anything else is left to scikit-learn.
    """
    pairs = [(c.estimator, c.calibrators) for c in calibrator.calibrated_classifiers_]
    if (
        len(calibrator.classes_) != 2
        or calibrator.method not in _CALIBRATIONS
        or not all(hasattr(est, "decision_function") and len(cal) == 1 for est, cal in pairs)
    ):
        return np.asarray(calibrator.predict_proba(matrix))
    mean = np.zeros((matrix.shape[0], 2))
    for estimator, (calibration,) in pairs:
        decision = np.asarray(estimator.decision_function(matrix))
        if decision.ndim != 1:
            return np.asarray(calibrator.predict_proba(matrix))
        proba = np.zeros((matrix.shape[0], 2))
        proba[:, 1] = calibration.predict(decision)
        proba[:, 0] = 1.0 - proba[:, 1]
        mean += proba
    mean /= len(pairs)
    return mean


def _check_fold(target: np.ndarray, classes: np.ndarray, what: str) -> None:
    present = np.unique(target)
    if present.size < classes.size:
        raise DataValidationError(
            f"the {what} fold has {target.size} rows and only the class(es) "
            f"{present.tolist()}; both {classes.tolist()} are needed",
            hint="use more cut-offs or customers, or a label horizon where both lapsers and "
            "buyers occur",
        )


def _subsample(n_rows: int, max_samples: float | int, seed: int | None) -> np.ndarray | None:
    """Return sorted row numbers of a seeded subsample, or None for every row."""
    if isinstance(max_samples, bool) or not isinstance(max_samples, int | float | np.number):
        raise ConfigError(f"'max_samples' must be a number, got {max_samples!r}")
    if isinstance(max_samples, int | np.integer):
        if max_samples < 1:
            raise ConfigError(f"'max_samples' must be >= 1 rows, got {max_samples}")
        size = int(max_samples)
    else:
        if not 0.0 < float(max_samples) <= 1.0:
            raise ConfigError(f"'max_samples' as a share must be in (0, 1], got {max_samples}")
        size = max(1, int(float(max_samples) * n_rows))
    if size >= n_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))
