"""Tracking over calendar time and a customer's P(alive) path (issue 15): the numbers drawn are
the model's, computed the long way, and the plots draw them without pyplot."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from churnmodel.datasets import load_cdnow
from churnmodel.evaluation import (
    TRACKING_COLUMNS,
    holdout_by_frequency,
    plot_probability_alive_path,
    plot_transaction_tracking,
    probability_alive_path,
    transaction_tracking,
)
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import calibration_and_holdout_summary, rfm_summary
from churnmodel.models import BetaGeoBetaBinomModel, BetaGeoModel, ParetoNBDModel


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    tx = load_cdnow(sample=True)
    assert isinstance(tx, pd.DataFrame)
    return tx


@pytest.fixture(scope="module")
def model(log: pd.DataFrame) -> BetaGeoModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BetaGeoModel().fit(rfm_summary(log, "1997-09-30", "W"))


@pytest.fixture(scope="module")
def tracking(model: BetaGeoModel, log: pd.DataFrame) -> pd.DataFrame:
    return transaction_tracking(model, log, "1997-09-30", "1998-06-30")


def test_tracking_counts_the_weeks_of_the_literature(tracking: pd.DataFrame) -> None:
    assert list(tracking.columns) == list(TRACKING_COLUMNS)
    assert len(tracking) == 78  # weeks 1-39 and 40-78
    assert tracking.index[0] == pd.Timestamp("1997-01-07")
    assert tracking.index[-1] == pd.Timestamp("1998-06-30")
    assert tracking.loc["1997-09-30", "actual_cumulative"] == 2457  # calibration repeat days
    assert tracking["actual"].sum() == 2457 + 1882
    np.testing.assert_allclose(tracking["actual"].cumsum(), tracking["actual_cumulative"])
    np.testing.assert_allclose(tracking["expected"].cumsum(), tracking["expected_cumulative"])
    assert tracking.attrs["calibration_end"] == "1997-09-30"


def test_expected_is_every_customers_new_customer_expectation(
    model: BetaGeoModel, log: pd.DataFrame, tracking: pd.DataFrame
) -> None:
    # The long way: at each period end e, the sum over customers of E[X(e - first purchase)].
    summary = rfm_summary(log, "1997-09-30", "D")
    first = pd.Timestamp("1997-09-30") - pd.to_timedelta(summary["T"], unit="D")
    for end in ("1997-01-28", "1997-06-03", "1997-09-30", "1998-02-10", "1998-06-30"):
        ages = (pd.Timestamp(end) - first).dt.days.clip(lower=0).to_numpy(dtype=float)
        expected = model.expected_purchases_new_customer(ages, time_unit="D").sum()
        assert tracking.loc[end, "expected_cumulative"] == pytest.approx(expected, rel=1e-12)


def test_daily_tracking_and_a_partial_last_week(model: BetaGeoModel, log: pd.DataFrame) -> None:
    daily = transaction_tracking(model, log, "1997-09-30", "1997-12-31", period="D")
    assert (daily.index[1:] - daily.index[:-1] == pd.Timedelta(days=1)).all()
    weekly = transaction_tracking(model, log, "1997-09-30", "1997-12-31")
    assert weekly.index[-1] == pd.Timestamp("1997-12-31")  # 92 days: 13 weeks and a day
    assert weekly.index[-2] == pd.Timestamp("1997-12-30")
    assert daily["actual"].sum() == weekly["actual"].sum()
    assert daily["expected_cumulative"].iloc[-1] == pytest.approx(
        weekly["expected_cumulative"].iloc[-1], rel=1e-12
    )
    with pytest.raises(ConfigError, match="'period' must be 'W' or 'D', got 'Q'"):
        transaction_tracking(model, log, "1997-09-30", "1997-12-31", period="Q")


def test_tracking_plot(tracking: pd.DataFrame) -> None:
    before = set(sys.modules.get("matplotlib.pyplot", object()).__dict__)  # no pyplot state
    ax = plot_transaction_tracking(tracking)
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["actual", "BG/NBD", "end of calibration"]
    np.testing.assert_allclose(lines[0].get_ydata(), tracking["actual_cumulative"])
    np.testing.assert_allclose(lines[1].get_ydata(), tracking["expected_cumulative"])
    incremental = plot_transaction_tracking(tracking, cumulative=False)
    np.testing.assert_allclose(incremental.get_lines()[0].get_ydata(), tracking["actual"])
    assert set(sys.modules.get("matplotlib.pyplot", object()).__dict__) == before
    with pytest.raises(DataValidationError, match="the tracking frame has no column 'expected'"):
        plot_transaction_tracking(tracking.drop(columns="expected"))


def test_probability_alive_path_is_the_cutoff_p_alive_of_each_day(
    model: BetaGeoModel, log: pd.DataFrame
) -> None:
    path = probability_alive_path(model, log, "1", end="1998-06-30")
    assert path.index[0] == pd.Timestamp("1997-01-01") and path.index[-1] == pd.Timestamp(
        "1998-06-30"
    )
    assert path.index[path["purchase"]].strftime("%Y-%m-%d").tolist() == [
        "1997-01-01",
        "1997-01-18",
        "1997-08-02",
        "1997-12-12",
    ]
    one = log.loc[log["customer_id"] == "1"]
    for day in ("1997-01-01", "1997-01-17", "1997-01-18", "1997-05-01", "1998-06-30"):
        cutoff = rfm_summary(one, day, "D")
        assert path.loc[day, "p_alive"] == pytest.approx(
            model.probability_alive(cutoff).iloc[0], rel=1e-12
        )
    # A Pareto/NBD customer is alive for sure on the day of a purchase.
    pareto = ParetoNBDModel.from_params(
        {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, time_unit="W"
    )
    bought = probability_alive_path(pareto, log, "1")
    assert (bought.loc[bought["purchase"], "p_alive"] == 1.0).all()
    ax = plot_probability_alive_path(path)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), path["p_alive"])
    with pytest.raises(DataValidationError, match="customer 'nobody' has no purchase day"):
        probability_alive_path(model, log, "nobody")
    with pytest.raises(TypeError, match="continuous-time purchase model"):
        probability_alive_path(
            BetaGeoBetaBinomModel.from_params(
                {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
            ),
            log,
            "1",
        )


def test_holdout_by_frequency(model: BetaGeoModel, log: pd.DataFrame) -> None:
    both = calibration_and_holdout_summary(log, "1997-09-30", "1998-06-30", "W")
    calibration = both[["frequency_cal", "recency_cal", "T_cal"]].set_axis(
        ["frequency", "recency", "T"], axis=1
    )
    calibration.attrs["time_unit"] = "W"
    table = holdout_by_frequency(model, calibration, both, max_frequency=7)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert int(table["customers"].sum()) == 2357
    assert float((table["actual"] * table["customers"]).sum()) == pytest.approx(1882)
    expected = model.expected_purchases(calibration, 39.0)
    assert float((table["expected"] * table["customers"]).sum()) == pytest.approx(
        float(expected.sum()), rel=1e-12
    )
