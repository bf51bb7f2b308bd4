"""The simulator: canonical output, determinism, and ground truth that agrees with the log."""

from __future__ import annotations

import hashlib
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
        ({"start": "1600-01-01"}, r"'start' must be a date between 1677-09-22 .* got '1600-01-01'"),
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


# ---------------------------------------------------------------------------- old logs pinned

# sha256 of ``pd.util.hash_pandas_object(frame, index=True)`` for ``simulate(3000, 1)``,
# computed with the simulator as it was before the declining and high_value segments
# (commit c46f9a0). Segments added later must leave every earlier log unchanged.
PIN_TRANSACTIONS = "e215d0158c80d2d86eaa94e56be77bb61aa5cec270fc4d1f1e5f88d4c2051bd5"
PIN_CUSTOMERS = "32e4cdfd7e4ac99763fdba836b86bba23f3cd5336442d4a3d75e8cc3e520463b"
PIN_ROWS = 30_004
OLD_CUSTOMER_COLUMNS = {
    "segment": "str",
    "season": "str",
    "first_purchase": "datetime64[ns]",
    "death": "datetime64[ns]",
    "purchase_rate": "float64",
    "dropout_rate": "float64",
    "mean_spend": "float64",
    "n_purchases": "int64",
}


def digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def assert_pinned_log(transactions: pd.DataFrame, customers: pd.DataFrame) -> None:
    assert len(transactions) == PIN_ROWS
    assert list(transactions.columns) == list(TRANSACTION_COLUMNS)
    assert digest(transactions) == PIN_TRANSACTIONS
    # The old columns, in the old order and dtypes, then the one new column (NaN unless a
    # customer is in the declining segment).
    assert list(customers.columns) == [*OLD_CUSTOMER_COLUMNS, "purchase_rate_half_life"]
    assert {c: str(customers[c].dtype) for c in OLD_CUSTOMER_COLUMNS} == OLD_CUSTOMER_COLUMNS
    assert digest(customers[list(OLD_CUSTOMER_COLUMNS)]) == PIN_CUSTOMERS
    assert customers["purchase_rate_half_life"].isna().all()


def test_default_log_is_pinned() -> None:
    log = simulate(3_000, 1)
    assert_pinned_log(log.transactions, log.customers)


def test_new_segments_with_no_share_draw_nothing() -> None:
    shares = {"regular": 0.8, "seasonal": 0.1, "promo": 0.1, "declining": 0.0, "high_value": 0}
    log = simulate(
        3_000,
        1,
        segment_shares=shares,
        declining_half_life_days=30.0,
        high_value_rate_multiplier=10.0,
        high_value_spend_multiplier=2.0,
    )
    assert_pinned_log(log.transactions, log.customers)


def test_parquet_of_the_default_log_is_pinned(tmp_path: Path) -> None:
    # One block: the file is in the same order as simulate()'s frame.
    written = simulate_to_parquet(tmp_path / "log.parquet", 3_000, 1)
    assert_pinned_log(pd.read_parquet(written.path), written.customers)


def test_other_mixes_unchanged_by_zero_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_module, "BLOCK_CUSTOMERS", 700)  # several blocks
    kw = {"duplicate_rate": 0.01, "return_rate": 0.1, "cutoff": "2022-06-30"}
    old = simulate(2_000, 3, segment_shares={"regular": 0.5, "seasonal": 0.3, "promo": 0.2}, **kw)  # type: ignore[arg-type]
    new = simulate(
        2_000,
        3,
        segment_shares={"regular": 0.5, "seasonal": 0.3, "promo": 0.2, "high_value": 0.0},
        high_value_spend_multiplier=20.0,
        **kw,  # type: ignore[arg-type]
    )
    pd.testing.assert_frame_equal(new.transactions, old.transactions)
    pd.testing.assert_frame_equal(new.customers, old.customers)
    assert old.params["segment_shares"] == {
        "regular": 0.5,
        "seasonal": 0.3,
        "promo": 0.2,
        "declining": 0.0,
        "high_value": 0.0,
    }


# ---------------------------------------------------------------------------- declining, high_value

YEAR = 365.0


@pytest.fixture(scope="module")
def new_segments() -> SimulatedLog:
    # Nobody drops out, so that the fall in buying is the decay alone.
    return simulate(
        30_000,
        5,
        start="2020-01-01",
        end="2022-12-31",
        segment_shares={"regular": 0.4, "declining": 0.3, "high_value": 0.3},
        dropout_rate_mean=0.0,
        declining_half_life_days=200.0,
    )


