"""Gamma-Gamma: agreement with lifetimes, q near 1, the q <= 1 refit."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from churnmodel.models import DegenerateFitWarning, GammaGammaModel
from tests.models.helpers import fixed_model


def test_expected_spend_matches_lifetimes(
    lifetimes: ModuleType, gg_cdnow: GammaGammaModel, cdnow: pd.DataFrame
) -> None:
    ref = lifetimes.GammaGammaFitter()
    ref.params_ = pd.Series(gg_cdnow.params_)
    theirs = ref.conditional_expected_average_profit(cdnow["frequency"], cdnow["monetary_value"])
    ours = gg_cdnow.expected_spend(cdnow)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    p = gg_cdnow.params_
    once = ours[cdnow["frequency"] == 0]
    np.testing.assert_allclose(once, p["p"] * p["v"] / (p["q"] - 1))


def test_spend_of_one_time_buyers_ignores_their_monetary_value(gg_cdnow: GammaGammaModel) -> None:
    frame = pd.DataFrame({"frequency": [0, 0, 0], "monetary_value": [0.0, -5.0, np.nan]})
    spend = gg_cdnow.expected_spend(frame)
    assert np.all(spend == spend.iloc[0]) and spend.iloc[0] > 0


def test_q_near_one_stays_finite_and_positive() -> None:
    model = fixed_model("GammaGammaModel", {"p": 0.5, "q": 1.000001, "v": 10.0})
    frame = pd.DataFrame({"frequency": [0, 1, 1000], "monetary_value": [0.0, 1e-6, 1e6]})
    spend = model.expected_spend(frame).to_numpy()
    assert np.all(np.isfinite(spend)) and np.all(spend > 0)
    # Repeat buyers: (p v + p x m) / (p x + q - 1), no cancellation as q -> 1.
    assert spend[1] == pytest.approx((0.5 * 10 + 0.5 * 1e-6) / (0.5 + 1e-6), rel=1e-12)


def test_heavy_tailed_spend_warns_and_refits_with_q_above_one() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    nu = rng.gamma(0.6, 1 / 5.0, n)  # q = 0.6: the population mean spend does not exist
    x = rng.integers(1, 6, n)
    money = rng.gamma(3.0 * x, 1 / (nu * x))
    frame = pd.DataFrame({"frequency": x, "monetary_value": money})
    with pytest.warns(DegenerateFitWarning, match="q = .* < min_q"):
        model = GammaGammaModel().fit(frame)
    assert model.params_["q"] >= 1.01 - 1e-9
    assert model.fit_strategy_.endswith("+q>=1.01")
    spend = model.expected_spend(pd.DataFrame({"frequency": [0, 2], "monetary_value": [0, 5.0]}))
    assert np.all(np.isfinite(spend)) and np.all(spend > 0)


def test_fit_uses_only_repeat_buyers(gg_cdnow: GammaGammaModel, cdnow: pd.DataFrame) -> None:
    noisy = cdnow.copy()
    noisy.loc[noisy["frequency"] == 0, "monetary_value"] = 123.0
    refit = GammaGammaModel().fit(noisy)
    assert refit.params_ == pytest.approx(gg_cdnow.params_, rel=1e-9)
