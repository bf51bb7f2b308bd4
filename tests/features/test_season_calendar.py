"""Each customer's own season: phase, half-width, next peak; R equals the feature."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from churnmodel.datasets import simulate
from churnmodel.features import customer_features, season_calendar
from churnmodel.features.season import half_width_days, next_season_peak


def test_concentration_equals_the_feature_on_a_simulated_log() -> None:
    tx = simulate(400, 3).transactions
    as_of = date(2023, 6, 30)
    seasons = season_calendar(tx, as_of)
    features = customer_features(tx, as_of)
    assert seasons.index.equals(features.index)
    np.testing.assert_allclose(
        seasons["season_concentration"], features["season_concentration"], rtol=0, atol=1e-9
    )


def test_a_winter_buyer_peaks_in_early_december() -> None:
    days = pd.to_datetime(["2022-11-25", "2022-12-09", "2023-11-25", "2023-12-09"])
    tx = pd.DataFrame({"customer_id": "W", "timestamp": days, "amount": 10.0})
    row = season_calendar(tx, date(2024, 6, 30)).loc["W"]
    assert pd.Timestamp(row["next_season_peak"]) == pytest.approx(
        pd.Timestamp("2024-12-02"), abs=pd.Timedelta(days=2)
    )
    assert 5 < row["season_half_width_days"] < 15
    # after the peak, the next one is a year later
    later = season_calendar(tx, date(2024, 12, 20)).loc["W", "next_season_peak"]
    assert pd.Timestamp(later).year == 2025


def test_half_width_of_even_seasons() -> None:
    # R = sin(pi f) / (pi f): a quarter of the year gives R = 0.9003
    r = np.sinc(0.25)
    assert half_width_days(r)[0] == pytest.approx(365.2425 / 8, rel=1e-6)
    assert half_width_days(1.0)[0] == 0.0
    assert np.isnan(half_width_days(np.nan)[0])


def test_next_peak_is_strictly_after_the_day() -> None:
    peak = next_season_peak(np.array([0.0, 0.5]), date(2024, 1, 1))
    assert (peak > np.datetime64("2024-01-01")).all()
    assert (peak <= np.datetime64("2025-01-02")).all()
