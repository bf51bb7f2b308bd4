"""Lapse classifier: calibrated P(no purchase in the next H days) from customer features.

A scikit-learn classifier, gradient boosting by default (``HistGradientBoostingClassifier``,
which reads missing values and the life-cycle stage natively) or logistic regression as the
simple alternative, followed by a probability calibration fitted on a **time-separated** fold:
given the cut-off of each training row, the model is fitted on the rows of the earlier
cut-offs and calibrated on the rows of the latest one. The calibrated probability of the
positive class (the larger label, 1 = lapsed) is the ``p_churn`` of the scores.

Two properties the scores need (``docs/lapse-and-spend.md``):

* **p_churn ranks customers.** The calibration maps the boosting score ``z`` (its logit) and
  the purchase model's lapse logit ``l = logit P(no purchase)`` (the ``prob_p_no_purchase``
  column, continuous in frequency, recency and T) to a probability that is strictly
  increasing in both: ``"sigmoid"`` is Platt scaling on the two, with non-negative
  coefficients and at least ``tie_break`` on ``l``; ``"isotonic"`` is the isotonic map of
  ``z`` interpolated linearly between the centres of its steps, mixed with weight
  ``tie_break`` with ``sigmoid(z + l)``. Isotonic regression alone is a step function: about
  a hundred distinct values for twenty thousand customers, so a top-N list is decided by ties.
* **p_churn never falls as a customer grows stale.** With ``monotonic=True`` the boosting is
  constrained to be non-decreasing in the features that rise with the time since the last
  purchase and non-increasing in those that fall
  (:data:`~churnmodel.models.estimators.STALENESS_DIRECTIONS`).

References
----------
Platt, J. (1999), "Probabilistic outputs for support vector machines and comparisons to
regularized likelihood methods", Advances in Large Margin Classifiers, 61-74.

Niculescu-Mizil, A. and Caruana, R. (2005), "Predicting good probabilities with supervised
learning", ICML 2005.

Zadrozny, B. and Elkan, C. (2002), "Transforming classifier scores into accurate multiclass
probability estimates", KDD 2002.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.inspection import permutation_importance
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
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
    StageRanks,
    check_int_param,
    check_number_param,
    monotonic_constraints,
    thread_limit,
)

__all__ = ["LapseClassifier"]

_MODELS = ("hgb", "logistic")
_CALIBRATIONS = ("isotonic", "sigmoid")
#: The purchase model's lapse probability among the features, read by the calibration.
PURCHASE_SCORE_COLUMN = "prob_p_no_purchase"
# Logits of probabilities are taken at most this close to 0 or 1.
_EPS = 1e-12


class LapseClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated probability that a customer makes no purchase in the next H days.

    Parameters
    ----------
    model
        ``"hgb"`` (``HistGradientBoostingClassifier``, default) or ``"logistic"`` (logistic
        regression on ``signed_log1p``-transformed, imputed, standardised features and one-hot
        categories).
    calibration
        ``"isotonic"`` (default), ``"sigmoid"`` or ``None`` (raw scores); see the module
        docstring. Both calibrations are strictly increasing in the model's score and in the
        purchase model's lapse logit, so customers are ranked without ties.
    calibration_cv
        Folds of the cross-fitted calibration used only when ``fit`` gets no ``cutoff`` (then
        the calibration fold is not time-separated; the workflows always pass ``cutoff``).
        Fewer folds are used when a class has fewer rows, none when it has one.
    monotonic
        Constrain the gradient boosting to be monotone in staleness: non-decreasing in the
        features that rise as the scoring date moves past the last purchase (``T``,
        ``days_since_last``, ``tenure_days``, ``gap_ratio``, ``prob_p_no_purchase``) and
        non-increasing in those that fall (trailing-window counts and spend, ``prob_p_alive``,
        ``prob_expected_purchases``, ``prob_expected_spend``, ``prob_clv``), matched by column
        name (:func:`~churnmodel.models.estimators.staleness_direction`); the life-cycle stage
        is then read as its rank in the order a customer passes through the stages
        (:class:`~churnmodel.models.estimators.StageRanks`) and constrained too. Default True;
        no effect on unnamed columns or on ``model="logistic"``.
    tie_break
        Weight of the purchase model's lapse logit that keeps the calibrated probabilities of
        customers with equal model scores apart: the least coefficient of ``l`` in the
        sigmoid, the weight of ``sigmoid(z + l)`` in the isotonic mixture (default 1e-3; 0
        turns it off). Used when the features hold ``prob_p_no_purchase``.
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization
        Gradient-boosting settings (``model="hgb"``).
    C
        Inverse regularisation strength of the logistic regression (``model="logistic"``).
    random_state
        Seed of the gradient boosting (ties in its binning) and of the calibration folds.
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
    calibrator_ : ScoreCalibration or None
        The calibration; ``None`` when ``calibration`` is ``None`` (a model pickled by an
        earlier release keeps its ``CalibratedClassifierCV``).
    calibration_cutoff_ : object or None
        The cut-off whose rows calibrated the model (``None`` without ``cutoff``).
    purchase_score_index_ : int or None
        Column of ``prob_p_no_purchase`` in the encoded matrix (``None``: not among the
        features).
    stage_ranks_ : StageRanks or None
        How the stage column is read as a rank (``monotonic`` gradient boosting), else None.
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
    categorical splits (the stage as a constrained rank when ``monotonic``), logistic
    regression one-hot encodes them. No training data are kept.
    """

    def __init__(
        self,
        *,
        model: str = "hgb",
        calibration: str | None = "isotonic",
        calibration_cv: int = 3,
        monotonic: bool = True,
        tie_break: float = 1e-3,
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
        self.monotonic = monotonic
        self.tie_break = tie_break
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.C = C
        self.random_state = random_state
        self.n_threads = n_threads

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A model pickled before the monotone constraints and the tie-free calibration (a
        # registered champion): its hyperparameters as it was fitted, its scikit-learn
        # calibration kept (see predict_proba_encoded).
        state = {"monotonic": False, "tie_break": 0.0, **state}
        if "classes_" in state:
            state = {
                "stage_ranks_": None,
                "purchase_score_index_": None,
                "level_shift_": 0.0,
                **state,
            }
        super().__setstate__(state)

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
        if not isinstance(self.monotonic, bool | np.bool_):
            raise ConfigError(f"'monotonic' must be True or False, got {self.monotonic!r}")
        check_int_param("calibration_cv", self.calibration_cv, 2)
        check_int_param("max_iter", self.max_iter, 1)
        check_int_param("max_leaf_nodes", self.max_leaf_nodes, 2)
        check_int_param("min_samples_leaf", self.min_samples_leaf, 1)
        check_number_param("learning_rate", self.learning_rate, positive=True)
        check_number_param("l2_regularization", self.l2_regularization, positive=False)
        check_number_param("C", self.C, positive=True)
        check_number_param("tie_break", self.tie_break, positive=False)
        if self.tie_break >= 1:
            raise ConfigError(f"'tie_break' must be a number >= 0 and < 1, got {self.tie_break!r}")

    def _base(self, categorical: np.ndarray) -> Any:
        if self.model == "hgb":
            names = getattr(self, "feature_names_in_", None)
            cst = (
                monotonic_constraints(
                    None if names is None else list(names), list(categorical), sign=1
                )
                if self.monotonic
                else None
            )
            return FastHGBClassifier(
                learning_rate=self.learning_rate,
                max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                categorical_features=categorical if categorical.any() else None,
                monotonic_cst=cst,
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
    def fit(self, X: Any, y: Any, *, cutoff: Any = None, level_cutoff: Any = None) -> Self:
        """Fit the model and its calibration.

        Parameters
        ----------
        X
            Features: a DataFrame (categorical columns allowed, NaN read as missing) or a 2-D
            numeric array.
        y
            Binary labels (1 = lapsed: no purchase in the label window).
        cutoff
            The cut-off (any sortable time key) of each row. Rows of one cut-off calibrate,
            the others fit: a time-separated fold. Without it, the calibration is fitted on
            out-of-fold scores of ``calibration_cv`` stratified folds and the model is refitted
            on every row.
        level_cutoff
            A cut-off (one of ``cutoff``'s values, not the latest) whose rows set the level of
            the calibrated probabilities: after the calibration on the latest cut-off, one
            shift of their log-odds is fitted by maximum likelihood on these rows
            (``level_shift_``). The training design passes the cut-off a year before the
            scoring date, whose label window is the served window one year earlier
            (:attr:`~churnmodel.models.TrainingCutoffs.same_window`): a calendar window's
            lapse rate depends on the season, and the latest fold is another season. The
            shift is monotone, so it changes no ranking.

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
            return self._fit(X, y, cutoff, level_cutoff)

    def _fit(self, X: Any, y: Any, cutoff: Any, level_cutoff: Any = None) -> Self:
        encoder, matrix = fit_matrix(self, X)
        encoded = matrix  # as predict_proba_encoded reads it (before the stage ranks)
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
        positive = target == classes[1]
        names = getattr(self, "feature_names_in_", None)
        score_index = (
            list(names).index(PURCHASE_SCORE_COLUMN)
            if names is not None and PURCHASE_SCORE_COLUMN in list(names)
            else None
        )
        mask = categorical_mask(encoder, matrix.shape[1])
        stage = StageRanks.of(encoder) if self.monotonic and self.model == "hgb" else None
        if stage is not None:  # the stage as its staleness rank, constrained like the rest
            matrix, mask = stage.apply(matrix), stage.categorical(mask)
        base = self._base(mask)
        calibration_cutoff = None
        calibrator: ScoreCalibration | None = None
        is_level: np.ndarray | None = None
        if cutoff is None and level_cutoff is not None:
            raise ConfigError("'level_cutoff' needs the 'cutoff' of every row")
        if cutoff is not None:
            series = pd.Series(cutoff).reset_index(drop=True)
            keys = np.asarray(series.to_numpy())
            if keys.shape[0] != matrix.shape[0]:
                raise DataValidationError(
                    f"'cutoff' has {keys.shape[0]} values for {matrix.shape[0]} rows of X"
                )
            calibration_cutoff = max(keys.tolist())
            is_cal = keys == calibration_cutoff
            if level_cutoff is not None:
                is_level = np.asarray(series == level_cutoff)
                if not is_level.any() or (is_level & is_cal).any():
                    raise ConfigError(
                        f"'level_cutoff' {level_cutoff!r} must be one of the cut-offs of the "
                        f"rows other than the latest ({calibration_cutoff!r})"
                    )
            if self.calibration is None:
                is_cal = np.zeros_like(is_cal)
            fit_rows = ~is_cal
            _check_fold(target[fit_rows], classes, "fit (earlier cut-offs)")
            base.fit(matrix[fit_rows], target[fit_rows])
            if self.calibration is not None:
                _check_fold(target[is_cal], classes, f"calibration (cut-off {calibration_cutoff})")
                cal = matrix[is_cal]
                calibrator = ScoreCalibration(self.calibration, self.tie_break).fit(
                    _decision(base, cal), _purchase_logit(cal, score_index), positive[is_cal]
                )
            n_fit, n_cal = int(fit_rows.sum()), int(is_cal.sum())
        else:
            folds = min(self.calibration_cv, int(np.unique(target, return_counts=True)[1].min()))
            if self.calibration is not None and folds >= 2:
                # Out-of-fold scores calibrate; the model is then refitted on every row.
                scores = np.empty(matrix.shape[0])
                split = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
                for train, held in split.split(matrix, target):
                    fold_model = clone(base).fit(matrix[train], target[train])
                    scores[held] = _decision(fold_model, matrix[held])
                calibrator = ScoreCalibration(self.calibration, self.tie_break).fit(
                    scores, _purchase_logit(matrix, score_index), positive
                )
            base.fit(matrix, target)  # a class with one row cannot be cross-fitted: raw scores
            n_fit = matrix.shape[0]
            n_cal = matrix.shape[0] if calibrator is not None else 0

        self.encoder_ = encoder
        self.stage_ranks_ = stage
        self.estimator_ = base
        self.calibrator_ = calibrator
        self.classes_ = classes
        self.calibration_cutoff_ = calibration_cutoff
        self.purchase_score_index_ = score_index
        self.n_fit_rows_ = n_fit
        self.n_calibration_rows_ = n_cal
        iterations = getattr(base, "n_iter_", None)
        if iterations is None and isinstance(base, Pipeline):
            iterations = base[-1].n_iter_
        self.n_iter_ = int(np.max(iterations)) if iterations is not None else self.max_iter
        self.level_shift_ = 0.0
        if is_level is not None and calibrator is not None:  # fitted: predict as served
            self.level_shift_ = _level_shift(
                self.predict_proba_encoded(encoded[is_level])[:, 1], positive[is_level]
            )
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
        if self.stage_ranks_ is not None:
            matrix = self.stage_ranks_.apply(matrix)
        if self.calibrator_ is None:
            return np.asarray(self.estimator_.predict_proba(matrix))
        if not isinstance(self.calibrator_, ScoreCalibration):  # pickled before: scikit-learn's
            return np.asarray(self.calibrator_.predict_proba(matrix))
        p = self.calibrator_.predict(
            _decision(self.estimator_, matrix),
            _purchase_logit(matrix, self.purchase_score_index_),
        )
        shift = getattr(self, "level_shift_", 0.0)
        if shift:
            p = _shifted(p, shift)
        return np.column_stack([1.0 - p, p])

    def predict_uncalibrated(self, X: Any) -> np.ndarray:
        """Return the uncalibrated probability of ``classes_[1]`` (for diagnostics)."""
        self._check_fitted()
        matrix = transform_matrix(self, self.encoder_, X)
        if self.stage_ranks_ is not None:
            matrix = self.stage_ranks_.apply(matrix)
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
        rows = _subsample(matrix.shape[0], max_samples, random_state)
        if rows is not None:
            matrix, target = matrix[rows], target[rows]
        with thread_limit(self.n_threads):
            result = permutation_importance(
                _EncodedClassifier(self),
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


# ------------------------------------------------------------------------- calibration
class ScoreCalibration:
    """Map a model's score ``z`` and the purchase model's lapse logit ``l`` to a probability.

    Strictly increasing in ``z`` and, with ``tie_break > 0``, in ``l`` (``l`` may be all 0:
    no purchase-model column, then strictly increasing in ``z`` only).

    * ``"sigmoid"``: ``sigmoid(a + b z + c l)`` fitted by maximum likelihood with ``b >= 0``
      and ``c >= tie_break`` (Platt scaling on the two scores, "stacking").
    * ``"isotonic"``: ``(1 - tie_break) f(z) + tie_break sigmoid(z + l)``, with ``f`` the
      isotonic regression of the labels on ``z`` interpolated linearly between the centres of
      its constant blocks (constant beyond the outer centres). Isotonic regression itself is
      a step function; interpolating between the steps keeps its calibration and the model's
      ranking.

    Attributes (after :meth:`fit`): ``coef_`` (``a, b, c``; sigmoid) or ``x_``, ``y_`` (the
    interpolation points; isotonic).
    """

    def __init__(self, method: str, tie_break: float) -> None:
        self.method = method
        self.tie_break = float(tie_break)

    def fit(self, z: np.ndarray, l: np.ndarray, y: np.ndarray) -> Self:  # noqa: E741
        """Fit on scores ``z``, purchase-model logits ``l`` and 0/1 labels ``y``."""
        y = np.asarray(y, dtype=np.float64)
        if self.method == "sigmoid":
            self.coef_ = _fit_sigmoid(z, l, y, self.tie_break if np.any(l) else 0.0)
            return self
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(z, y)
        xs, ys = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
        # X_thresholds_ holds the first and last score of each constant block.
        starts = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])
        ends = np.r_[starts[1:], len(ys)] - 1
        self.x_ = (xs[starts] + xs[ends]) / 2.0
        self.y_ = ys[starts]
        return self

    def predict(self, z: np.ndarray, l: np.ndarray) -> np.ndarray:  # noqa: E741
        """Return the calibrated probability of each row."""
        if self.method == "sigmoid":
            a, b, c = self.coef_
            return np.asarray(expit(a + b * z + c * l))
        f = np.interp(z, self.x_, self.y_)
        if self.tie_break == 0.0:
            return f
        return np.asarray((1.0 - self.tie_break) * f + self.tie_break * expit(z + l))


def _fit_sigmoid(z: np.ndarray, l: np.ndarray, y: np.ndarray, least_c: float) -> np.ndarray:  # noqa: E741
    """Return ``(a, b, c)`` of ``sigmoid(a + b z + c l)`` by maximum likelihood.

    ``b >= 0``, ``c >= least_c``; L-BFGS-B on the mean log loss (convex).
    """
    Z = np.column_stack([np.ones_like(z), z, l])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = Z @ w
        value = np.mean(np.logaddexp(0.0, s) - y * s)
        grad = Z.T @ (expit(s) - y) / len(y)
        return float(value), grad

    start = np.array([0.0, 1.0, max(least_c, 0.0)])
    bounds = [(None, None), (0.0, None), (least_c, None if np.any(l) else least_c)]
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return np.asarray(result.x, dtype=np.float64)


def _decision(model: Any, matrix: np.ndarray) -> np.ndarray:
    """Return a fitted binary model's score (logit of P(classes_[1])) of each row."""
    return np.asarray(model.decision_function(matrix), dtype=np.float64)


def _purchase_logit(matrix: np.ndarray, index: int | None) -> np.ndarray:
    """Return ``logit(prob_p_no_purchase)`` of each row (0 without the column or where NaN)."""
    if index is None:
        return np.zeros(matrix.shape[0])
    p = np.clip(matrix[:, index], _EPS, 1.0 - _EPS)
    with np.errstate(invalid="ignore"):
        out = np.log(p) - np.log1p(-p)
    return np.where(np.isfinite(out), out, 0.0)


class _EncodedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted :class:`LapseClassifier` seen on encoded matrices (for permutation importance)."""

    def __init__(self, model: LapseClassifier | None = None) -> None:
        self.model = model

    def fit(self, X: Any, y: Any) -> Self:  # pragma: no cover - never refitted
        raise NotImplementedError("_EncodedClassifier wraps a fitted model")

    @property
    def classes_(self) -> np.ndarray:
        assert self.model is not None
        return self.model.classes_

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        assert self.model is not None
        return self.model.predict_proba_encoded(matrix)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(matrix)
        return np.asarray(self.classes_[(proba[:, 1] > 0.5).astype(int)])


def _shifted(p: np.ndarray, shift: float) -> np.ndarray:
    """Return ``p`` with its log-odds moved by ``shift`` (0 and 1 stay where they are)."""
    with np.errstate(divide="ignore"):
        z = np.log(p) - np.log1p(-p)
    return np.asarray(1.0 / (1.0 + np.exp(-(z + shift))))


def _level_shift(p: np.ndarray, y: np.ndarray, bound: float = 5.0) -> float:
    """Return the log-odds shift of ``p`` that maximises the likelihood of the labels ``y``.

    One parameter: the score equation ``sum(sigmoid(z + d)) = sum(y)`` (the shifted
    probabilities average the observed rate) is solved by bisection, which is monotone in
    ``d``; probabilities of exactly 0 or 1 do not move.
    """
    target = float(np.sum(y))
    inner = (p > 0.0) & (p < 1.0)
    fixed = float(np.sum(p[~inner]))
    if not inner.any():
        return 0.0
    with np.errstate(divide="ignore"):
        z = np.log(p[inner]) - np.log1p(-p[inner])
    lo, hi = -bound, bound

    def excess(d: float) -> float:
        return fixed + float(np.sum(1.0 / (1.0 + np.exp(-(z + d))))) - target

    if excess(lo) >= 0.0:
        return lo
    if excess(hi) <= 0.0:
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if excess(mid) > 0.0:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2.0


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
