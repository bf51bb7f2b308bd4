"""Pareto/NBD: agreement with lifetimes, closed-form P(no purchase), frequency distribution."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from churnmodel.models import ParetoNBDModel, simulate_bgnbd_summary
from tests.models.helpers import summary_frame


def _reference(lifetimes: ModuleType, model: ParetoNBDModel) -> object:
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pd.Series(model.params_)
    return fitter


def test_predictions_match_lifetimes(
    lifetimes: ModuleType, pareto_cdnow: ParetoNBDModel, cdnow: pd.DataFrame
) -> None:
    ref = _reference(lifetimes, pareto_cdnow)
    f, r, t = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    with warnings.catch_warnings():  # lifetimes' own numerics, not under test
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = ref.conditional_expected_number_of_purchases_up_to_time(39.0, f, r, t)
        alive = ref.conditional_probability_alive(f, r, t)
        none = ref.conditional_probability_of_n_purchases_up_to_time(0, 39.0, f, r, t)
        log_lik = ref._conditional_log_likelihood(list(pareto_cdnow.params_.values()), f, r, t)
    np.testing.assert_allclose(pareto_cdnow.expected_purchases(cdnow, 39.0), expected, rtol=1e-9)
    np.testing.assert_allclose(pareto_cdnow.probability_alive(cdnow), alive, atol=1e-12)
    # Our closed form of P(no purchase) against lifetimes' eq. (16) of Fader-Hardie note 028.
    np.testing.assert_allclose(pareto_cdnow.probability_no_purchase(cdnow, 39.0), none, atol=1e-10)
    assert pareto_cdnow.log_likelihood_ == pytest.approx(log_lik.sum(), rel=1e-12)


def test_probability_no_purchase_by_monte_carlo(pareto_cdnow: ParetoNBDModel) -> None:
    # Alive at T: lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T), exponential lifetime.
    p = pareto_cdnow.params_
    x, t, h = 3, 20.0, 10.0
    rng = np.random.default_rng(0)
    lam = rng.gamma(p["r"] + x, 1 / (p["alpha"] + t), 400_000)
    mu = rng.gamma(p["s"], 1 / (p["beta"] + t), 400_000)
    life = rng.exponential(1 / mu)
    quiet = np.exp(-lam * np.minimum(life, h)).mean()
    model = pareto_cdnow._no_purchase_if_alive(p, np.array([x]), np.array([t]), h)[0]
    assert model == pytest.approx(quiet, abs=3e-3)


def test_frequency_distribution_by_simulation(pareto_cdnow: ParetoNBDModel) -> None:
    p = pareto_cdnow.params_
    rng = np.random.default_rng(1)
    n = 200_000
    lam = rng.gamma(p["r"], 1 / p["alpha"], n)
    life = rng.exponential(1 / rng.gamma(p["s"], 1 / p["beta"], n))
    counts = rng.poisson(lam * np.minimum(life, 38.86))
    simulated = np.bincount(np.minimum(counts, 7), minlength=8) / n
    dist = pareto_cdnow.frequency_distribution(summary_frame([(0, 0.0, 38.86)]))
    np.testing.assert_allclose(dist.iloc[0].to_numpy(), simulated, atol=4e-3)


def test_fits_simulated_days_and_tracks_bgnbd_roughly() -> None:
    ages = np.random.default_rng(2).integers(60, 366, 2000)
    params = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}
    summary = simulate_bgnbd_summary(2000, params, ages, seed=3)
    model = ParetoNBDModel().fit(summary)
    assert model.time_unit_ == "D"
    assert model.covariance_ is not None
    total = model.expected_purchases(summary, 90).sum()
    assert np.isfinite(total) and total > 0
