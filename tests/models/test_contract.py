"""The scikit-learn estimator contract, checked directly.

``sklearn.utils.estimator_checks`` feeds estimators numeric X/y matrices; ours take an RFM summary
frame, so the checks that matter are spelled out here instead.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone

from churnmodel.exceptions import NotFittedError
from churnmodel.models import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)

ESTIMATORS = [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, GammaGammaModel]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_init_only_stores_keyword_only_hyperparameters(cls: type[BaseEstimator]) -> None:
    params = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "self")
    # No validation in __init__: a nonsense value is stored and only rejected by fit.
    model = cls(penalizer=-1)
    assert model.get_params()["penalizer"] == -1
    assert not [k for k in vars(model) if k.endswith("_")]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_get_set_params_and_clone(cls: type[BaseEstimator]) -> None:
    model = cls(penalizer=0.01)
    assert model.get_params()["penalizer"] == 0.01
    assert model.set_params(penalizer=0.02) is model
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert "penalizer=0.02" in repr(model)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fit_returns_self_and_keeps_no_data(
    cls: type[BaseEstimator], small_days: pd.DataFrame
) -> None:
    model = cls()
    assert model.fit(small_days) is model
    fitted = {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}
    assert {"params_", "log_likelihood_", "covariance_", "n_customers_", "fit_strategy_"} <= set(
        fitted
    )
    for name, value in vars(model).items():
        assert not isinstance(value, pd.DataFrame | pd.Series | pd.Index), name
        if isinstance(value, np.ndarray):
            assert value.size <= 16, name  # the covariance, never a data column
        assert "lifetimes" not in type(value).__module__, name
    assert isinstance(model.params_, dict)
    assert set(model.params_) == set(model.param_names)
    clone(model)  # clone of a fitted estimator gives an unfitted one
    assert not hasattr(clone(model), "params_")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_not_fitted_error_before_fit(cls: type[BaseEstimator], small_days: pd.DataFrame) -> None:
    model = cls()
    method = "expected_spend" if cls is GammaGammaModel else "probability_alive"
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(model, method)(small_days)
    with pytest.raises(NotFittedError):
        model.to_dict()
    with pytest.raises(AttributeError):  # NotFittedError is also an AttributeError
        model.sample_params(3)
