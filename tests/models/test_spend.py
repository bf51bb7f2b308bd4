"""SpendRegressor and the arithmetic that ties it to the probabilistic models."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.models import SpendRegressor, horizon_extension_factor, rescaled_clv

FAST = {"max_iter": 15, "min_samples_leaf": 5, "random_state": 0, "n_threads": 1}


@parametrize_with_checks(
    [SpendRegressor(**FAST), SpendRegressor(model="glm", n_threads=1)],
)
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def frame(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Spend that grows with frequency, mostly zero, with a categorical stage."""
    rng = np.random.default_rng(seed)
    frequency = rng.poisson(2.0, n).astype(float)
    stage = rng.choice(["new", "active", "inactive"], n)
    rate = 0.3 * (1.0 + frequency) * np.where(stage == "inactive", 0.2, 1.0)
    spend = rng.poisson(rate) * rng.gamma(4.0, 10.0, n)
    X = pd.DataFrame(
        {
            "frequency": frequency,
            "monetary_value": np.where(frequency > 0, rng.gamma(4.0, 10.0, n), 0.0),
            "gap_mean_days": np.where(frequency > 0, rng.gamma(2.0, 30.0, n), np.nan),
            "lifecycle_stage": stage,
        }
    )
    return X, pd.Series(spend)


def test_init_only_stores_keyword_only_hyperparameters() -> None:
    params = inspect.signature(SpendRegressor.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "self")
    assert not [k for k in vars(SpendRegressor(max_iter=-3)) if k.endswith("_")]


@pytest.mark.parametrize("kind", ["hgb", "glm"])
def test_learns_spend_from_a_frame_and_keeps_the_total(kind: str) -> None:
    X, y = frame()
    model = SpendRegressor(**{**FAST, "model": kind, "max_iter": 100}).fit(X, y)
    predicted = model.predict(X)
    assert (predicted >= 0).all()
    # Poisson deviance with an intercept balances the totals on the training rows.
    assert predicted.sum() == pytest.approx(y.sum(), rel=0.02)
    assert np.corrcoef(predicted, X["frequency"])[0, 1] > 0.5
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.n_iter_ >= 1


def test_bad_targets_are_refused() -> None:
    X, y = frame(200)
    with pytest.raises(DataValidationError, match="must be >= 0"):
        SpendRegressor(**FAST).fit(X, -y - 1)
    with pytest.raises(DataValidationError, match="0 for every row"):
        SpendRegressor(**FAST).fit(X, y * 0)
    with pytest.raises(ConfigError, match="'loss' must be 'poisson' or 'squared_error', got 'l1'"):
        SpendRegressor(loss="l1").fit(X, y)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        SpendRegressor().predict(X)


def test_pickles_without_training_rows() -> None:
    X, y = frame()
    model = SpendRegressor(**FAST).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    for name, value in vars(model).items():
        assert np.asarray(value, dtype=object).size < len(X), name


def test_horizon_extension_factor() -> None:
    ids = pd.Index(["a", "b", "c", "d"], name="customer_id")
    short = pd.Series([1.0, 0.5, 0.0, np.nan], index=ids)
    long = pd.Series([2.0, 0.6, 0.3, 1.0], index=ids)
    factor = horizon_extension_factor(short, long, short_days=100, long_days=273)
    # E[X(H)] / E[X(h)], and the plain time ratio where E[X(h)] is 0 or missing.
    np.testing.assert_allclose(factor.to_numpy(), [2.0, 1.2, 2.73, 2.73])
    same = horizon_extension_factor(short, long, short_days=90, long_days=90)
    assert (same == 1.0).all()
    with pytest.raises(ConfigError, match="'short_days' must be > 0, got 0"):
        horizon_extension_factor(short, long, short_days=0, long_days=90)


def test_rescaled_clv_keeps_the_purchase_curve_and_the_supervised_level() -> None:
    ids = pd.Index(["a", "b", "c"], name="customer_id")
    spend = pd.Series([30.0, 10.0, 5.0], index=ids)
    purchases = pd.Series([1.5, 0.5, 0.0], index=ids)
    discounted = pd.Series([2.4, 0.9, 0.0], index=ids)
    clv = rescaled_clv(spend, expected_purchases=purchases, discounted_purchases=discounted)
    np.testing.assert_allclose(clv.to_numpy(), [30.0 * 2.4 / 1.5, 10.0 * 0.9 / 0.5, 0.0])
    # = probabilistic CLV x (supervised / probabilistic H-day spend), whatever the spend per
    # purchase of the Gamma-Gamma model.
    per_purchase = pd.Series([20.0, 7.0, 9.0], index=ids)
    prob_clv = discounted * per_purchase
    ratio = spend[:2] / (purchases[:2] * per_purchase[:2])
    np.testing.assert_allclose(clv[:2], prob_clv[:2] * ratio)
