"""Time units (issue 15): months of 365.25 / 12 days beside days and weeks, and the choice between
continuous periods (days divided by the unit's length) and calendar periods (lifetimes'
``freq="W"``: purchases grouped by calendar week or month)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import load_settings
from churnmodel.exceptions import ConfigError
from churnmodel.features import customer_features, rfm_summary
from churnmodel.models import BetaGeoModel
from churnmodel.schemas import days_per_unit
from tests.conftest import random_log


def test_a_month_is_365_25_over_12_days() -> None:
    assert days_per_unit("M") == 30.4375
    log = random_log(seed=4)
    days = rfm_summary(log, "2021-03-31", "D")
    months = rfm_summary(log, "2021-03-31", "M")
    assert months.attrs["time_unit"] == "M"
    np.testing.assert_allclose(months["recency"], days["recency"] / 30.4375, rtol=1e-15)
    np.testing.assert_allclose(months["T"], days["T"] / 30.4375, rtol=1e-15)
    features = customer_features(log, "2021-03-31", time_unit="M")
    np.testing.assert_allclose(features["T"], months["T"], rtol=1e-15)
    assert load_settings(None, {"features": {"time_unit": "M"}}).features.time_unit == "M"
    with pytest.raises(ConfigError, match="'time_unit' must be 'D', 'W' or 'M', got 'Y'"):
        rfm_summary(log, "2021-03-31", "Y")


def test_a_model_in_months_predicts_like_one_in_weeks(cdnow_sample: pd.DataFrame) -> None:
    weeks = rfm_summary(cdnow_sample, "1997-09-30", "W")
    months = rfm_summary(cdnow_sample, "1997-09-30", "M")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_weeks = BetaGeoModel().fit(weeks)
        by_months = BetaGeoModel().fit(months)
    # alpha is a time scale: in months it is the weekly alpha times 7 / 30.4375.
    assert by_months.params_["alpha"] == pytest.approx(
        by_weeks.params_["alpha"] * 7 / 30.4375, rel=1e-3
    )
    assert by_months.params_["r"] == pytest.approx(by_weeks.params_["r"], rel=1e-3)
    # One model, either unit: the same predictions.
    np.testing.assert_allclose(
        by_weeks.expected_purchases(months, 39 * 7 / 30.4375),
        by_weeks.expected_purchases(weeks, 39),
        rtol=1e-12,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calendar_weeks_equal_lifetimes_freq_w(seed: int) -> None:
    from lifetimes.utils import summary_data_from_transaction_data

    # lifetimes keeps the whole week of its observation end (days after it too), so the log
    # ends at the cut-off for the comparison; churnmodel never looks past the cut-off.
    log = random_log(seed=seed)
    log = log.loc[log["timestamp"] < "2021-04-01"]
    ours = rfm_summary(log, "2021-03-31", "W", periods="calendar")
    ref = summary_data_from_transaction_data(
        log,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end="2021-03-31",
        freq="W",
    )
    ref.index = ref.index.astype(str)
    ref = ref.sort_index()
    assert ours.index.tolist() == ref.index.tolist()
    assert ours.attrs["periods"] == "calendar"
    for column in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[column], ref[column], rtol=1e-12, err_msg=column)


def test_calendar_months_by_hand() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a"] * 6 + ["b"],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-30",
                    "2024-01-31",  # same month: one purchase worth 30
                    "2024-02-01",  # the next day, but the next month
                    "2024-04-10",
                    "2024-04-20",  # a return only: not a purchase, not in April's worth
                    "2024-06-02",  # after the cut-off
                    "2024-05-31",
                ]
            ),
            "amount": [10.0, 20.0, 5.0, 40.0, -15.0, 99.0, 0.0],
        }
    )
    calendar = rfm_summary(log, "2024-05-31", "M", periods="calendar")
    a = calendar.loc["a"]
    assert a["frequency"] == 2 and a["recency"] == 3.0 and a["T"] == 4.0
    assert a["monetary_value"] == pytest.approx((5.0 + 40.0) / 2)
    b = calendar.loc["b"]  # a $0 order on the cut-off: a purchase, in the cut-off's month
    assert b["frequency"] == 0 and b["T"] == 0.0
    continuous = rfm_summary(log, "2024-05-31", "M")
    assert continuous.loc["a", "frequency"] == 3  # every purchase day
    assert continuous.loc["a", "T"] == pytest.approx(122 / 30.4375)
    # Days are the same either way.
    pd.testing.assert_frame_equal(
        rfm_summary(log, "2024-05-31", "D", periods="calendar"), rfm_summary(log, "2024-05-31")
    )
    with pytest.raises(ConfigError, match="'periods' must be 'continuous' or 'calendar'"):
        rfm_summary(log, "2024-05-31", "W", periods="fiscal")
