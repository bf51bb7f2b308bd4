"""CLV inputs (issue 15): a given spend per purchase (one for all, or per customer) instead of a
fitted Gamma-Gamma model, per-customer horizons, and a horizon of 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models import BetaGeoModel, GammaGammaModel, customer_lifetime_value


@pytest.fixture(scope="module")
def models(small_days: pd.DataFrame) -> tuple[BetaGeoModel, GammaGammaModel]:
    return BetaGeoModel().fit(small_days), GammaGammaModel().fit(small_days)


@pytest.fixture(scope="module")
def few(small_days: pd.DataFrame) -> pd.DataFrame:
    rows = small_days.iloc[:40].copy()
    rows.attrs.update(small_days.attrs)
    return rows


def test_a_fixed_spend_per_purchase(
    models: tuple[BetaGeoModel, GammaGammaModel], few: pd.DataFrame
) -> None:
    purchases, spend = models
    fitted = customer_lifetime_value(purchases, spend, few, interval=None)
    fixed = customer_lifetime_value(purchases, 25.0, few, interval=None)
    assert (fixed["expected_spend"] == 25.0).all()
    np.testing.assert_allclose(fixed["expected_purchases"], fitted["expected_purchases"])
    # CLV is linear in the spend: the fitted model's CLV over its spend, times 25.
    np.testing.assert_allclose(
        fixed["clv"], fitted["clv"] / fitted["expected_spend"] * 25.0, rtol=1e-12
    )
    # No monetary_value needed when the spend is given.
    bare = few.drop(columns="monetary_value")
    bare.attrs.update(few.attrs)
    pd.testing.assert_frame_equal(
        customer_lifetime_value(purchases, 25.0, bare, interval=None), fixed
    )


def test_a_spend_per_customer_follows_the_index(
    models: tuple[BetaGeoModel, GammaGammaModel], few: pd.DataFrame
) -> None:
    purchases, spend = models
    fitted = customer_lifetime_value(purchases, spend, few, seed=3)
    # The Gamma-Gamma spend given per customer, in another order: the same point estimates.
    given = fitted["expected_spend"].iloc[::-1]
    by_series = customer_lifetime_value(purchases, given, few, seed=3)
    np.testing.assert_allclose(by_series["clv"], fitted["clv"], rtol=1e-12)
    by_array = customer_lifetime_value(purchases, fitted["expected_spend"].to_numpy(), few, seed=3)
    pd.testing.assert_frame_equal(by_array, by_series)
    # Given spend is fixed in the draws: the interval is the purchase model's alone, so it is
    # the interval of the expected purchases' discounted value times the spend.
    assert (by_series["clv_low"] <= by_series["clv"] + 1e-9).all()
    assert (by_series["clv"] <= by_series["clv_high"] + 1e-9).all()
    with pytest.raises(DataValidationError, match=r"'spend_model' has no spend per purchase for 1"):
        customer_lifetime_value(purchases, given.iloc[1:], few, interval=None)
    with pytest.raises(DataValidationError, match="'spend_model' has 3 values but the summary"):
        customer_lifetime_value(purchases, [1.0, 2.0, 3.0], few, interval=None)
    negative = given.copy()
    negative.iloc[0] = -5.0
    with pytest.raises(DataValidationError, match=r"negative for 1 customer.*-5\.0"):
        customer_lifetime_value(purchases, negative, few, interval=None)
    with pytest.raises(ConfigError, match="'spend_model' must be >= 0, got -1"):
        customer_lifetime_value(purchases, -1, few, interval=None)


def test_equal_per_customer_horizons_are_the_common_horizon(
    models: tuple[BetaGeoModel, GammaGammaModel], few: pd.DataFrame
) -> None:
    purchases, spend = models
    common = customer_lifetime_value(purchases, spend, few, horizon_days=200.0, seed=1)
    per_customer = customer_lifetime_value(
        purchases, spend, few, horizon_days=np.full(len(few), 200.0), seed=1
    )
    pd.testing.assert_frame_equal(per_customer, common)


def test_per_customer_horizons_equal_one_customer_at_a_time(
    models: tuple[BetaGeoModel, GammaGammaModel], few: pd.DataFrame
) -> None:
    purchases, spend = models
    rng = np.random.default_rng(5)
    horizons = rng.choice([0.0, 12.5, 30.0, 60.0, 95.0, 365.0, 1000.0], len(few))
    horizons[:3] = [30.0, 31.0, 0.0]  # a whole period, a period and a day, nothing
    series = pd.Series(horizons, index=few.index).sample(frac=1.0, random_state=0)
    together = customer_lifetime_value(purchases, spend, few, horizon_days=series, seed=7)
    for i in range(len(few)):
        one = few.iloc[[i]]
        one.attrs.update(few.attrs)
        alone = customer_lifetime_value(purchases, spend, one, horizon_days=horizons[i], seed=7)
        np.testing.assert_allclose(
            together.iloc[[i]].to_numpy(), alone.to_numpy(), rtol=1e-12, atol=1e-300
        )
    assert (together.loc[horizons == 0].drop(columns="expected_spend") == 0).all().all()


def test_a_horizon_of_zero_is_worth_zero(
    models: tuple[BetaGeoModel, GammaGammaModel], few: pd.DataFrame
) -> None:
    purchases, spend = models
    zero = customer_lifetime_value(purchases, spend, few, horizon_days=0)
    assert (zero[["expected_purchases", "clv", "clv_low", "clv_high"]] == 0).all().all()
    assert (zero["expected_spend"] > 0).all()
    with pytest.raises(ConfigError, match="'horizon_days' must be >= 0, got -7"):
        customer_lifetime_value(purchases, spend, few, horizon_days=-7)
    with pytest.raises(
        DataValidationError, match="'horizon_days' is missing, infinite or negative"
    ):
        customer_lifetime_value(purchases, spend, few, horizon_days=np.full(len(few), np.nan))
