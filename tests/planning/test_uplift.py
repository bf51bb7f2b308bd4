"""Uplift models: the estimator contract and recovery of a known effect."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from churnmodel.exceptions import DataValidationError, NotFittedError
from churnmodel.planning import DESIGN_COLUMNS, ResponseModel, UpliftRegressor


def synthetic(
    n: int = 4_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3))
    t = (rng.random(n) < 0.7).astype(float)
    effect = 2.0 * x[:, 0]  # the effect grows with the first column
    y = x[:, 1] + t * effect + rng.normal(0, 0.3, n)
    return x, y, t, effect


def test_contract() -> None:
    params = inspect.signature(UpliftRegressor.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "self")
    model = UpliftRegressor(method="nonsense")
    assert model.get_params()["method"] == "nonsense"  # stored, checked by fit
    assert not [k for k in vars(model) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        model.predict(np.zeros((1, 3)))
    x, y, t, _ = synthetic(500)
    with threadpool_limits(limits=1, user_api="openmp"):
        fitted = UpliftRegressor(max_iter=10).fit(x, y, t)
    assert fitted.n_features_in_ == 3 and 0.6 < fitted.treated_share_ < 0.8
    assert not hasattr(clone(fitted), "models_")
    for value in vars(fitted).values():
        assert not isinstance(value, np.ndarray | pd.DataFrame)


@pytest.mark.parametrize("method", ["x", "t"])
def test_recovers_a_heterogeneous_effect(method: str) -> None:
    x, y, t, effect = synthetic(1_500)
    with threadpool_limits(limits=1, user_api="openmp"):
        pred = (
            UpliftRegressor(method=method, max_iter=40, learning_rate=0.1).fit(x, y, t).predict(x)
        )
    assert np.corrcoef(pred, effect)[0, 1] > 0.9
    assert abs(pred.mean() - effect.mean()) < 0.1


def test_bad_input() -> None:
    x, y, t, _ = synthetic(100)
    with pytest.raises(DataValidationError, match="treatment"):
        UpliftRegressor().fit(x, y, t * 2)
    with pytest.raises(DataValidationError, match="treated and control"):
        UpliftRegressor().fit(x, y, np.ones_like(t))


def design_table(n: int = 6_000, seed: int = 0) -> pd.DataFrame:
    """Contacts whose true incremental purchase probability is 0.3 * p_persuadable."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(0.0, index=range(n), columns=list(DESIGN_COLUMNS))
    frame["p_persuadable"] = rng.random(n)
    frame["avg_spend"] = rng.gamma(4, 10, n)
    frame["season_concentration"] = 0.3
    frame["days_to_season"] = np.nan
    frame["treated"] = (rng.random(n) < 0.8).astype(float)
    base = 0.2
    p = base + frame["treated"] * 0.3 * frame["p_persuadable"]
    frame["purchased"] = (rng.random(n) < p).astype(float)
    frame["spend"] = frame["purchased"] * frame["avg_spend"]
    frame["action"] = "win_back"
    frame["complete"] = True
    return frame


def test_scaled_model_recovers_the_factor_and_falls_back_without_history() -> None:
    table = design_table()
    model = ResponseModel(min_treated=100, min_control=20).fit(table)
    assert model.actions_ == ("win_back",)
    assert model.counts_["retain"]["fitted"] == 0
    factors = model.factors()
    beta = factors.loc[factors["season_cell"] == "not seasonal", "beta_purchase"].iloc[0]
    assert beta == pytest.approx(0.3, abs=0.06)
    pred = model.predict("win_back", table.head(5))
    assert list(pred.columns) == ["uplift_purchase", "uplift_spend"]
    with pytest.raises(KeyError):
        model.predict("retain", table.head(5))
