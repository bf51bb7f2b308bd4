"""LapseClassifier: the scikit-learn contract, time-separated calibration, frames, errors."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.models import LapseClassifier

# Small and fast settings: the checks fit dozens of times on tiny data.
FAST = {"max_iter": 15, "min_samples_leaf": 5, "random_state": 0, "n_threads": 1}


@parametrize_with_checks(
    [
        LapseClassifier(**FAST),
        LapseClassifier(model="logistic", calibration="sigmoid", n_threads=1),
    ]
)
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def frame(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features with a categorical stage and NaN, a lapse label, and three cut-offs."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(60.0, n)
    frequency = rng.poisson(2.0, n).astype(float)
    gap = np.where(frequency > 0, rng.gamma(2.0, 20.0, n), np.nan)
    stage = rng.choice(["new", "active", "lapsed_long"], n)
    logit = 0.03 * recency - 0.5 * frequency + np.where(stage == "lapsed_long", 1.0, 0.0) - 1.0
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {
            "days_since_last": recency,
            "frequency": frequency,
            "gap_mean_days": gap,
            "lifecycle_stage": pd.Categorical(stage),
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"),
    )
    cutoff = pd.Series(
        np.repeat(pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31"]), n // 3)
    )
    return X, pd.Series(y, index=X.index), cutoff


def test_init_only_stores_keyword_only_hyperparameters() -> None:
    params = inspect.signature(LapseClassifier.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "self")
    model = LapseClassifier(learning_rate=-1.0)
    assert model.get_params()["learning_rate"] == -1.0
    assert not [k for k in vars(model) if k.endswith("_")]
    assert clone(model).get_params() == model.get_params()


def test_calibration_is_fitted_on_the_latest_cutoff_only() -> None:
    X, y, cutoff = frame()
    model = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    latest = cutoff == cutoff.max()
    assert model.calibration_cutoff_ == cutoff.max()
    assert model.n_fit_rows_ == int((~latest).sum())
    assert model.n_calibration_rows_ == int(latest.sum())
    # Same as fitting the model on the earlier cut-offs and calibrating it on the latest.
    early, late = ~latest.to_numpy(), latest.to_numpy()
    base = LapseClassifier(**{**FAST, "calibration": None}).fit(X[early], y[early])
    np.testing.assert_allclose(model.predict_uncalibrated(X), base.predict_proba(X)[:, 1])
    matrix = model.encoder_.transform(X)
    by_hand = CalibratedClassifierCV(FrozenEstimator(base.estimator_), method="isotonic")
    by_hand.fit(matrix[late], y[late])
    np.testing.assert_allclose(model.predict_proba(X), by_hand.predict_proba(matrix))


@pytest.mark.parametrize("kind", ["hgb", "logistic"])
@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("by_cutoff", [True, False])
def test_probabilities_are_scikit_learns_to_the_bit(
    kind: str, calibration: str, by_cutoff: bool
) -> None:
    # predict_proba averages the calibrated classifiers itself (scikit-learn's set-up per call
    # costs more than the model on one row): the numbers must be scikit-learn's, for one
    # time-separated calibrator and for cross-fitted ensembles of three.
    X, y, cutoff = frame(seed=4)
    params = {**FAST, "model": kind, "calibration": calibration, "calibration_cv": 3}
    model = LapseClassifier(**params).fit(X, y, cutoff=cutoff if by_cutoff else None)
    assert len(model.calibrator_.calibrated_classifiers_) == (1 if by_cutoff else 3)
    matrix = model.encoder_.transform(X)
    for rows in (slice(0, 1), slice(0, 7), slice(None)):
        np.testing.assert_array_equal(
            model.predict_proba(X[rows]), model.calibrator_.predict_proba(matrix[rows])
        )


def test_calibration_none_uses_every_row() -> None:
    X, y, cutoff = frame()
    model = LapseClassifier(**{**FAST, "calibration": None}).fit(X, y, cutoff=cutoff)
    assert model.calibrator_ is None
    assert model.n_fit_rows_ == len(X)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], model.predict_uncalibrated(X))


@pytest.mark.parametrize("kind", ["hgb", "logistic"])
def test_frames_with_categories_and_missing_values(kind: str) -> None:
    X, y, cutoff = frame()
    model = LapseClassifier(**{**FAST, "model": kind}).fit(X, y, cutoff=cutoff)
    assert list(model.feature_names_in_) == list(X.columns)
    p = model.predict_churn(X)
    assert p.index.equals(X.index)
    assert p.between(0.0, 1.0).all()
    # Unseen stage, missing values and reordered columns are scored, not rejected.
    other = X.iloc[:5][list(reversed(X.columns))].copy()
    other["lifecycle_stage"] = ["inactive", None, "new", "active", "loyal"]
    other["gap_mean_days"] = np.nan
    assert np.isfinite(model.predict_proba(other)).all()
    # A stage learnt by the model moves the score the way the data say.
    stages = X.iloc[[0, 0]].copy()
    stages["lifecycle_stage"] = pd.Categorical(["active", "lapsed_long"])
    low, high = model.predict_proba(stages)[:, 1]
    assert high > low


def test_predict_checks_the_columns() -> None:
    X, y, cutoff = frame()
    model = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    with pytest.raises(DataValidationError, match="no column 'frequency'"):
        model.predict_proba(X.drop(columns="frequency"))
    with pytest.raises(DataValidationError, match="infinite"):
        model.predict_proba(X.assign(frequency=np.inf))


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("model", "forest", "'model' must be one of"),
        ("calibration", "beta", "'calibration' must be one of"),
        ("learning_rate", 0.0, "'learning_rate' must be a number > 0, got 0.0"),
        ("max_iter", 0, "'max_iter' must be an integer >= 1, got 0"),
        ("C", -1.0, "'C' must be a number > 0, got -1.0"),
    ],
)
def test_bad_hyperparameters_fail_in_fit_with_the_value(
    param: str, value: object, message: str
) -> None:
    X, y, cutoff = frame(90)
    model = LapseClassifier(**{param: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        model.fit(X, y, cutoff=cutoff)


def test_a_fold_with_one_class_is_refused() -> None:
    X, y, cutoff = frame(300)
    y = y.copy()
    y[(cutoff == cutoff.max()).to_numpy()] = 1
    with pytest.raises(DataValidationError, match=r"calibration .* fold .* only the class"):
        LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    with pytest.raises(DataValidationError, match="'cutoff' has 2 values"):
        LapseClassifier(**FAST).fit(X, y, cutoff=cutoff[:2])


def test_not_fitted_error_is_both_ours_and_sklearns() -> None:
    X, _, _ = frame(30)
    for error in (NotFittedError, SklearnNotFittedError):
        with pytest.raises(error, match="not fitted yet"):
            LapseClassifier().predict_proba(X)


def test_pickles_without_training_rows() -> None:
    X, y, cutoff = frame(3000)
    model = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    for name, value in vars(model).items():
        assert not isinstance(value, pd.DataFrame | pd.Series), name
        assert np.asarray(value, dtype=object).size < len(X), name


def test_permutation_importance_scores_intact_and_shuffled_on_the_same_rows() -> None:
    X, y, cutoff = frame(900)
    # A constant column: the model cannot use it, so shuffling it changes nothing and its
    # importance is exactly 0, also when only a subsample of the rows is scored.
    X = X.assign(constant=1.0)
    model = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    for max_samples in (1.0, 0.3, 250):
        imp = model.permutation_importance(X, y, n_repeats=3, max_samples=max_samples)
        assert imp.loc["constant", "importance_mean"] == 0.0
        assert imp.loc["constant", "importance_std"] == 0.0
        assert imp["importance_mean"].iloc[0] > 0.01  # days_since_last drives the label
    seeded = model.permutation_importance(X, y, n_repeats=3, max_samples=250, random_state=0)
    pd.testing.assert_frame_equal(seeded, imp)  # the same seed draws the same rows
    with pytest.raises(ConfigError, match="max_samples"):
        model.permutation_importance(X, y, max_samples=1.5)
    with pytest.raises(ConfigError, match="max_samples"):
        model.permutation_importance(X, y, max_samples=0)
