"""The simulator: canonical output, determinism, and ground truth that agrees with the log."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel.datasets import SimulatedLog, simulate, simulate_to_parquet
from churnmodel.exceptions import ConfigError
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, ORDER_ID, TIMESTAMP, TRANSACTION_COLUMNS

# ``churnmodel.datasets.simulate`` is the function once the package is imported; the module
# itself is needed to shrink the block size.
sim_module = importlib.import_module("churnmodel.datasets.simulate")

N = 20_000
SEED = 11
CUTOFF = "2022-09-30"
RATE = 1 / 35


@pytest.fixture(scope="module")
def log() -> SimulatedLog:
    return simulate(N, SEED, cutoff=CUTOFF, purchase_rate_mean=RATE)


@pytest.fixture(scope="module")
def purchases(log: SimulatedLog) -> pd.DataFrame:
    tx = log.transactions
    return tx[tx[AMOUNT] > 0]


def with_truth(rows: pd.DataFrame, log: SimulatedLog, *columns: str) -> pd.DataFrame:
    return rows.join(log.customers[list(columns)], on=CUSTOMER_ID)


def month_day(ts: pd.Series) -> pd.Series:
    return ts.dt.month * 100 + ts.dt.day


# ---------------------------------------------------------------------------- shape


def test_canonical_columns_and_dtypes(log: SimulatedLog) -> None:
    tx = log.transactions
    assert list(tx.columns) == list(TRANSACTION_COLUMNS)
    assert pd.api.types.is_string_dtype(tx[CUSTOMER_ID])
    assert pd.api.types.is_string_dtype(tx[ORDER_ID])
    assert tx[TIMESTAMP].dtype == np.dtype("datetime64[ns]")
    assert tx[AMOUNT].dtype == np.float64
    assert tx.notna().all().all()
    assert tx[CUSTOMER_ID].str.fullmatch(r"C\d{7}").all()
    assert tx[ORDER_ID].str.fullmatch(r"[OR]\d{11}").all()
    # Times of day, spread over the day with quiet nights.
    hours = tx[TIMESTAMP].dt.hour.value_counts(normalize=True)
    assert hours.size == 24
    assert hours.loc[[12, 19]].min() > 5 * hours.loc[[3, 4]].max()
    # Inside the window, sorted by timestamp then customer.
    assert tx[TIMESTAMP].min() >= pd.Timestamp("2021-01-01")
    assert tx[TIMESTAMP].max() < pd.Timestamp("2024-01-01")
    key = tx[[TIMESTAMP, CUSTOMER_ID]]
    assert key.equals(key.sort_values([TIMESTAMP, CUSTOMER_ID], kind="stable"))
    # Amounts in cents; returns negative and only returns.
    cents = tx[AMOUNT].to_numpy() * 100
    assert np.allclose(cents, np.round(cents))
    assert (tx[AMOUNT] != 0).all()
    assert ((tx[AMOUNT] < 0) == tx[ORDER_ID].str.startswith("R")).all()


def test_customers_table_matches_the_log(log: SimulatedLog, purchases: pd.DataFrame) -> None:
    cu = log.customers
    assert cu.index.name == CUSTOMER_ID
    assert cu.index.is_unique and len(cu) == N
    assert set(log.transactions[CUSTOMER_ID].unique()) == set(cu.index)
    assert cu["segment"].value_counts().to_dict() == {
        "regular": 16_000,
        "seasonal": 2_000,
        "promo": 2_000,
    }
    by_customer = purchases.groupby(CUSTOMER_ID)[TIMESTAMP]
    first = by_customer.min().reindex(cu.index)
    assert (first == cu["first_purchase"]).all()
    assert (by_customer.size().reindex(cu.index) == cu["n_purchases"]).all()
    assert cu.loc[cu["segment"] == "seasonal", "season"].notna().all()
    assert cu.loc[cu["segment"] != "seasonal", "season"].isna().all()
    assert (cu.loc[cu["segment"] == "promo", "purchase_rate"] == 0).all()
    assert (cu.loc[cu["segment"] != "promo", "purchase_rate"] > 0).all()


def test_same_seed_same_log_other_seed_other_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_module, "BLOCK_CUSTOMERS", 700)  # several blocks
    a = simulate(2_000, 3, duplicate_rate=0.01)
    b = simulate(2_000, 3, duplicate_rate=0.01)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    c = simulate(2_000, 4, duplicate_rate=0.01)
    assert not a.customers["first_purchase"].equals(c.customers["first_purchase"])


def test_order_ids_unique_unless_duplicates_are_asked_for(log: SimulatedLog) -> None:
    assert log.transactions[ORDER_ID].is_unique
    assert not log.transactions.duplicated().any()

    dup = simulate(5_000, 2, duplicate_rate=0.05).transactions
    repeated = dup[ORDER_ID].duplicated()
    # A repeated order id is always an exact copy of the row before it.
    assert (repeated == dup.duplicated()).all()
    at = np.flatnonzero(repeated.to_numpy())
    assert at.size > 0
    pd.testing.assert_frame_equal(
        dup.iloc[at].reset_index(drop=True), dup.iloc[at - 1].reset_index(drop=True)
    )
    assert repeated.mean() == pytest.approx(0.05 / 1.05, abs=0.005)
    assert dup.drop_duplicates()[ORDER_ID].is_unique


# ---------------------------------------------------------------------------- segments


def test_seasonal_customers_buy_in_their_season(log: SimulatedLog, purchases: pd.DataFrame) -> None:
    rows = with_truth(purchases, log, "segment", "season")
    rows = rows[rows["segment"] == "seasonal"]
    md = month_day(rows[TIMESTAMP])
    in_season = np.where(rows["season"] == "summer", md.between(610, 731), md.between(1110, 1231))
    assert in_season.mean() >= 0.97
    per_customer = pd.Series(in_season, index=rows.index).groupby(rows[CUSTOMER_ID]).mean()
    assert (per_customer >= 0.9).mean() >= 0.95
    # The first purchase is always in season, and many buy again in a later year.
    first = log.customers.loc[log.customers["segment"] == "seasonal"]
    md_first = month_day(first["first_purchase"])
    assert np.where(
        first["season"] == "summer", md_first.between(610, 731), md_first.between(1110, 1231)
    ).all()
    years = rows.groupby(CUSTOMER_ID)[TIMESTAMP].agg(lambda s: s.dt.year.nunique())
    assert (years >= 2).mean() > 0.3


def test_promotion_buyers_buy_once_in_a_promotion(
    log: SimulatedLog, purchases: pd.DataFrame
) -> None:
    rows = with_truth(purchases, log, "segment")
    rows = rows[rows["segment"] == "promo"]
    days = rows.groupby(CUSTOMER_ID)[TIMESTAMP].agg(lambda s: s.dt.normalize().nunique())
    assert len(days) == 2_000
    assert (days == 1).all()
    md = month_day(rows[TIMESTAMP])
    assert (md.between(102, 108) | md.between(701, 707) | md.between(1124, 1130)).all()


def test_regular_customers_buy_at_the_configured_mean_rate(log: SimulatedLog) -> None:
    cu = log.customers
    alive = cu[(cu["segment"] == "regular") & cu["death"].isna()]
    window_end = log.end + pd.Timedelta(days=1)
    exposure = (window_end - alive["first_purchase"]).dt.total_seconds() / 86_400
    realised = (alive["n_purchases"] - 1).sum() / exposure.sum()
    assert len(alive) > 5_000
    assert realised == pytest.approx(RATE, rel=0.08)
    # Each customer's own rate drives their count (over a year or more of exposure).
    long = exposure > 365
    own = (alive["n_purchases"] - 1)[long] / exposure[long]
    assert np.corrcoef(own, alive.loc[long, "purchase_rate"])[0, 1] > 0.9


def test_spend_averages_the_configured_mean(log: SimulatedLog, purchases: pd.DataFrame) -> None:
    assert log.customers["mean_spend"].mean() == pytest.approx(50.0, rel=0.05)
    assert purchases[AMOUNT].min() >= 0.01
    rows = with_truth(purchases, log, "mean_spend")
    per_customer = rows.groupby(CUSTOMER_ID).agg(
        spent=(AMOUNT, "mean"), truth=("mean_spend", "first")
    )
    assert np.corrcoef(per_customer["spent"], per_customer["truth"])[0, 1] > 0.8


# ---------------------------------------------------------------------------- returns


def test_returns_share_close_to_configured(log: SimulatedLog, purchases: pd.DataFrame) -> None:
    returns = (log.transactions[AMOUNT] < 0).sum()
    # A few refunds would fall after the window and are not in the log.
    assert returns / len(purchases) == pytest.approx(0.04, abs=0.004)
    many = simulate(5_000, 1, return_rate=0.2).transactions
    assert (many[AMOUNT] < 0).sum() / (many[AMOUNT] > 0).sum() == pytest.approx(0.2, abs=0.02)
    none = simulate(2_000, 1, return_rate=0.0).transactions
    assert (none[AMOUNT] > 0).all()


def test_returns_follow_purchases(log: SimulatedLog) -> None:
    tx = log.transactions
    rows = with_truth(tx[tx[AMOUNT] < 0], log, "first_purchase")
    assert (rows[TIMESTAMP] >= rows["first_purchase"]).all()
    assert (rows[TIMESTAMP] < rows["first_purchase"] + pd.Timedelta(days=1100)).all()
    # The refunded amount never exceeds the largest purchase of the customer.
    biggest = tx[tx[AMOUNT] > 0].groupby(CUSTOMER_ID)[AMOUNT].max()
    assert (-rows[AMOUNT] <= biggest.reindex(rows[CUSTOMER_ID]).to_numpy()).all()
    # Some days hold a purchase and its full refund: net amount 0 (or less).
    day = tx.assign(day=tx[TIMESTAMP].dt.normalize())
    both = day.groupby([CUSTOMER_ID, "day"])[AMOUNT].agg(["min", "max", "sum"])
    both = both[(both["min"] < 0) & (both["max"] > 0)]
    assert (both["sum"] <= 0).sum() >= 10


# ---------------------------------------------------------------------------- ground truth


def test_nobody_buys_after_dropping_out(log: SimulatedLog, purchases: pd.DataFrame) -> None:
    rows = with_truth(purchases, log, "death")
    dead = rows["death"].notna()
    assert dead.any()
    assert (rows.loc[dead, TIMESTAMP] < rows.loc[dead, "death"]).all()


def test_alive_at_agrees_with_the_log(log: SimulatedLog, purchases: pd.DataFrame) -> None:
    cutoff = pd.Timestamp(CUTOFF)
    alive = log.alive
    assert alive is not None
    pd.testing.assert_series_equal(alive, log.alive_at(CUTOFF))
    assert log.cutoff == cutoff
    assert alive.dtype == bool and alive.name == "alive"
    # Exactly the customers acquired on or before the cut-off day.
    acquired = log.customers.index[log.customers["first_purchase"] < cutoff + pd.Timedelta(days=1)]
    assert set(alive.index) == set(acquired)
    # Whoever buys after the cut-off was alive at it.
    later = purchases.loc[purchases[TIMESTAMP] >= cutoff + pd.Timedelta(days=1), CUSTOMER_ID]
    known_later = later[later.isin(alive.index)].unique()
    assert len(known_later) > 1_000
    assert alive.loc[known_later].all()
    # Promotion buyers are gone once their day is over; a mix of states overall.
    promo = log.customers.index[log.customers["segment"] == "promo"]
    assert not alive.loc[alive.index.intersection(promo)].any()
    assert 0.3 < alive.mean() < 0.9
    # Alive customers include seasonal ones who do not buy until their season.
    seasonal_alive = alive[alive].index.intersection(
        log.customers.index[log.customers["segment"] == "seasonal"]
    )
    assert len(seasonal_alive) > 100


def test_alive_at_window_edges(log: SimulatedLog) -> None:
    at_end = log.alive_at(log.end)
    assert len(at_end) == N
    assert (
        at_end.sum()
        == log.customers["death"].isna().sum()
        + (log.customers["death"] >= log.end + pd.Timedelta(days=1)).sum()
    )
    with pytest.raises(ConfigError, match=r"'cutoff' must be within .* got 2024-02-01"):
        log.alive_at("2024-02-01")


# ---------------------------------------------------------------------------- options


def test_time_zone_option_gives_aware_timestamps() -> None:
    log = simulate(500, 1, timezone="Europe/Paris", cutoff="2022-03-27")
    assert str(log.transactions[TIMESTAMP].dt.tz) == "Europe/Paris"
    assert str(log.customers["first_purchase"].dt.tz) == "Europe/Paris"
    assert log.transactions[TIMESTAMP].is_monotonic_increasing
    assert log.alive is not None and len(log.alive) > 0


def test_segment_shares_and_custom_windows() -> None:
    log = simulate(
        1_000,
        5,
        segment_shares={"regular": 0.5, "seasonal": 0.5},
        seasons={"spring": ("03-01", "04-15")},
        start="2020-01-01",
        end="2020-12-31",
    )
    cu = log.customers
    assert cu["segment"].value_counts().to_dict() == {"regular": 500, "seasonal": 500}
    assert (cu.loc[cu["segment"] == "seasonal", "season"] == "spring").all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": -3}, r"'n_customers' must be > 0, got -3"),
        ({"n_customers": 2.5}, r"'n_customers' must be an integer, got 2.5"),
        ({"seed": -1}, r"'seed' must be an integer >= 0, got -1"),
        (
            {"end": "2020-01-01"},
            r"'end' must be on or after 'start' \(2021-01-01\), got 2020-01-01",
        ),
        (
            {"start": "not a date"},
            r"'start' must be a date or an ISO date string, got 'not a date'",
        ),
        ({"cutoff": "2025-01-01"}, r"'cutoff' must be within 2021-01-01 .. 2023-12-31"),
        ({"return_rate": 1.5}, r"'return_rate' must be >= 0 and < 1, got 1.5"),
        ({"duplicate_rate": -0.1}, r"'duplicate_rate' must be >= 0 and < 1, got -0.1"),
        ({"purchase_rate_mean": 0}, r"'purchase_rate_mean' must be > 0, got 0"),
        ({"spend_q": 1.0}, r"'spend_q' must be > 1 .*got 1.0"),
        ({"segment_shares": {"regular": 0.5}}, r"'segment_shares' must sum to 1, got 0.5"),
        ({"segment_shares": {"vip": 1.0}}, r"unknown \['vip'\]"),
        ({"seasons": {"x": ("13-01", "12-31")}}, r"'MM-DD' .* got '13-01'"),
        ({"seasons": {"x": ("12-01", "01-31")}}, r"must not wrap around the new year"),
        ({"hourly_weights": [1.0] * 23}, r"'hourly_weights' must be 24 finite numbers > 0"),
        ({"timezone": "Mars/Olympus"}, r"'timezone' must be an IANA time zone name"),
        (
            {"start": "2021-02-01", "end": "2021-05-31"},
            r"'seasons' \['winter_holidays', 'summer'\] never occur",
        ),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"n_customers": 100, "seed": 0, **kwargs}
    with pytest.raises(ConfigError, match=message):
        simulate(**args)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- Parquet


def test_parquet_holds_the_same_rows_written_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim_module, "BLOCK_CUSTOMERS", 600)  # four row groups
    kw = {"duplicate_rate": 0.01, "cutoff": "2022-06-30"}
    in_memory = simulate(2_000, 8, **kw)  # type: ignore[arg-type]
    target = tmp_path / "out" / "log.parquet"
    written = simulate_to_parquet(target, 2_000, 8, **kw)

    assert written.path == target
    assert [p.name for p in target.parent.iterdir()] == ["log.parquet"]  # no temp file left
    import pyarrow.parquet as pq

    assert pq.ParquetFile(target).num_row_groups == 4
    on_disk = pd.read_parquet(target)
    assert written.rows == len(on_disk) == len(in_memory.transactions)
    order = [TIMESTAMP, CUSTOMER_ID, ORDER_ID]
    pd.testing.assert_frame_equal(
        on_disk.sort_values(order, kind="stable").reset_index(drop=True),
        in_memory.transactions.sort_values(order, kind="stable").reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(written.customers, in_memory.customers)
    assert written.alive is not None and in_memory.alive is not None
    pd.testing.assert_series_equal(written.alive, in_memory.alive)


def test_parquet_failure_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown simulate\(\) argument"):
        simulate_to_parquet(tmp_path / "x.parquet", 100, 0, colour="red")
    with pytest.raises(ConfigError, match="'n_customers' must be > 0"):
        simulate_to_parquet(tmp_path / "x.parquet", 0, 0)
    assert list(tmp_path.iterdir()) == []
