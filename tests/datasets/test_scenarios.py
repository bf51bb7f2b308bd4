"""Scenarios: a training log split at the serving day, and the truth of the window after it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import churnmodel.datasets as datasets
from churnmodel.datasets import SCENARIOS, Scenario, seasonal_retailer, simulate
from churnmodel.datasets.scenarios import SEASONAL_RETAILER, TRUTH_COLUMNS
from churnmodel.exceptions import ConfigError
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP, TRANSACTION_COLUMNS

END = pd.Timestamp("2025-06-30")
HORIZON = 184
WINDOW_START = END + pd.Timedelta(days=1)  # 2025-07-01 00:00
WINDOW_END = END + pd.Timedelta(days=HORIZON + 1)  # 2026-01-01 00:00, exclusive


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return seasonal_retailer()


@pytest.fixture(scope="module")
def truth(scenario: Scenario) -> pd.DataFrame:
    return scenario.truth()


def net_by_day(rows: pd.DataFrame) -> pd.DataFrame:
    """Net amount per customer and calendar day, computed from date strings."""
    day = rows[TIMESTAMP].dt.strftime("%Y-%m-%d")
    frame = pd.DataFrame({"customer": rows[CUSTOMER_ID].to_numpy(), "day": day.to_numpy()})
    frame["amount"] = rows[AMOUNT].to_numpy()
    return frame.groupby(["customer", "day"], as_index=False)["amount"].sum()


# ---------------------------------------------------------------------------- layout


def test_registry_and_exports() -> None:
    assert SCENARIOS["seasonal_retailer"] is seasonal_retailer
    assert set(SCENARIOS) == {"seasonal_retailer"}
    with pytest.raises(TypeError):
        SCENARIOS["x"] = seasonal_retailer  # type: ignore[index]
    for name in ("SCENARIOS", "Scenario", "seasonal_retailer"):
        assert name in datasets.__all__


def test_scenario_fields(scenario: Scenario) -> None:
    assert scenario.name == "seasonal_retailer"
    assert scenario.end == date(2025, 6, 30)
    assert scenario.start == date(2023, 1, 1)
    assert scenario.horizon_days == HORIZON
    assert scenario.params["n_customers"] == 20_000
    assert scenario.params["history_days"] == 912
    assert scenario.params["simulate"]["segment_shares"]["declining"] == 0.15
    with pytest.raises(AttributeError):
        scenario.end = date(2020, 1, 1)  # type: ignore[misc]


def test_transactions_end_on_end(scenario: Scenario) -> None:
    tx = scenario.transactions
    assert list(tx.columns) == list(TRANSACTION_COLUMNS)
    assert tx[TIMESTAMP].dtype == np.dtype("datetime64[ns]")
    assert tx[TIMESTAMP].min() >= pd.Timestamp("2023-01-01")
    assert tx[TIMESTAMP].max() < WINDOW_START
    assert tx[TIMESTAMP].max().normalize() == END  # the log reaches the serving day
    assert tx[TIMESTAMP].is_monotonic_increasing
    assert tx.index.equals(pd.RangeIndex(len(tx)))


def test_future_rows_are_in_the_window(scenario: Scenario) -> None:
    fu = scenario.future
    assert list(fu.columns) == list(TRANSACTION_COLUMNS)
    assert len(fu) > 10_000
    assert (fu[TIMESTAMP] >= WINDOW_START).all()
    assert (fu[TIMESTAMP] < WINDOW_END).all()
    assert fu[TIMESTAMP].max().normalize() == pd.Timestamp("2025-12-31")
    assert fu.index.equals(pd.RangeIndex(len(fu)))


def test_the_two_parts_are_the_simulated_log(scenario: Scenario) -> None:
    settings = scenario.params["simulate"]
    log = simulate(20_000, 0, **settings)
    assert log.end == WINDOW_END - pd.Timedelta(days=1)
    both = pd.concat([scenario.transactions, scenario.future], ignore_index=True)
    pd.testing.assert_frame_equal(both, log.transactions)
    # The customers known at the end are the simulator's, with purchases counted up to end.
    known = log.customers[log.customers["first_purchase"] < WINDOW_START]
    pd.testing.assert_frame_equal(
        scenario.customers.drop(columns="n_purchases"), known.drop(columns="n_purchases")
    )
    tx = scenario.transactions
    counted = tx[tx[AMOUNT] > 0].groupby(CUSTOMER_ID).size()
    assert (counted.reindex(scenario.customers.index) == scenario.customers["n_purchases"]).all()


def test_segment_mix(scenario: Scenario) -> None:
    # Over all simulated customers the counts are exact ...
    log = simulate(20_000, 0, **scenario.params["simulate"])
    counts = log.customers["segment"].value_counts().to_dict()
    assert counts == {
        segment: round(20_000 * share)
        for segment, share in SEASONAL_RETAILER["segment_shares"].items()
    }
    # ... among the customers known at the end, seasonal ones are fewer: they are acquired in
    # a season, and one of the three seasons of the simulated period is in the window.
    shares = scenario.customers["segment"].value_counts(normalize=True)
    assert 0.14 < shares["seasonal"] < 0.19
    for segment in ("regular", "declining", "promo", "high_value"):
        expected = SEASONAL_RETAILER["segment_shares"][segment]
        assert shares[segment] == pytest.approx(expected / 0.96, rel=0.1)
    # Most customers buy a few times a year.
    cu = scenario.customers
    repeat = cu[cu["segment"].isin(["regular", "declining"])]
    per_year = repeat["purchase_rate"].median() * 365
    assert 1 <= per_year <= 6


def test_same_arguments_same_scenario() -> None:
    a = seasonal_retailer(1_500, 4)
    b = seasonal_retailer(1_500, 4)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    pd.testing.assert_frame_equal(a.future, b.future)
    pd.testing.assert_frame_equal(a.truth(), b.truth())
    c = seasonal_retailer(1_500, 5)
    assert not a.truth().equals(c.truth())


# ---------------------------------------------------------------------------- segments


def test_seasonal_customers_buy_in_november_and_december(scenario: Scenario) -> None:
    rows = pd.concat([scenario.transactions, scenario.future])
    rows = rows[rows[AMOUNT] > 0]
    seasonal = scenario.customers.index[scenario.customers["segment"] == "seasonal"]
    months = rows.loc[rows[CUSTOMER_ID].isin(seasonal), TIMESTAMP].dt.month
    assert len(months) > 5_000
    assert months.isin([11, 12]).mean() >= 0.95
    assert (scenario.customers.loc[seasonal, "season"] == "winter_holidays").all()


def test_high_value_customers_dominate_spend(scenario: Scenario, truth: pd.DataFrame) -> None:
    spend = truth.groupby("segment")["spend_next"].sum()
    share = spend / spend.sum()
    assert share["high_value"] > 0.4
    assert share["promo"] == 0


# ---------------------------------------------------------------------------- truth


def test_truth_columns(truth: pd.DataFrame) -> None:
    assert truth.index.name == CUSTOMER_ID
    assert truth.index.is_unique and truth.index.is_monotonic_increasing
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert truth["alive"].dtype == bool
    assert truth["lapsed"].dtype == bool
    assert truth["purchases_next"].dtype == np.int64
    assert truth["spend_next"].dtype == np.float64
    assert (truth["lapsed"] == (truth["purchases_next"] == 0)).all()
    assert (truth["spend_next"] >= 0).all()
    # Some customers buy in the window, others do not.
    assert 0.3 < truth["lapsed"].mean() < 0.8


def test_truth_customers_have_a_purchase_day_by_end(
    scenario: Scenario, truth: pd.DataFrame
) -> None:
    days = net_by_day(scenario.transactions)
    buyers = set(days.loc[days["amount"] > 0, "customer"])
    assert set(truth.index) == buyers
    # All of them are in the customers table; customers left out only had days netting <= 0.
    assert set(truth.index) <= set(scenario.customers.index)
    left_out = set(scenario.customers.index) - buyers
    assert len(left_out) < 0.01 * len(truth)
    assert (days.loc[days["customer"].isin(left_out), "amount"] <= 0).all()
    pd.testing.assert_series_equal(truth["segment"], scenario.customers.loc[truth.index, "segment"])


def test_truth_reconciles_with_the_future_rows(scenario: Scenario, truth: pd.DataFrame) -> None:
    days = net_by_day(scenario.future)
    days = days[days["customer"].isin(truth.index)]
    purchase_days = days[days["amount"] > 0].groupby("customer").size()
    expected_count = purchase_days.reindex(truth.index, fill_value=0)
    assert (truth["purchases_next"].to_numpy() == expected_count.to_numpy()).all()
    assert truth["purchases_next"].sum() == int((days["amount"] > 0).sum())

    net = days.groupby("customer")["amount"].sum().reindex(truth.index, fill_value=0.0)
    np.testing.assert_allclose(truth["spend_next"], net.clip(lower=0.0), atol=1e-9)
    assert truth["spend_next"].sum() == pytest.approx(net.clip(lower=0.0).sum())
    # Refunds of earlier purchases make a few customers' window net negative: floored at 0.
    assert (net < 0).sum() > 0


def test_alive_is_the_simulator_truth_and_the_dead_never_buy(
    scenario: Scenario, truth: pd.DataFrame
) -> None:
    death = scenario.customers.loc[truth.index, "death"]
    expected = death.isna() | (death >= WINDOW_START)
    assert (truth["alive"] == expected).all()
    dead = truth.index[~truth["alive"]]
    assert len(dead) > 1_000
    assert (truth.loc[dead, "purchases_next"] == 0).all()
    fu = scenario.future
    assert not fu.loc[fu[AMOUNT] > 0, CUSTOMER_ID].isin(dead).any()
    # Promotion buyers are all gone; alive customers may still be silent in the window.
    assert not truth.loc[truth["segment"] == "promo", "alive"].any()
    assert (truth["alive"] & truth["lapsed"]).sum() > 500


def test_future_holds_new_customers_too(scenario: Scenario, truth: pd.DataFrame) -> None:
    new = ~scenario.future[CUSTOMER_ID].isin(scenario.customers.index)
    assert new.any()
    assert not scenario.future.loc[new, CUSTOMER_ID].isin(truth.index).any()


# ---------------------------------------------------------------------------- options


def test_history_days_and_other_ends() -> None:
    sc = seasonal_retailer(1_000, 1, end="2024-02-28", horizon_days=30, history_days=400)
    assert sc.end == date(2024, 2, 28)
    assert sc.start == date(2024, 2, 28) - pd.Timedelta(days=399)
    assert sc.transactions[TIMESTAMP].min() >= pd.Timestamp(sc.start)
    assert sc.future[TIMESTAMP].max() < pd.Timestamp("2024-03-30")
    # Without history_days: the first of the month 30 months before the day after end.
    default = seasonal_retailer(1_000, 1, end="2024-02-28", horizon_days=30)
    assert default.start == date(2021, 8, 1)
    assert seasonal_retailer(500, 1, end="2025-06-15").start == date(2022, 12, 1)


def test_write(tmp_path: Path) -> None:
    sc = seasonal_retailer(1_000, 2)
    paths = sc.write(tmp_path / "out")
    assert paths == {
        "transactions": tmp_path / "out" / "transactions.parquet",
        "truth": tmp_path / "out" / "truth.parquet",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "transactions.parquet",
        "truth.parquet",
    ]
    pd.testing.assert_frame_equal(pd.read_parquet(paths["transactions"]), sc.transactions)
    pd.testing.assert_frame_equal(
        pd.read_parquet(paths["truth"]).set_index(CUSTOMER_ID), sc.truth()
    )
    csv = sc.write(tmp_path / "csv", file_format="csv")
    read = pd.read_csv(csv["truth"], index_col=CUSTOMER_ID)
    assert list(read.columns) == list(TRUTH_COLUMNS)
    assert len(read) == len(sc.truth())
    with pytest.raises(ConfigError, match=r"'file_format' must be 'parquet' or 'csv', got 'xlsx'"):
        sc.write(tmp_path / "bad", file_format="xlsx")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": -3}, r"'n_customers' must be > 0, got -3"),
        ({"seed": -1}, r"'seed' must be an integer >= 0, got -1"),
        ({"horizon_days": 0}, r"'horizon_days' must be > 0, got 0"),
        ({"horizon_days": -7}, r"'horizon_days' must be > 0, got -7"),
        ({"horizon_days": 30.5}, r"'horizon_days' must be an integer, got 30.5"),
        ({"history_days": 0}, r"'history_days' must be > 0, got 0"),
        ({"history_days": True}, r"'history_days' must be an integer, got True"),
        ({"end": "June"}, r"'end' must be a date between 1677-09-22 and 2262-04-11, got 'June'"),
        ({"end": "not a date"}, r"'end' must be a date or an ISO date string, got 'not a date'"),
        ({"horizon_days": 10**6}, r"'horizon_days' reaches after 2262-04-11 .* got 1000000"),
        ({"history_days": 10**6}, r"'history_days' reaches before 1677-09-22 .* got 1000000"),
        ({"end": 20250630}, r"'end' must be a date or an ISO date string, got 20250630"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"n_customers": 100, **kwargs}
    with pytest.raises(ConfigError, match=message):
        seasonal_retailer(**args)  # type: ignore[arg-type]