def repeat_purchases_by_year(log: SimulatedLog, segment: str) -> tuple[pd.Series, pd.DataFrame]:
    """Repeat purchases in the first and second year after the first purchase.

    Only customers acquired in the first year of the window, whose first two years are
    inside it.
    """
    cu = log.customers
    cohort = cu[
        (cu["segment"] == segment) & (cu["first_purchase"] < log.start + pd.DateOffset(years=1))
    ]
    tx = log.transactions
    rows = tx[(tx[AMOUNT] > 0) & tx[CUSTOMER_ID].isin(cohort.index)]
    repeat = rows[rows.groupby(CUSTOMER_ID).cumcount() > 0]
    age = repeat[TIMESTAMP] - cohort["first_purchase"].reindex(repeat[CUSTOMER_ID]).to_numpy()
    year = np.floor(age.dt.total_seconds() / 86_400 / YEAR)
    counts = year.value_counts().reindex([0.0, 1.0], fill_value=0)
    return counts, cohort


def test_declining_customers_buy_less_each_year(new_segments: SimulatedLog) -> None:
    counts, cohort = repeat_purchases_by_year(new_segments, "declining")
    assert len(cohort) > 2_500
    # Second year well below the first: the rate halves every ~200 days.
    assert counts[1.0] < 0.45 * counts[0.0]
    # ... and exactly as the recorded truth says: rate * tau * (e^(-a/tau) - e^(-b/tau)).
    lam = cohort["purchase_rate"].to_numpy()
    tau = cohort["purchase_rate_half_life"].to_numpy() / np.log(2.0)
    for k in (0, 1):
        expected = (lam * tau * (np.exp(-k * YEAR / tau) - np.exp(-(k + 1) * YEAR / tau))).sum()
        assert counts[float(k)] == pytest.approx(expected, rel=0.06)
    # Regular customers (same rate distribution, no decay) keep buying at the same pace.
    regular, _ = repeat_purchases_by_year(new_segments, "regular")
    assert regular[1.0] == pytest.approx(regular[0.0], rel=0.06)


def test_declining_truth_columns(new_segments: SimulatedLog) -> None:
    cu = new_segments.customers
    declining = cu["segment"] == "declining"
    half_life = cu["purchase_rate_half_life"]
    assert half_life[declining].notna().all() and (half_life[declining] > 0).all()
    assert half_life[~declining].isna().all()
    assert half_life[declining].mean() == pytest.approx(200.0, rel=0.03)
    # The initial rate has the regular customers' distribution.
    assert cu.loc[declining, "purchase_rate"].mean() == pytest.approx(1 / 35, rel=0.05)


def test_high_value_customers_buy_more_and_spend_more(new_segments: SimulatedLog) -> None:
    cu = new_segments.customers
    tx = new_segments.transactions
    rows = with_truth(tx[tx[AMOUNT] > 0], new_segments, "segment")
    amount = rows.groupby("segment")[AMOUNT].mean()
    assert amount["high_value"] / amount["regular"] == pytest.approx(5.0, rel=0.1)
    mean_spend = cu.groupby("segment")["mean_spend"].mean()
    assert mean_spend["high_value"] / mean_spend["regular"] == pytest.approx(5.0, rel=0.1)
    rate = cu.groupby("segment")["purchase_rate"].mean()
    assert rate["high_value"] / rate["regular"] == pytest.approx(3.0, rel=0.1)
    # Realised: repeat purchases per day since the first purchase (nobody drops out).
    exposure = (new_segments.end + pd.Timedelta(days=1) - cu["first_purchase"]).dt.total_seconds()
    per_day = ((cu["n_purchases"] - 1).groupby(cu["segment"]).sum()) / (
        exposure.groupby(cu["segment"]).sum() / 86_400
    )
    assert per_day["high_value"] / per_day["regular"] == pytest.approx(3.0, rel=0.08)
    assert cu["purchase_rate_half_life"][cu["segment"] == "high_value"].isna().all()


def test_new_segments_respect_dropout() -> None:
    log = simulate(
        4_000, 9, segment_shares={"declining": 0.5, "high_value": 0.5}, cutoff="2022-06-30"
    )
    cu = log.customers
    assert set(cu["segment"]) == {"declining", "high_value"}
    assert cu["dropout_rate"].notna().all() and cu["death"].notna().any()
    rows = with_truth(log.transactions[log.transactions[AMOUNT] > 0], log, "death")
    dead = rows["death"].notna()
    assert (rows.loc[dead, TIMESTAMP] < rows.loc[dead, "death"]).all()
    assert log.alive is not None and 0.3 < log.alive.mean() < 0.95


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"declining_half_life_days": 0}, r"'declining_half_life_days' must be > 0, got 0"),
        (
            {"declining_half_life_days": float("nan")},
            r"'declining_half_life_days' must be finite, got nan",
        ),
        ({"high_value_rate_multiplier": -1}, r"'high_value_rate_multiplier' must be > 0, got -1"),
        (
            {"high_value_spend_multiplier": "5"},
            r"'high_value_spend_multiplier' must be a number, got '5'",
        ),
        ({"segment_shares": {"regular": 0.5, "declining": 0.6}}, r"must sum to 1, got 1.1"),
        (
            {"segment_shares": {"high_value": 1.5}},
            r"segment_shares\['high_value'\]\" must be >= 0 and <= 1, got 1.5",
        ),
    ],
)
def test_bad_new_segment_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        simulate(100, 0, **kwargs)  # type: ignore[arg-type]
