"""MBG/NBD: agreement with lifetimes, including the dropout chance of one-time buyers."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from churnmodel.models import ModifiedBetaGeoModel
from tests.models.helpers import summary_frame


def test_fit_matches_lifetimes(
    lifetimes: ModuleType, mbgnbd_cdnow: ModifiedBetaGeoModel, cdnow: pd.DataFrame
) -> None:
    ref = lifetimes.ModifiedBetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    for name, value in ref.params_.items():
        assert mbgnbd_cdnow.params_[name] == pytest.approx(value, rel=1e-4)
    # lifetimes' objective is the mean negative log-likelihood on its internally scaled time.
    assert mbgnbd_cdnow.log_likelihood_ == pytest.approx(-9582.13, abs=0.05)


def test_predictions_match_lifetimes(
    lifetimes: ModuleType, mbgnbd_cdnow: ModifiedBetaGeoModel, cdnow: pd.DataFrame
) -> None:
    ref = lifetimes.ModifiedBetaGeoFitter()
    ref.params_ = pd.Series(mbgnbd_cdnow.params_)
    f, r, t = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    ours = mbgnbd_cdnow.expected_purchases(cdnow, 39.0).to_numpy()
    theirs = ref.conditional_expected_number_of_purchases_up_to_time(39.0, f, r, t)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    alive = mbgnbd_cdnow.probability_alive(cdnow).to_numpy()
    np.testing.assert_allclose(alive, ref.conditional_probability_alive(f, r, t), atol=1e-12)
    dist = mbgnbd_cdnow.frequency_distribution(summary_frame([(0, 0.0, 38.86)]), max_frequency=4)
    expected = [ref.probability_of_n_purchases_up_to_time(38.86, n) for n in range(4)]
    np.testing.assert_allclose(dist.iloc[0, :4].to_numpy(), expected, rtol=1e-10)


def test_one_time_buyers_can_be_dead(mbgnbd_cdnow: ModifiedBetaGeoModel) -> None:
    alive = mbgnbd_cdnow.probability_alive(summary_frame([(0, 0.0, 38.0)]))
    assert 0 < alive.iloc[0] < 1
