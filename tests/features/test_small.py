"""Engine parity: the NumPy aggregate for small frames equals the DuckDB feature SQL.

"Equal" as for the Spark engine: counts, day differences, dates and ids exactly; sums and
means within 1e-12 relative (the engines add in different orders).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnmodel.datasets import simulate
from churnmodel.features import PurchaseRule, customer_features, rfm_summary
from churnmodel.features.customer import _aggregate
from churnmodel.features.engine import DuckDBEngine
from churnmodel.features.queries import FeatureWindows, ledger_sql
from churnmodel.features.small import SMALL_FRAME_ROWS, aggregate_frame, fits_small_engine

AS_OF = date(2023, 6, 30)


def _duckdb(
    tx: pd.DataFrame,
    as_of: date,
    purchase: PurchaseRule,
    rfm_only: bool,
    windows: FeatureWindows = FeatureWindows(),
) -> tuple[pd.DataFrame, int]:
    engine, table = DuckDBEngine.for_transactions(tx)
    ledger = engine.view(ledger_sql(table), prefix="ledger")
    return _aggregate(
        tx,
        as_of,
        purchase=purchase,
        windows=windows,
        rfm_only=rfm_only,
        ledger=ledger,
        engine=engine,
    )


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for col in expected.columns:
        e, g = expected[col], got[col]
        assert g.dtype == e.dtype, col
        if pd.api.types.is_float_dtype(e):
            np.testing.assert_allclose(
                g.to_numpy(), e.to_numpy(), rtol=1e-12, atol=1e-9, err_msg=col
            )
        else:
            assert (g.to_numpy() == e.to_numpy()).all(), col


def _log(seed: int, n_rows: int) -> pd.DataFrame:
    """Few customers, many same-day rows, returns, zero-net days and rows after the cut-off."""
    rng = np.random.default_rng(seed)
    ids = rng.choice([f"C{i:03d}" for i in range(25)] + ["0042", "ü-7", "a b"], n_rows)
    day = AS_OF - timedelta(days=800)
    offsets = rng.integers(0, 900, n_rows)
    amounts = np.round(rng.gamma(2.0, 20.0, n_rows), 2)
    returns = rng.random(n_rows) < 0.15
    amounts[returns] = -amounts[returns]
    amounts[rng.random(n_rows) < 0.03] = 0.0
    tx = pd.DataFrame(
        {
            "customer_id": ids,
            "timestamp": pd.Timestamp(day) + pd.to_timedelta(offsets * 86_400 + 3_600, "s"),
            "amount": amounts,
        }
    )
    # A zero-net day: a purchase and its return on the same day.
    pair = pd.DataFrame(
        {
            "customer_id": ["Z1", "Z1", "Z1"],
            "timestamp": pd.to_datetime(
                ["2023-01-02 09:00", "2023-01-02 17:00", "2023-02-01 00:00"]
            ),
            "amount": [30.0, -30.0, 12.0],
        }
    )
    return pd.concat([tx, pair], ignore_index=True)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rfm_only", [False, True])
def test_numpy_aggregate_equals_the_sql_on_random_logs(seed: int, rfm_only: bool) -> None:
    tx = _log(seed, 300 + 200 * seed)
    # The season window follows the forecast horizon (up to a year).
    windows = FeatureWindows(season=(90, 184, 273, 365, 1, 30)[seed])
    rules = (
        PurchaseRule(),
        PurchaseRule(free_orders_are_purchases=False),
        PurchaseRule(zero_net_is_purchase=True),
    )
    for purchase in rules:
        got, got_none = aggregate_frame(
            tx, AS_OF, purchase=purchase, rfm_only=rfm_only, windows=windows
        )
        expected, none = _duckdb(tx, AS_OF, purchase, rfm_only, windows)
        assert_same(got, expected)
        assert got_none == none


def test_customer_features_are_the_same_by_either_engine() -> None:
    tx = simulate(n_customers=300, seed=5).transactions
    assert fits_small_engine(tx)
    as_of = tx["timestamp"].max().date() - timedelta(days=60)
    engine, table = DuckDBEngine.for_transactions(tx)
    ledger = engine.view(ledger_sql(table), prefix="ledger")
    by_sql = customer_features(tx, as_of, ledger=ledger, engine=engine)
    small = customer_features(tx, as_of)
    assert small.index.equals(by_sql.index)
    assert_same(small.reset_index(), by_sql.reset_index())
    assert small.attrs == by_sql.attrs


@pytest.mark.parametrize("small", [True, False])
def test_the_returned_frames_are_the_callers_to_edit(small: bool) -> None:
    # The frames share the engine's columns without a copy where they can; a read-only view
    # leaking out would make ``feats.loc[c, col] = x`` fail in the user's notebook.
    tx = simulate(n_customers=600, seed=3).transactions
    tx = tx.iloc[: SMALL_FRAME_ROWS // 2] if small else tx
    assert fits_small_engine(tx) == small
    as_of = tx["timestamp"].max().date() - timedelta(days=30)
    for frame in (customer_features(tx, as_of), rfm_summary(tx, as_of)):
        first = frame.index[0]
        for col in frame.columns:
            value = frame[col].dropna().iloc[-1]
            frame.loc[first, col] = value
            assert frame.loc[first, col] == value, col


def test_ids_and_time_zones_read_as_duckdb_reads_them() -> None:
    stamps = pd.to_datetime(["2023-03-01 23:30", "2023-03-02 00:30", "2023-05-01 12:00"])
    tx = pd.DataFrame(
        {
            "customer_id": [7, 7, 12],
            "timestamp": stamps.tz_localize("America/New_York"),  # past midnight in UTC
            "amount": [10.0, 5.0, 8.0],
        }
    )
    assert fits_small_engine(tx)
    got, _ = aggregate_frame(tx, AS_OF)
    assert_same(got, _duckdb(tx, AS_OF, PurchaseRule(), False)[0])
    assert list(got["customer_id"]) == ["12", "7"]
    assert got.loc[got["customer_id"] == "7", "n_purchase_days"].item() == 1  # both UTC Mar 2
    # Float or mixed ids, and large frames, go to DuckDB.
    assert not fits_small_engine(tx.assign(customer_id=[7.0, 7.0, 12.0]))
    assert not fits_small_engine(tx.assign(customer_id=["7", 7, "12"]))
    big = pd.concat([tx] * (SMALL_FRAME_ROWS // 3 + 1), ignore_index=True)
    assert not fits_small_engine(big)


def test_no_rows_on_or_before_the_cut_off() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["A"],
            "timestamp": pd.to_datetime(["2024-01-01"]),
            "amount": [10.0],
        }
    )
    got, none = aggregate_frame(tx, AS_OF)
    expected, expected_none = _duckdb(tx, AS_OF, PurchaseRule(), False)
    assert len(got) == 0 and none == expected_none == 0
    assert list(got.columns) == list(expected.columns)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 800),
            st.sampled_from([-20.0, -5.5, 0.0, 0.01, 5.5, 20.0, 99.99]),
        ),
        min_size=1,
        max_size=40,
    ),
    cut=st.integers(0, 1000),
    season=st.sampled_from([1, 90, 184, 365]),
)
def test_parity_on_arbitrary_small_logs(
    rows: list[tuple[str, int, float]], cut: int, season: int
) -> None:
    start = date(2022, 1, 1)
    tx = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    tx["timestamp"] = pd.Timestamp(start) + pd.to_timedelta(tx.pop("day"), "D")
    as_of = start + timedelta(days=cut)
    windows = FeatureWindows(season=season)
    got, got_none = aggregate_frame(tx, as_of, windows=windows)
    expected, none = _duckdb(tx, as_of, PurchaseRule(), False, windows)
    assert_same(got, expected)
    assert got_none == none
