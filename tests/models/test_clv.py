"""Discounted CLV: lifetimes' convention reproduced, explicit units, bootstrap intervals."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ConfigError, ModelFitError
from churnmodel.models import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    customer_lifetime_value,
    discount_schedule,
    simulate_bgnbd_summary,
)
from churnmodel.models import clv as clv_module
from tests.models.helpers import DAY_PARAMS, SPEND_PARAMS, fixed_model


@pytest.fixture(scope="module")
def day_models(small_days: pd.DataFrame) -> tuple[BetaGeoModel, GammaGammaModel]:
    return BetaGeoModel().fit(small_days), GammaGammaModel().fit(small_days)


def test_matches_lifetimes_with_its_30_day_months(
    lifetimes: ModuleType,
    small_days: pd.DataFrame,
    day_models: tuple[BetaGeoModel, GammaGammaModel],
) -> None:
    purchase, spend = day_models
    bgf = lifetimes.BetaGeoFitter()
    bgf.params_ = pd.Series(purchase.params_)
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
    ggf = lifetimes.GammaGammaFitter()
    ggf.params_ = pd.Series(spend.params_)
    monthly = 0.01
    theirs = ggf.customer_lifetime_value(
        bgf,
        small_days["frequency"],
        small_days["recency"],
        small_days["T"],
        small_days["monetary_value"],
        time=12,
        discount_rate=monthly,
        freq="D",
    )
    # lifetimes: 12 "months" of 30 days, discounted at 1% per month at each month's end.
    ours = customer_lifetime_value(
        purchase,
        spend,
        small_days,
        horizon_days=360,
        period_days=30,
        annual_discount_rate=(1 + monthly) ** (365 / 30) - 1,
        interval=None,
    )
    np.testing.assert_allclose(ours["clv"].to_numpy(), theirs.to_numpy(), rtol=1e-6)
    assert list(ours.columns) == ["expected_purchases", "expected_spend", "clv"]


def test_units_are_explicit(
    small_days: pd.DataFrame, day_models: tuple[BetaGeoModel, GammaGammaModel]
) -> None:
    purchase, spend = day_models
    weeks = small_days.copy()
    weeks["recency"] /= 7
    weeks["T"] /= 7
    weeks.attrs["time_unit"] = "W"
    in_days = customer_lifetime_value(purchase, spend, small_days, interval=None)
    in_weeks = customer_lifetime_value(purchase, spend, weeks, interval=None)
    pd.testing.assert_frame_equal(in_days, in_weeks, rtol=1e-12)
    # The same population fitted in weeks gives the same CLV (alpha is just in weeks).
    purchase_w = BetaGeoModel().fit(weeks)
    assert purchase_w.params_["alpha"] == pytest.approx(purchase.params_["alpha"] / 7, rel=1e-3)
    in_weeks_w = customer_lifetime_value(purchase_w, spend, weeks, interval=None)
    np.testing.assert_allclose(in_weeks_w["clv"], in_days["clv"], rtol=5e-3)


@pytest.mark.parametrize("fixture", ["bgnbd_cdnow", "mbgnbd_cdnow", "pareto_cdnow"])
def test_without_discounting_clv_is_purchases_times_spend(
    fixture: str, request: pytest.FixtureRequest, cdnow: pd.DataFrame, gg_cdnow: GammaGammaModel
) -> None:
    model = request.getfixturevalue(fixture)
    out = customer_lifetime_value(
        model, gg_cdnow, cdnow, horizon_days=365, annual_discount_rate=0.0, interval=None
    )
    np.testing.assert_allclose(out["clv"], out["expected_purchases"] * out["expected_spend"])
    weeks = 365 / 7
    np.testing.assert_allclose(out["expected_purchases"], model.expected_purchases(cdnow, weeks))
    discounted = customer_lifetime_value(model, gg_cdnow, cdnow, horizon_days=365, interval=None)
    assert np.all(discounted["clv"] <= out["clv"] + 1e-12)
    assert discounted["clv"].sum() < out["clv"].sum()


def test_discount_schedule() -> None:
    schedule = discount_schedule(horizon_days=365, period_days=30, annual_discount_rate=0.1)
    assert len(schedule) == 13
    assert schedule["end_days"].iloc[-1] == 365
    assert schedule["discount_factor"].iloc[-1] == pytest.approx(1 / 1.1)
    flat = discount_schedule(horizon_days=90, period_days=30, annual_discount_rate=0.0)
    assert flat["discount_factor"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="'horizon_days' must be > 0, got -1"):
        discount_schedule(horizon_days=-1, period_days=30, annual_discount_rate=0.1)
    with pytest.raises(ConfigError, match=r"'annual_discount_rate' must be >= 0, got -0\.1"):
        discount_schedule(horizon_days=10, period_days=30, annual_discount_rate=-0.1)


def test_intervals_are_seeded_and_bracket_the_estimate(
    small_days: pd.DataFrame, day_models: tuple[BetaGeoModel, GammaGammaModel]
) -> None:
    purchase, spend = day_models
    first = customer_lifetime_value(purchase, spend, small_days, n_draws=100, seed=3)
    again = customer_lifetime_value(purchase, spend, small_days, n_draws=100, seed=3)
    other = customer_lifetime_value(purchase, spend, small_days, n_draws=100, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["clv_low"], other["clv_low"])
    assert np.all(first["clv_low"] <= first["clv_high"])
    inside = (first["clv_low"] <= first["clv"]) & (first["clv"] <= first["clv_high"])
    assert inside.mean() > 0.95
    assert np.all(np.isfinite(first.to_numpy())) and np.all(first.to_numpy() >= 0)


def test_intervals_do_not_depend_on_chunking(
    monkeypatch: pytest.MonkeyPatch,
    small_days: pd.DataFrame,
    day_models: tuple[BetaGeoModel, GammaGammaModel],
) -> None:
    purchase, spend = day_models
    whole = customer_lifetime_value(purchase, spend, small_days, n_draws=50, seed=1)
    monkeypatch.setattr(clv_module, "_CHUNK_VALUES", 50 * 701)
    chunked = customer_lifetime_value(purchase, spend, small_days, n_draws=50, seed=1)
    pd.testing.assert_frame_equal(whole, chunked)


def test_interval_covers_clv_at_the_true_parameters() -> None:
    ages = np.random.default_rng(5).integers(60, 366, 20_000)
    summary = simulate_bgnbd_summary(20_000, DAY_PARAMS, ages, seed=6, spend_params=SPEND_PARAMS)
    purchase = BetaGeoModel().fit(summary)
    spend = GammaGammaModel().fit(summary)
    fitted = customer_lifetime_value(purchase, spend, summary, n_draws=200, seed=0)
    truth = customer_lifetime_value(
        fixed_model("BetaGeoModel", DAY_PARAMS, time_unit="D"),
        fixed_model("GammaGammaModel", SPEND_PARAMS),
        summary,
        interval=None,
    )["clv"]
    covered = (fitted["clv_low"] <= truth) & (truth <= fitted["clv_high"])
    assert covered.mean() > 0.8


def test_interval_needs_a_covariance(cdnow: pd.DataFrame, gg_cdnow: GammaGammaModel) -> None:
    params = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}
    no_cov = fixed_model("BetaGeoModel", params, time_unit="W")
    with pytest.raises(ModelFitError, match="no parameter covariance"):
        customer_lifetime_value(no_cov, gg_cdnow, cdnow)
    assert len(customer_lifetime_value(no_cov, gg_cdnow, cdnow, interval=None)) == len(cdnow)


def test_bad_settings_show_the_value(
    bgnbd_cdnow: BetaGeoModel, gg_cdnow: GammaGammaModel, cdnow: pd.DataFrame
) -> None:
    with pytest.raises(ConfigError, match="'interval' must be a float in"):
        customer_lifetime_value(bgnbd_cdnow, gg_cdnow, cdnow, interval=1.5)
    with pytest.raises(ConfigError, match="'n_draws' must be an integer >= 20, got 5"):
        customer_lifetime_value(bgnbd_cdnow, gg_cdnow, cdnow, n_draws=5)
    with pytest.raises(TypeError, match="'spend_model' must be a GammaGammaModel"):
        customer_lifetime_value(bgnbd_cdnow, bgnbd_cdnow, cdnow)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'purchase_model' must be a BG/NBD-family model"):
        customer_lifetime_value(gg_cdnow, gg_cdnow, cdnow)  # type: ignore[arg-type]


def test_every_purchase_model_gives_intervals(
    cdnow: pd.DataFrame,
    gg_cdnow: GammaGammaModel,
    mbgnbd_cdnow: ModifiedBetaGeoModel,
    pareto_cdnow: ParetoNBDModel,
) -> None:
    for model in (mbgnbd_cdnow, pareto_cdnow):
        out = customer_lifetime_value(model, gg_cdnow, cdnow.iloc[:300], n_draws=30)
        assert np.all(np.isfinite(out.to_numpy()))
        assert np.all(out["clv_low"] <= out["clv_high"])
