"""BG/NBD: agreement with lifetimes, the P(no purchase) formula, the frequency distribution."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from churnmodel.models import BetaGeoModel
from tests.models.helpers import summary_frame


def _reference(lifetimes: ModuleType, model: BetaGeoModel) -> object:
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(model.params_)
    return fitter


def test_predictions_match_lifetimes(
    lifetimes: ModuleType, bgnbd_cdnow: BetaGeoModel, cdnow: pd.DataFrame
) -> None:
    ref = _reference(lifetimes, bgnbd_cdnow)
    f, r, t = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    for horizon in (1.0, 39.0, 260.0):
        ours = bgnbd_cdnow.expected_purchases(cdnow, horizon).to_numpy()
        theirs = ref.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, t)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    alive = bgnbd_cdnow.probability_alive(cdnow).to_numpy()
    np.testing.assert_allclose(alive, ref.conditional_probability_alive(f, r, t), atol=1e-12)


def test_probability_no_purchase_closed_form(
    bgnbd_cdnow: BetaGeoModel, cdnow: pd.DataFrame
) -> None:
    p = bgnbd_cdnow.params_
    x, t = cdnow["frequency"].to_numpy(), cdnow["T"].to_numpy()
    alive = bgnbd_cdnow.probability_alive(cdnow).to_numpy()
    expected = (1 - alive) + alive * ((p["alpha"] + t) / (p["alpha"] + t + 13.0)) ** (p["r"] + x)
    got = bgnbd_cdnow.probability_no_purchase(cdnow, 13.0).to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Unlike 1 - P(alive), which is 0 for every one-time buyer, it separates them by age.
    once = summary_frame([(0, 0.0, 1.0), (0, 0.0, 38.0)])
    assert (1 - bgnbd_cdnow.probability_alive(once)).tolist() == [0.0, 0.0]
    lapse = bgnbd_cdnow.probability_no_purchase(once, 13.0)
    assert 0 < lapse.iloc[0] < lapse.iloc[1] < 1


def test_frequency_distribution_matches_lifetimes_pmf(
    lifetimes: ModuleType, bgnbd_cdnow: BetaGeoModel
) -> None:
    ref = _reference(lifetimes, bgnbd_cdnow)
    one = summary_frame([(0, 0.0, 38.86), (0, 0.0, 0.0)])
    dist = bgnbd_cdnow.frequency_distribution(one, max_frequency=5)
    expected = [ref.probability_of_n_purchases_up_to_time(38.86, n) for n in range(5)]
    np.testing.assert_allclose(dist.iloc[0, :5].to_numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    assert dist.iloc[1, 0] == pytest.approx(1.0)  # T = 0: no time to buy
    assert list(dist.columns) == ["0", "1", "2", "3", "4", "5+"]


def test_cumulative_purchases_sum_customers(bgnbd_cdnow: BetaGeoModel, cdnow: pd.DataFrame) -> None:
    total = bgnbd_cdnow.expected_cumulative_purchases(cdnow, [0.0, 10.0, 39.0])
    assert total.iloc[0] == 0.0
    assert total.iloc[2] == pytest.approx(bgnbd_cdnow.expected_purchases(cdnow, 39.0).sum())
    assert total.is_monotonic_increasing


def test_units_are_converted(bgnbd_cdnow: BetaGeoModel, cdnow: pd.DataFrame) -> None:
    days = cdnow[["frequency", "recency", "T"]].copy()
    days["recency"] *= 7
    days["T"] *= 7
    days.attrs["time_unit"] = "D"
    in_days = bgnbd_cdnow.expected_purchases(days, 39 * 7)
    in_weeks = bgnbd_cdnow.expected_purchases(cdnow, 39)
    np.testing.assert_allclose(in_days, in_weeks, rtol=1e-12)
    lapse_days = bgnbd_cdnow.probability_no_purchase(days, 70)
    np.testing.assert_allclose(lapse_days, bgnbd_cdnow.probability_no_purchase(cdnow, 10))
