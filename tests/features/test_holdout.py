"""Calibration and holdout summaries (issue 15): lifetimes' calibration_and_holdout_data under
the package's purchase rule, the snapshots' labels, and the daily series behind the tracking
plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ConfigError
from churnmodel.features import (
    HOLDOUT_COLUMNS,
    PurchaseRule,
    build_snapshots,
    calibration_and_holdout_summary,
    daily_repeat_purchases,
    purchase_days,
)
from tests.conftest import random_log


def lifetimes_holdout(log: pd.DataFrame, cut: str, end: str, multiplier: int) -> pd.DataFrame:
    from lifetimes.utils import calibration_and_holdout_data

    # lifetimes compares raw timestamps with its period ends (midnight); churnmodel's days are
    # inclusive, so lifetimes is given the last instant of each day.
    last = pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    ref = calibration_and_holdout_data(
        log,
        "customer_id",
        "timestamp",
        calibration_period_end=pd.Timestamp(cut) + last,
        observation_period_end=pd.Timestamp(end) + last,
        freq="D",
        freq_multiplier=multiplier,
        monetary_value_col="amount",
    )
    ref.index = ref.index.astype(str)
    return ref


def test_cdnow_equals_lifetimes(cdnow_sample: pd.DataFrame) -> None:
    ours = calibration_and_holdout_summary(cdnow_sample, "1997-09-30", "1998-06-30", "W")
    assert list(ours.columns) == list(HOLDOUT_COLUMNS)
    assert len(ours) == 2357 and ours.attrs["time_unit"] == "W"
    ref = lifetimes_holdout(cdnow_sample, "1997-09-30", "1998-06-30", 7).reindex(ours.index)
    for column in ("frequency_cal", "recency_cal", "T_cal", "frequency_holdout"):
        np.testing.assert_array_equal(ours[column], ref[column], err_msg=column)
    np.testing.assert_allclose(ours["monetary_value_cal"], ref["monetary_value_cal"], rtol=1e-12)
    assert (ours["duration_holdout"] == 39.0).all()
    assert int(ours["frequency_holdout"].sum()) == 1882


@pytest.mark.parametrize("seed", [0, 1])
def test_random_logs_equal_lifetimes(seed: int) -> None:
    # One row per customer-day, so lifetimes' holdout mean over rows is the mean over days.
    log = random_log(seed=seed)
    log = log.loc[
        ~log.assign(day=log["timestamp"].dt.normalize()).duplicated(["customer_id", "day"])
    ]
    ours = calibration_and_holdout_summary(log, "2020-12-31", "2021-06-30", "D")
    ref = lifetimes_holdout(log, "2020-12-31", "2021-06-30", 1).reindex(ours.index)
    for column in HOLDOUT_COLUMNS:
        if column != "spend_holdout":
            np.testing.assert_allclose(ours[column], ref[column], rtol=1e-12, err_msg=column)


def test_holdout_columns_are_the_snapshot_labels() -> None:
    log = random_log(seed=3)
    log.loc[log.index[::17], "amount"] *= -1  # returns
    log.loc[log.index[::23], "amount"] = 0.0  # $0 orders
    ours = calibration_and_holdout_summary(log, "2020-09-30", "2020-12-29", "D")
    snap = build_snapshots(log, ["2020-09-30"], 90).set_index("customer_id")
    snap.index = snap.index.astype(ours.index.dtype)
    snap = snap.reindex(ours.index)
    np.testing.assert_array_equal(ours["frequency_holdout"], snap["purchases_next"])
    np.testing.assert_allclose(ours["spend_holdout"], snap["spend_next"], rtol=1e-12)
    np.testing.assert_array_equal(ours["frequency_cal"], snap["frequency"])
    assert (ours["duration_holdout"] == 90.0).all()


def test_a_hand_built_customer() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a"] * 6,
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-10", "2024-02-05", "2024-02-05", "2024-02-20", "2024-03-01"]
            ),
            "amount": [20.0, 30.0, 50.0, -10.0, 0.0, -5.0],
        }
    )
    one = calibration_and_holdout_summary(log, "2024-01-31", "2024-03-31", "D").loc["a"]
    assert one["frequency_cal"] == 1 and one["recency_cal"] == 9 and one["T_cal"] == 30
    # Holdout: Feb 5 nets 40 (a purchase), Feb 20 is a $0 order (a purchase by default),
    # Mar 1 is a return only (not one); the spend nets every day: 40 + 0 - 5.
    assert one["frequency_holdout"] == 2
    assert one["monetary_value_holdout"] == pytest.approx(20.0)
    assert one["spend_holdout"] == pytest.approx(35.0)
    assert one["duration_holdout"] == 60.0
    old = PurchaseRule(free_orders_are_purchases=False)
    assert (
        calibration_and_holdout_summary(log, "2024-01-31", "2024-03-31", purchase=old).loc[
            "a", "frequency_holdout"
        ]
        == 1
    )
    with pytest.raises(ConfigError, match="'observation_end' must be after 'calibration_end'"):
        calibration_and_holdout_summary(log, "2024-01-31", "2024-01-31")


def test_daily_series_add_up_to_the_summary(cdnow_sample: pd.DataFrame) -> None:
    repeat, first = daily_repeat_purchases(cdnow_sample, "1997-09-30", "1998-06-30")
    summary = calibration_and_holdout_summary(cdnow_sample, "1997-09-30", "1998-06-30", "W")
    assert int(first.sum()) == len(summary) == 2357
    assert int(repeat.sum()) == int(
        summary["frequency_cal"].sum() + summary["frequency_holdout"].sum()
    )
    assert int(repeat.loc[:"1997-09-30"].sum()) == int(summary["frequency_cal"].sum()) == 2457
    assert first.index.max() <= pd.Timestamp("1997-03-31")  # the cohort's first quarter


def test_purchase_days_of_one_customer(cdnow_sample: pd.DataFrame) -> None:
    days = purchase_days(cdnow_sample, ["1"], until="1998-06-30")
    assert days["customer_id"].unique().tolist() == ["1"]
    assert days["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "1997-01-01",
        "1997-01-18",
        "1997-08-02",
        "1997-12-12",
    ]
    with pytest.raises(ConfigError, match="'customers' must name at least one customer"):
        purchase_days(cdnow_sample, [])
