"""LapseClassifier: the scikit-learn contract, time-separated calibration, ranking without ties,
monotone constraints, frames, errors."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.models import LapseClassifier
from churnmodel.models.estimators import STAGE_STALENESS_ORDER
from churnmodel.models.lapse import ScoreCalibration

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


def with_purchase_score(X: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """``X`` plus a purchase-model lapse probability that rises with days since the last."""
    rng = np.random.default_rng(seed)
    score = expit(0.02 * X["days_since_last"] - 1.0 + rng.normal(0.0, 0.3, len(X)))
    return X.assign(prob_p_no_purchase=score.to_numpy())


def test_calibration_is_fitted_on_the_latest_cutoff_only() -> None:
    X, y, cutoff = frame()
    X = with_purchase_score(X)
    model = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    latest = cutoff == cutoff.max()
    assert model.calibration_cutoff_ == cutoff.max()
    assert model.n_fit_rows_ == int((~latest).sum())
    assert model.n_calibration_rows_ == int(latest.sum())
    # Same as fitting the model on the earlier cut-offs and calibrating it on the latest.
    early, late = ~latest.to_numpy(), latest.to_numpy()
    base = LapseClassifier(**{**FAST, "calibration": None}).fit(X[early], y[early])
    np.testing.assert_allclose(model.predict_uncalibrated(X), base.predict_proba(X)[:, 1])
    z = logit(base.predict_proba(X)[:, 1])
    l = logit(X["prob_p_no_purchase"].to_numpy())  # noqa: E741
    by_hand = ScoreCalibration("isotonic", 1e-3).fit(z[late], l[late], y[late].to_numpy())
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], by_hand.predict(z, l), rtol=1e-9)


def test_level_cutoff_moves_the_probabilities_to_its_rate_without_reranking() -> None:
    X, y, cutoff = frame(900, seed=3)
    X = with_purchase_score(X)
    first = cutoff == cutoff.min()
    # The first cut-off's season: everyone lapses more than in the calibration fold.
    y = y.where(~first.to_numpy() | (np.arange(len(y)) % 3 != 0), 1)
    plain = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    shifted = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff, level_cutoff=cutoff.min())
    assert plain.level_shift_ == 0.0 and shifted.level_shift_ > 0.0
    rows = first.to_numpy()
    p = shifted.predict_proba(X)[:, 1]
    # The score equation of the one-parameter fit: the mean equals the rate on those rows.
    assert p[rows].mean() == pytest.approx(y[rows].mean(), abs=1e-6)
    q = plain.predict_proba(X)[:, 1]
    assert (np.argsort(p, kind="stable") == np.argsort(q, kind="stable")).all()
    assert (p > q).all()
    with pytest.raises(ConfigError, match=r"'level_cutoff'.*other than the latest"):
        LapseClassifier(**FAST).fit(X, y, cutoff=cutoff, level_cutoff=cutoff.max())
    with pytest.raises(ConfigError, match="needs the 'cutoff'"):
        LapseClassifier(**FAST).fit(X, y, level_cutoff=cutoff.min())


def test_isotonic_calibration_interpolates_between_the_steps() -> None:
    # Isotonic regression is a step function; the calibration interpolates linearly between
    # the centres of its steps (constant beyond the outer ones) and mixes in a little of
    # sigmoid(z + l) so that equal scores are told apart by the purchase model.
    rng = np.random.default_rng(0)
    z = rng.normal(size=4000)
    l = rng.normal(size=4000)  # noqa: E741
    y = (rng.random(4000) < expit(1.5 * z)).astype(float)
    cal = ScoreCalibration("isotonic", 1e-3).fit(z, l, y)
    iso = IsotonicRegression(out_of_bounds="clip").fit(z, y)
    steps = iso.predict(z)
    assert len(np.unique(steps)) == len(cal.y_) < 200  # the steps of isotonic regression
    for k in range(len(cal.y_)):  # each centre is the middle of its step and keeps its value
        members = z[steps == cal.y_[k]]
        assert cal.x_[k] == pytest.approx((members.min() + members.max()) / 2)
    p = cal.predict(z, l)
    expected = 0.999 * np.interp(z, cal.x_, cal.y_) + 1e-3 * expit(z + l)
    np.testing.assert_allclose(p, expected)
    assert len(np.unique(p)) == len(z)  # no ties
    order = np.argsort(z)
    assert (np.diff(np.interp(z[order], cal.x_, cal.y_)) >= 0).all()
    assert abs(p.mean() - y.mean()) < 0.01  # calibrated on the rows it was fitted on
    assert np.abs(p - steps).max() < 0.15


def test_sigmoid_calibration_stacks_with_non_negative_weights() -> None:
    rng = np.random.default_rng(1)
    z, l = rng.normal(size=(2, 5000))  # noqa: E741
    y = (rng.random(5000) < expit(0.3 + 1.2 * z + 0.6 * l)).astype(float)
    a, b, c = ScoreCalibration("sigmoid", 1e-3).fit(z, l, y).coef_
    assert (a, b, c) == pytest.approx((0.3, 1.2, 0.6), abs=0.1)
    # A purchase-model logit that points the wrong way gets the least weight, not a negative.
    y = (rng.random(5000) < expit(1.2 * z - 0.6 * l)).astype(float)
    _, b, c = ScoreCalibration("sigmoid", 1e-3).fit(z, l, y).coef_
    assert b > 1.0 and c == pytest.approx(1e-3)
    # Without the column (l = 0): plain Platt scaling.
    _, _, c = ScoreCalibration("sigmoid", 1e-3).fit(z, np.zeros_like(z), y).coef_
    assert c == 0.0


@pytest.mark.parametrize("kind", ["hgb", "logistic"])
@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("by_cutoff", [True, False])
def test_calibrated_probabilities_rank_like_the_model_without_ties(
    kind: str, calibration: str, by_cutoff: bool
) -> None:
    # The calibration never reorders what the model ranks and separates what it ties: the
    # purchase model's lapse score breaks the ties (and, stacked in the sigmoid, may weigh in).
    X, y, cutoff = frame(seed=4)
    X = with_purchase_score(X)
    X["days_since_last"] = X["days_since_last"].round(-1)  # coarse: the model has ties
    params = {**FAST, "model": kind, "calibration": calibration, "calibration_cv": 3}
    model = LapseClassifier(**params).fit(X, y, cutoff=cutoff if by_cutoff else None)
    p = model.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    z = model.predict_uncalibrated(X)
    assert len(np.unique(p[:, 1])) == len(np.unique(np.c_[z, X["prob_p_no_purchase"]], axis=0))
    # Strictly increasing in both: a row the model and the purchase model both rank higher
    # (one of them strictly) gets a higher probability.
    l = X["prob_p_no_purchase"].to_numpy()  # noqa: E741
    dz, dl = z[:, None] - z[None, :], l[:, None] - l[None, :]
    above = (dz >= 0) & (dl >= 0) & ((dz > 0) | (dl > 0))
    assert (p[:, 1][:, None] - p[:, 1][None, :])[above].min() > 0
    # A row is scored the same alone, in a small batch and in a large one (to the bit with
    # the trees; the logistic model's BLAS sums may differ in the last bit).
    for rows in (slice(0, 1), slice(0, 7), slice(None)):
        if kind == "hgb":
            np.testing.assert_array_equal(model.predict_proba(X[rows]), p[rows])
        else:
            np.testing.assert_allclose(model.predict_proba(X[rows]), p[rows], rtol=1e-12)


def test_monotone_in_staleness() -> None:
    # Constrained: more days since the last purchase (and a later stage) never lowers the
    # probability of lapse, whatever the other features; the purchase model's score too.
    X, y, cutoff = frame(3000, seed=2)
    X = with_purchase_score(X)
    model = LapseClassifier(**FAST).fit(X, y, cutoff=cutoff)
    names = list(model.feature_names_in_)
    cst = dict(zip(names, model.estimator_.monotonic_cst, strict=True))
    assert cst == {
        "days_since_last": 1,
        "frequency": 0,
        "gap_mean_days": 0,
        "lifecycle_stage": 1,
        "prob_p_no_purchase": 1,
    }
    rows = X.sample(50, random_state=0)
    for _, row in rows.iterrows():
        grid = pd.DataFrame([row] * 30).reset_index(drop=True)
        grid["days_since_last"] = np.linspace(0, 600, 30)
        grid["prob_p_no_purchase"] = np.linspace(0.1, 0.999, 30)
        assert (np.diff(model.predict_proba(grid)[:, 1]) > 0).all()
        stages = pd.DataFrame([row] * len(STAGE_STALENESS_ORDER)).reset_index(drop=True)
        stages["lifecycle_stage"] = list(STAGE_STALENESS_ORDER)
        assert (np.diff(model.predict_proba(stages)[:, 1]) >= 0).all()
    free = LapseClassifier(**{**FAST, "monotonic": False}).fit(X, y, cutoff=cutoff)
    assert free.estimator_.monotonic_cst is None and free.stage_ranks_ is None


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
        ("monotonic", "yes", "'monotonic' must be True or False"),
        ("tie_break", 1.5, "'tie_break' must be a number >= 0 and < 1, got 1.5"),
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
