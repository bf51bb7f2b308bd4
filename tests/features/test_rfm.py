from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnmodel.features import PurchaseRule, customer_features, rfm_summary
from tests.conftest import random_log


def _lifetimes_summary_file() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    return folder / "cdnow_customers_summary_with_transactions.csv"


def test_cdnow_sample_summary_is_reproduced_from_the_raw_file(cdnow_sample: pd.DataFrame) -> None:
    published = pd.read_csv(_lifetimes_summary_file(), dtype={"ID": str}).set_index("ID")
    ours = rfm_summary(cdnow_sample, "1997-09-30", "W")  # the default rule counts $0 orders
    assert len(ours) == len(published) == 2357
    ours = ours.reindex(published.index)
    assert (ours["frequency"] == published["x"]).all()
    # The published file rounds to 2 decimals.
    np.testing.assert_allclose(ours["recency"], published["t_x"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(ours["T"], published["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(ours["monetary_value"], published["zbar"], atol=0.005 + 1e-9)
    assert int((published["x"] > 0).sum()) == 946
    assert ours.attrs["time_unit"] == "W"


def test_zero_dollar_orders_are_purchases_unless_the_rule_says_otherwise(
    cdnow_sample: pd.DataFrame,
) -> None:
    default = rfm_summary(cdnow_sample, "1997-09-30", "W")
    old = rfm_summary(
        cdnow_sample, "1997-09-30", "W", purchase=PurchaseRule(free_orders_are_purchases=False)
    )
    assert len(default) == 2357
    assert len(old) == 2357 - 8  # 8 customers whose only calibration orders cost $0


def test_a_zero_dollar_first_order_starts_the_customer() -> None:
    from churnmodel.datasets import load_cdnow

    master = load_cdnow()
    assert isinstance(master, pd.DataFrame)
    default = rfm_summary(master, "1997-09-30", "W")
    old_rule = PurchaseRule(free_orders_are_purchases=False)
    old = rfm_summary(master, "1997-09-30", "W", purchase=old_rule)
    assert (len(default), len(old)) == (23_570, 23_500)
    # Customer 02703's first order (1997-01-11) cost $0: the old rule started them at their
    # second order, four weeks later, as a one-time buyer.
    assert default.loc["02703", ["frequency", "T"]].tolist() == pytest.approx([1, 262 / 7])
    assert old.loc["02703", ["frequency", "T"]].tolist() == pytest.approx([0, 233 / 7])


def test_rfm_equals_lifetimes_with_zero_dollar_orders(cdnow_sample: pd.DataFrame) -> None:
    from lifetimes.utils import summary_data_from_transaction_data

    log = cdnow_sample.loc[cdnow_sample["timestamp"] <= "1997-09-30"]
    assert (log["amount"] == 0).sum() > 0
    ours = rfm_summary(log, "1997-09-30", "D")
    ref = summary_data_from_transaction_data(
        log,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end="1997-09-30",
        freq="D",
    )
    ref.index = ref.index.astype(str)
    ref = ref.reindex(ours.index)
    assert len(ours) == len(ref) == 2357
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, atol=1e-9, err_msg=col)


@pytest.mark.parametrize(("time_unit", "multiplier"), [("D", 1), ("W", 7)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rfm_equals_lifetimes_on_random_logs(time_unit: str, multiplier: int, seed: int) -> None:
    from lifetimes.utils import summary_data_from_transaction_data

    log = random_log(seed=seed)
    as_of = "2021-03-31"
    ours = rfm_summary(log, as_of, time_unit)
    ref = summary_data_from_transaction_data(
        log,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=as_of,
        freq="D",
        freq_multiplier=multiplier,
    )
    ref.index = ref.index.astype(str)
    ref = ref.sort_index()
    assert ours.index.tolist() == ref.index.tolist()
    assert (ours["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    for col in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, atol=1e-9)


def test_returns_are_netted_into_the_customer_day() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a"] * 5,
            "timestamp": pd.to_datetime(
                ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-10", "2024-01-20", "2024-01-20"],
                format="ISO8601",
            ),
            "amount": [50.0, -20.0, 30.0, 10.0, -10.0],
        }
    )
    f = customer_features(log, "2024-01-31")
    row = f.loc["a"]
    assert row["frequency"] == 1  # Jan 20 nets to 0 by a return: not a purchase
    assert row["recency"] == 9 and row["T"] == 30
    assert row["monetary_value"] == 30.0
    assert row["first_purchase_spend"] == 30.0  # 50 - 20 on Jan 1
    assert row["return_share"] == pytest.approx(30.0 / 90.0)
    free = pd.DataFrame(
        {"customer_id": ["a"], "timestamp": [pd.Timestamp("2024-01-25")], "amount": [0.0]}
    )
    with_free = pd.concat([log, free], ignore_index=True)
    assert customer_features(with_free, "2024-01-31").loc["a", "frequency"] == 2  # a $0 order
    old = PurchaseRule(free_orders_are_purchases=False)
    assert customer_features(with_free, "2024-01-31", purchase=old).loc["a", "frequency"] == 1
    any_zero = PurchaseRule(zero_net_is_purchase=True)  # Jan 20 too
    assert customer_features(with_free, "2024-01-31", purchase=any_zero).loc["a", "frequency"] == 3


def test_customers_with_returns_only_are_left_out_and_counted() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "amount": [10.0, -5.0],
        }
    )
    f = customer_features(log, "2024-01-31")
    assert f.index.tolist() == ["a"]
    assert f.attrs["customers_without_purchase"] == 1


def test_features_do_not_leak_from_after_the_cutoff() -> None:
    log = random_log(n_rows=8_000, seed=3)
    cutoff = pd.Timestamp("2020-11-15")
    full = customer_features(log, cutoff)
    truncated = customer_features(log.loc[log["timestamp"] < cutoff + pd.Timedelta(days=1)], cutoff)
    pd.testing.assert_frame_equal(full, truncated)
    first_seen = log.groupby("customer_id")["timestamp"].min()
    assert set(full.index) == set(first_seen[first_seen.dt.date <= cutoff.date()].index)


def test_behaviour_windows_on_a_hand_built_customer() -> None:
    days = ["2023-01-10", "2023-04-05", "2023-12-01", "2024-02-15", "2024-03-20"]
    log = pd.DataFrame(
        {
            "customer_id": ["c"] * 5,
            "timestamp": pd.to_datetime(days),
            "amount": [10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    f = customer_features(log, "2024-03-31").loc["c"]
    assert f["purchases_30d"] == 1 and f["spend_30d"] == 50.0
    assert f["purchases_90d"] == 2 and f["spend_90d"] == 90.0
    assert f["purchases_365d"] == 4  # window (2023-04-01, 2024-03-31]
    assert f["spend_trend"] == pytest.approx((90.0 - 30.0) / 120.0)
    # One year earlier the customer bought on 2023-04-05, within the 90 days that followed.
    assert f["purchases_season_last_year"] == 1
    gaps = np.diff(pd.to_datetime(days).to_numpy()).astype("timedelta64[D]").astype(float)
    assert f["gap_mean_days"] == pytest.approx(gaps.mean())
    assert f["gap_std_days"] == pytest.approx(gaps.std(ddof=1))
    assert (
        f["days_since_last"] == 11
        and f["tenure_days"] == (pd.Timestamp("2024-03-31") - pd.Timestamp(days[0])).days
    )


purchase_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "0042"]),
        st.integers(min_value=0, max_value=400),
        st.floats(min_value=-50, max_value=500, allow_nan=False).map(lambda x: round(x, 2)),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=purchase_rows, as_of_day=st.integers(min_value=0, max_value=420), seed=st.integers(0, 1000)
)
def test_rfm_properties(rows: list[tuple[str, int, float]], as_of_day: int, seed: int) -> None:
    log = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    log["timestamp"] = pd.Timestamp("2022-01-01") + pd.to_timedelta(log.pop("day"), unit="D")
    as_of = pd.Timestamp("2022-01-01") + pd.Timedelta(days=as_of_day)
    f = customer_features(log, as_of)
    if len(f):
        assert (f["recency"] >= 0).all() and (f["recency"] <= f["T"]).all()
        assert (f["frequency"] < f["n_purchase_days"]).all()
        assert (f["frequency"] >= 0).all()
        assert (f["monetary_value"] >= 0).all()
        assert np.isfinite(f.select_dtypes("number").fillna(0)).all().all()
    known = log.loc[log["timestamp"] <= as_of, "customer_id"].nunique()
    assert len(f) + f.attrs["customers_without_purchase"] == known
    shuffled = customer_features(log.sample(frac=1.0, random_state=seed), as_of)
    pd.testing.assert_frame_equal(f, shuffled)


def test_rfm_summary_equals_the_rfm_columns_of_customer_features() -> None:
    log = random_log(seed=9)
    lean = rfm_summary(log, "2021-03-31", "W")
    full = customer_features(log, "2021-03-31", time_unit="W")
    # Same SQL expressions; float sums may be added in another order (1e-12 relative).
    pd.testing.assert_frame_equal(lean, full[list(lean.columns)], check_exact=False, rtol=1e-12)
    assert (lean["frequency"] == full["frequency"]).all()
    assert lean.attrs["time_unit"] == "W" and lean.attrs["as_of"] == "2021-03-31"


@pytest.mark.parametrize("loaded", [False, True])
def test_customers_aggregated_in_parts_give_the_same_features(
    loaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large log is aggregated in parts (by a hash of the customer id): every part holds
    # whole customers, so the features are those of one aggregation, in the same order.
    from churnmodel.features import customer
    from churnmodel.io import connect, load_transactions

    log = random_log(n_rows=20_000, seed=4)

    def inputs() -> object:
        return load_transactions(connect(), log)[0] if loaded else log

    whole = customer_features(inputs(), "2021-03-31")  # type: ignore[arg-type]
    whole_rfm = rfm_summary(inputs(), "2021-03-31")  # type: ignore[arg-type]
    assert customer.customer_parts(len(log), frame=not loaded, rfm_only=False) == 1
    monkeypatch.setattr(customer, "ROWS_PER_PART", dict.fromkeys(customer.ROWS_PER_PART, 6_000))
    assert customer.customer_parts(len(log), frame=not loaded, rfm_only=True) == 4
    parts = customer_features(inputs(), "2021-03-31")  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(parts, whole)
    assert parts.attrs == whole.attrs
    pd.testing.assert_frame_equal(rfm_summary(inputs(), "2021-03-31"), whole_rfm)  # type: ignore[arg-type]


def test_gaps_are_right_when_customer_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gap window is partitioned by a hash of the customer id; when two customers share
    # one, the features are computed again partitioned by the id.
    from churnmodel.features import queries

    log = random_log(n_rows=20_000, seed=5)
    expected = customer_features(log, "2021-03-31")
    monkeypatch.setattr(queries, "_customer_key_sql", lambda: "hash(customer_id) % 3")
    got = customer_features(log, "2021-03-31")
    pd.testing.assert_frame_equal(got, expected)
    assert got["gap_std_days"].notna().sum() > 100
