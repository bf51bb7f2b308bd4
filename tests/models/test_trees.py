"""The small-batch tree walk gives scikit-learn's predictions exactly (same sums, same bits)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from churnmodel.models._trees import SMALL_BATCH_ROWS, FastHGBClassifier, FastHGBRegressor


def _data(seed: int, n: int = 3_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numeric columns with missing values, and a categorical one (codes 0..5, some missing)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[rng.random((n, 5)) < 0.1] = np.nan
    cat = rng.integers(0, 6, n).astype(float)
    cat[rng.random(n) < 0.05] = np.nan
    X = np.column_stack([X, cat])
    signal = np.nan_to_num(X[:, 0]) + np.isin(cat, [1, 4]) - 0.5 * np.isnan(X[:, 2])
    y_class = (signal + rng.normal(scale=0.7, size=n) > 0.3).astype(int)
    y_reg = np.exp(signal / 2) + rng.gamma(2.0, 0.5, n)
    return X, y_class, y_reg


def _queries(X: np.ndarray, seed: int) -> np.ndarray:
    """Rows to predict: training-like rows plus unknown, negative and missing categories."""
    rng = np.random.default_rng(seed + 100)
    rows = X[rng.choice(len(X), SMALL_BATCH_ROWS - 4)].copy()
    extra = X[:4].copy()
    extra[:, -1] = [7.0, -1.0, np.nan, 2.0]  # unknown, negative, missing, known
    extra[3, :5] = np.nan  # every numeric value missing
    return np.vstack([rows, extra])


PARAMS = {"max_iter": 60, "max_leaf_nodes": 15, "min_samples_leaf": 20, "random_state": 0}
CATEGORICAL = np.array([False] * 5 + [True])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classifier_predicts_as_scikit_learn(seed: int) -> None:
    X, y, _ = _data(seed)
    ours = FastHGBClassifier(categorical_features=CATEGORICAL, **PARAMS).fit(X, y)
    theirs = HistGradientBoostingClassifier(categorical_features=CATEGORICAL, **PARAMS).fit(X, y)
    Q = _queries(X, seed)
    for n in (1, 2, SMALL_BATCH_ROWS):
        np.testing.assert_array_equal(
            ours.decision_function(Q[:n]), theirs.decision_function(Q[:n])
        )
        np.testing.assert_array_equal(ours.predict_proba(Q[:n]), theirs.predict_proba(Q[:n]))
    # Larger batches take scikit-learn's own path.
    np.testing.assert_array_equal(ours.predict_proba(X[:500]), theirs.predict_proba(X[:500]))


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_predicts_as_scikit_learn(loss: str) -> None:
    X, _, y = _data(3)
    ours = FastHGBRegressor(loss=loss, categorical_features=CATEGORICAL, **PARAMS).fit(X, y)
    theirs = HistGradientBoostingRegressor(
        loss=loss, categorical_features=CATEGORICAL, **PARAMS
    ).fit(X, y)
    Q = _queries(X, 3)
    for n in (1, 7, SMALL_BATCH_ROWS):
        np.testing.assert_array_equal(ours.predict(Q[:n]), theirs.predict(Q[:n]))


def test_multiclass_and_numeric_only_models() -> None:
    X, _, y = _data(4)
    classes = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    ours = FastHGBClassifier(**PARAMS).fit(X[:, :5], classes)
    theirs = HistGradientBoostingClassifier(**PARAMS).fit(X[:, :5], classes)
    Q = _queries(X, 4)[:, :5]
    np.testing.assert_array_equal(ours.predict_proba(Q), theirs.predict_proba(Q))


def test_pickles_without_its_cache_and_still_predicts_the_same() -> None:
    X, y, _ = _data(5)
    model = FastHGBClassifier(categorical_features=CATEGORICAL, **PARAMS).fit(X, y)
    Q = _queries(X, 5)
    before = model.predict_proba(Q[:3])
    assert "_forests_cache" in model.__dict__
    copy = pickle.loads(pickle.dumps(model))
    assert "_forests_cache" not in copy.__dict__
    np.testing.assert_array_equal(copy.predict_proba(Q[:3]), before)
    # A refit (new trees) is not answered from the old cache.
    refit = model.set_params(max_iter=10).fit(X, 1 - y)
    expected = HistGradientBoostingClassifier(
        categorical_features=CATEGORICAL, **{**PARAMS, "max_iter": 10}
    ).fit(X, 1 - y)
    np.testing.assert_array_equal(refit.predict_proba(Q[:3]), expected.predict_proba(Q[:3]))


def test_small_batches_are_encoded_as_scikit_learn_encodes_them() -> None:
    # Two categorical columns among the numeric ones (scikit-learn's encoder moves them to
    # the front), categories seen in fit and not, missing, infinite and negative values.
    rng = np.random.default_rng(6)
    X, y, _ = _data(6)
    X = np.column_stack([X[:, :2], X[:, -1], X[:, 2:5], rng.integers(0, 3, len(X)) * 2.0])
    categorical = np.array([False, False, True, False, False, False, True])
    ours = FastHGBClassifier(categorical_features=categorical, **PARAMS).fit(X, y)
    theirs = HistGradientBoostingClassifier(categorical_features=categorical, **PARAMS).fit(X, y)
    Q = X[:SMALL_BATCH_ROWS].copy()
    Q[:8, 2] = [7.0, -1.0, np.nan, 1e300, -3.5, 0.5, 5.0, 0.0]
    Q[:8, 6] = [1.0, 3.0, np.nan, 4.0, 6.0, 0.0, -2.0, 2.0]
    Q[8:12, 0] = [np.inf, -np.inf, np.nan, 1e300]
    for n in (1, 12, SMALL_BATCH_ROWS):
        np.testing.assert_array_equal(
            ours._preprocess_X(Q[:n], reset=False), theirs._preprocess_X(Q[:n], reset=False)
        )
        np.testing.assert_array_equal(ours.predict_proba(Q[:n]), theirs.predict_proba(Q[:n]))
    # Anything else goes through scikit-learn's own checks and messages.
    with pytest.raises(ValueError, match="features"):
        ours.predict_proba(Q[:3, :5])
    Q[0, 6] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ours.predict_proba(Q[:3])


def test_large_batches_with_one_thread_are_split_over_two_threads_with_the_same_sums(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from threadpoolctl import threadpool_limits

    from churnmodel.models import _trees

    X, y_class, y_reg = _data(5)
    big = np.tile(X, (40, 1))  # 120,000 rows: above SPLIT_BATCH_ROWS
    assert len(big) >= _trees.SPLIT_BATCH_ROWS
    monkeypatch.setattr(_trees, "usable_cores", lambda: 2)  # split even on a one-core runner
    calls: list[int] = []
    original = HistGradientBoostingRegressor._predict_iterations

    def counted(self, X, *args):  # type: ignore[no-untyped-def]
        calls.append(len(X))
        return original(self, X, *args)

    for fast, plain, y in (
        (FastHGBClassifier, HistGradientBoostingClassifier, y_class),
        (FastHGBRegressor, HistGradientBoostingRegressor, y_reg),
    ):
        ours = fast(categorical_features=CATEGORICAL, **PARAMS).fit(X, y)
        theirs = plain(categorical_features=CATEGORICAL, **PARAMS).fit(X, y)
        monkeypatch.setattr(plain, "_predict_iterations", counted)
        calls.clear()
        with threadpool_limits(1, user_api="openmp"):
            got = ours._raw_predict(big)
        assert sorted(calls) == [len(big) // 2, len(big) - len(big) // 2]  # two halves
        np.testing.assert_array_equal(got, theirs._raw_predict(big))
