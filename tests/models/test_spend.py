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
from churnmodel.models.estimators import STAGE_STALENESS_ORDER
from churnmodel.models.spend import window_discount

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


def test_level_rows_set_the_level_without_reranking() -> None:
    X, y = frame()
    rows = np.arange(len(y)) % 4 == 0
    busy = y.where(~rows, y * 1.5)  # a season in which those rows spend half again as much
    plain = SpendRegressor(**{**FAST, "max_iter": 60}).fit(X, busy)
    level = SpendRegressor(**{**FAST, "max_iter": 60}).fit(X, busy, level_rows=rows)
    assert plain.season_level_ == 1.0
    assert level.predict(X)[rows].sum() == pytest.approx(busy[rows].sum(), rel=1e-9)
    ratio = level.predict(X) / plain.predict(X)
    np.testing.assert_allclose(ratio[np.isfinite(ratio)], level.season_level_)
    with pytest.raises(DataValidationError, match="'level_rows' has 3 values"):
        SpendRegressor(**FAST).fit(X, y, level_rows=[True, False, True])


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


def with_purchase_spend(X: pd.DataFrame, y: pd.Series, seed: int = 3) -> pd.DataFrame:
    """``X`` plus the purchase model's expected spend: about the target's mean, noisy."""
    rng = np.random.default_rng(seed)
    rate = 0.3 * (1.0 + X["frequency"]) * np.where(X["lifecycle_stage"] == "inactive", 0.2, 1.0)
    return X.assign(prob_expected_spend=rate * 40.0 * rng.lognormal(0.0, 0.3, len(X)) * 0.8)


def test_capped_by_the_purchase_models_spend_and_its_level_learnt() -> None:
    X, y = frame()
    X = with_purchase_spend(X, y)
    free = SpendRegressor(**{**FAST, "cap_ratio": None}).fit(X, y)
    capped = SpendRegressor(**{**FAST, "cap_ratio": 1.5}).fit(X, y)
    assert capped.cap_index_ == list(X.columns).index("prob_expected_spend")
    # The level: total spend over the purchase model's total on the training rows.
    assert capped.level_ratio_ == pytest.approx(y.sum() / X["prob_expected_spend"].sum())
    reference = X["prob_expected_spend"].to_numpy()
    np.testing.assert_array_equal(capped.predict(X), np.minimum(free.predict(X), 1.5 * reference))
    assert (free.predict(X) > 1.5 * reference).any()  # it binds somewhere here
    # Where the purchase model expects nothing, nothing; where it has no value, no cap.
    none = X.iloc[:3].assign(prob_expected_spend=[0.0, np.nan, 1e-9])
    out = capped.predict(none)
    assert out[0] == 0.0 and out[1] == free.predict(none)[1] and out[2] == 1.5 * 1e-9
    # Without the column (or on an array) there is nothing to cap by.
    plain = SpendRegressor(**FAST).fit(X.drop(columns="prob_expected_spend"), y)
    assert plain.cap_index_ is None and plain.level_ratio_ is None


def test_monotone_in_staleness() -> None:
    # Spend never rises with the days since the last purchase or a later stage; the trailing
    # window's spend and the purchase model's spend only push it up.
    X, y = frame()
    rng = np.random.default_rng(5)
    X = X.assign(
        days_since_last=rng.exponential(80.0, len(X)),
        spend_90d=rng.gamma(1.0, 30.0, len(X)),
        lifecycle_stage=pd.Categorical(X["lifecycle_stage"]),
    )
    model = SpendRegressor(**{**FAST, "cap_ratio": None}).fit(X, y)
    cst = dict(zip(model.feature_names_in_, model.estimator_.monotonic_cst, strict=True))
    assert cst == {
        "frequency": 0,
        "monetary_value": 0,
        "gap_mean_days": 0,
        "lifecycle_stage": -1,
        "days_since_last": -1,
        "spend_90d": 1,
    }
    for _, row in X.sample(40, random_state=1).iterrows():
        grid = pd.DataFrame([row] * 20).reset_index(drop=True)
        grid["days_since_last"] = np.linspace(0.0, 900.0, 20)
        grid["spend_90d"] = np.linspace(200.0, 0.0, 20)
        assert (np.diff(model.predict(grid)) <= 0).all()
        stages = pd.DataFrame([row] * len(STAGE_STALENESS_ORDER)).reset_index(drop=True)
        stages["lifecycle_stage"] = list(STAGE_STALENESS_ORDER)
        assert (np.diff(model.predict(stages)) <= 0).all()
    free = SpendRegressor(**{**FAST, "monotonic": False}).fit(X, y)
    assert free.estimator_.monotonic_cst is None


def test_bad_cap_and_flags_are_refused() -> None:
    X, y = frame(200)
    with pytest.raises(ConfigError, match="'cap_ratio' must be a number > 0, got 0"):
        SpendRegressor(cap_ratio=0).fit(X, y)
    with pytest.raises(ConfigError, match="'monotonic' must be True or False"):
        SpendRegressor(monotonic="no").fit(X, y)  # type: ignore[arg-type]


def test_window_discount() -> None:
    # CLV horizon at least H: the H-day spend discounted at the middle of the window.
    assert window_discount(
        horizon_days=273, clv_horizon_days=365, annual_discount_rate=0.1
    ) == pytest.approx(1.1 ** (-136.5 / 365))
    # Shorter: the share of the window within the CLV horizon, discounted at its middle.
    assert window_discount(
        horizon_days=273, clv_horizon_days=91, annual_discount_rate=0.1
    ) == pytest.approx(91 / 273 * 1.1 ** (-45.5 / 365))
    assert window_discount(horizon_days=90, clv_horizon_days=90, annual_discount_rate=0.0) == 1.0
    with pytest.raises(ConfigError, match="'clv_horizon_days' must be > 0, got 0"):
        window_discount(horizon_days=90, clv_horizon_days=0, annual_discount_rate=0.1)


def test_rescaled_clv_is_the_window_spend_plus_the_tail() -> None:
    ids = pd.Index(["a", "b", "c"], name="customer_id")
    spend = pd.Series([30.0, 10.0, 0.0], index=ids)
    tail = pd.Series([12.0, np.nan, 0.0], index=ids)
    clv = rescaled_clv(
        spend,
        tail_spend=tail,
        horizon_days=273,
        clv_horizon_days=365,
        annual_discount_rate=0.1,
    )
    weight = 1.1 ** (-136.5 / 365)
    np.testing.assert_allclose(clv.to_numpy(), [30.0 * weight + 12.0, 10.0 * weight, 0.0])
    assert clv.name == "clv" and clv.index.equals(ids)
