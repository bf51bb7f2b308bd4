"""The vectorised BG/NBD sampler, and parameter recovery through it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ConfigError
from churnmodel.models import BetaGeoModel, GammaGammaModel, simulate_bgnbd_summary
from tests.models.helpers import DAY_PARAMS, SPEND_PARAMS, fixed_model


def test_shape_units_and_rules() -> None:
    ages = np.random.default_rng(0).integers(0, 366, 5000)
    frame = simulate_bgnbd_summary(5000, DAY_PARAMS, ages, seed=1, spend_params=SPEND_PARAMS)
    assert frame.attrs["time_unit"] == "D"
    assert list(frame.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert frame["frequency"].dtype == np.int64
    assert (frame["recency"] <= frame["T"]).all()
    assert (frame.loc[frame["frequency"] == 0, ["recency", "monetary_value"]] == 0).all().all()
    assert (frame.loc[frame["frequency"] > 0, "monetary_value"] > 0).all()
    assert np.array_equal(frame["recency"], np.floor(frame["recency"]))  # day resolution
    weeks = simulate_bgnbd_summary(50, DAY_PARAMS, 70, seed=1, time_unit="W")
    assert weeks.attrs["time_unit"] == "W" and (weeks["T"] == 70).all()


def test_seeded() -> None:
    a = simulate_bgnbd_summary(100, DAY_PARAMS, 200, seed=5)
    b = simulate_bgnbd_summary(100, DAY_PARAMS, 200, seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_frequencies_follow_the_model_distribution() -> None:
    frame = simulate_bgnbd_summary(200_000, DAY_PARAMS, 300, seed=2, discrete=False)
    model = fixed_model("BetaGeoModel", DAY_PARAMS, time_unit="D")
    expected = model.frequency_distribution(frame.iloc[:1], max_frequency=6).iloc[0].to_numpy()
    observed = np.bincount(np.minimum(frame["frequency"], 6), minlength=7) / len(frame)
    np.testing.assert_allclose(observed, expected, atol=3e-3)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="'n' must be an integer >= 1, got 0"):
        simulate_bgnbd_summary(0, DAY_PARAMS, 10)
    with pytest.raises(ConfigError, match="needs r, alpha, a and b"):
        simulate_bgnbd_summary(10, {"r": 1.0}, 10)
    with pytest.raises(ConfigError, match="whole number of days"):
        simulate_bgnbd_summary(10, DAY_PARAMS, 10.5)


def test_parameter_recovery_50k_customers() -> None:
    truth = {"r": 0.5, "alpha": 20.0, "a": 0.7, "b": 3.0}
    ages = np.random.default_rng(3).integers(90, 366, 50_000)
    frame = simulate_bgnbd_summary(50_000, truth, ages, seed=4, spend_params=SPEND_PARAMS)
    model = BetaGeoModel().fit(frame)
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.10), name
    spend = GammaGammaModel().fit(frame)
    for name, value in SPEND_PARAMS.items():
        assert spend.params_[name] == pytest.approx(value, rel=0.10), name
