"""A change of regime applied to a simulated log: fewer purchases, earlier dropouts."""

from __future__ import annotations

import pandas as pd
import pytest

from churnmodel.datasets import SimulatedLog, change_regime, simulate
from churnmodel.exceptions import ConfigError

DAY = "2023-06-30"
AFTER = pd.Timestamp("2023-07-01")


@pytest.fixture(scope="module")
def log() -> SimulatedLog:
    return simulate(3_000, seed=5, start="2021-01-01", end="2023-12-31", cutoff="2023-09-30")


def test_no_change_gives_the_same_log(log: SimulatedLog) -> None:
    same = change_regime(log, day=DAY)
    pd.testing.assert_frame_equal(same.transactions, log.transactions)
    pd.testing.assert_series_equal(same.customers["death"], log.customers["death"])


def test_the_past_is_kept_and_the_future_thinned(log: SimulatedLog) -> None:
    new = change_regime(log, day=DAY, purchase_rate_factor=0.5, dropout_rate_factor=3.0)
    old_tx, new_tx = log.transactions, new.transactions
    before = old_tx[old_tx["timestamp"] < AFTER].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        new_tx[new_tx["timestamp"] < AFTER].reset_index(drop=True), before
    )
    # rows are only removed, ids and order kept
    assert set(new_tx["order_id"]) <= set(old_tx["order_id"])
    assert new_tx["timestamp"].is_monotonic_increasing
    repeat_old = (old_tx["timestamp"] >= AFTER) & old_tx["order_id"].str.startswith("O")
    repeat_new = (new_tx["timestamp"] >= AFTER) & new_tx["order_id"].str.startswith("O")
    assert repeat_new.sum() < 0.5 * repeat_old.sum()
    # nobody alive before the change is resurrected, and deaths come no later than before
    old, changed = log.customers["death"], new.customers["death"]
    both = old.notna() & changed.notna()
    assert (changed[both] <= old[both]).all()
    assert changed.isna().sum() < old.isna().sum()
    assert (changed[old < AFTER] == old[old < AFTER]).all()
    # no purchase after a customer's new dropout (refunds may follow it, as in the simulator)
    bought = new_tx[new_tx["order_id"].str.startswith("O")]
    death = changed.reindex(bought["customer_id"]).to_numpy()
    late = pd.notna(death) & (bought["timestamp"].to_numpy() >= death)
    assert not late.any()
    assert new.params["regime_change"]["purchase_rate_factor"] == 0.5
    assert new.alive is not None and new.alive.sum() < log.alive.sum()  # type: ignore[union-attr]


def test_first_purchases_are_kept(log: SimulatedLog) -> None:
    new = change_regime(log, day=DAY, purchase_rate_factor=0.1)
    acquired = log.customers.index[log.customers["first_purchase"] >= AFTER]
    assert set(acquired) <= set(new.transactions["customer_id"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"day": "2020-01-01"}, "'day' must be within"),
        ({"day": "2023-12-31"}, "'day' must be within"),
        ({"day": DAY, "purchase_rate_factor": 1.5}, "'purchase_rate_factor'"),
        ({"day": DAY, "purchase_rate_factor": 0}, "'purchase_rate_factor'"),
        ({"day": DAY, "dropout_rate_factor": 0.5}, "'dropout_rate_factor'"),
    ],
)
def test_bad_arguments_name_the_argument(
    log: SimulatedLog, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        change_regime(log, **kwargs)
