from __future__ import annotations

import pandas as pd
import pytest

from churnmodel import ConfigError, DataValidationError
from churnmodel.features import LifecycleRules, customer_features

AS_OF = pd.Timestamp("2024-06-30")


def _customer(cid: str, days_before: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": cid,
            "timestamp": [AS_OF - pd.Timedelta(days=d) for d in days_before],
            "amount": 20.0,
        }
    )


@pytest.fixture()
def stages() -> pd.Series:
    log = pd.concat(
        [
            _customer("new", [10]),
            # Monthly buyer, last purchase 20 days ago: on rhythm, short tenure.
            _customer("active", [20, 50, 80]),
            # Monthly buyer for two years, on rhythm.
            _customer("loyal", [15, 45, 75, 105, 135, 400, 700]),
            # Monthly buyer silent for 2x their gap.
            _customer("lapsed_short", [60, 90, 120, 150]),
            # Monthly buyer silent for 4x their gap.
            _customer("lapsed_long", [120, 150, 180, 210]),
            # Monthly buyer silent for a year.
            _customer("inactive", [365, 395, 425]),
            # Bought only in the coming season last year (days 300..330 before = July-August 2023),
            # then nothing since: lapsed by their gap, but the season is about to come round.
            _customer("lapsed_seasonal", [300, 310, 320, 330, 665, 675]),
            # A weekly buyer overdue after four weeks (relative, not a fixed number of days).
            _customer("weekly_overdue", [28, 35, 42, 49, 56]),
            # A one-time buyer long ago: judged against the population's typical gap.
            _customer("one_time_old", [400]),
        ]
    )
    f = customer_features(log, AS_OF)
    return f["lifecycle_stage"].astype(str)


@pytest.mark.parametrize(
    "cid", ["new", "active", "loyal", "lapsed_short", "lapsed_long", "inactive", "lapsed_seasonal"]
)
def test_stage_rules_on_hand_built_customers(stages: pd.Series, cid: str) -> None:
    assert stages[cid] == cid


def test_lapse_is_relative_to_the_customers_own_rhythm(stages: pd.Series) -> None:
    # 28 days without a purchase: overdue for a weekly buyer (gap floored at 14 days) ...
    assert stages["weekly_overdue"] in {"lapsed_short", "lapsed_long"}
    # ... while a monthly buyer 20 days after their last purchase.
    assert stages["active"] == "active"
    assert stages["one_time_old"] == "inactive"


def test_rules_are_validated() -> None:
    with pytest.raises(ConfigError, match="lapse_ratio"):
        LifecycleRules(lapse_ratio=4.0).validate()


def test_frozen_rules_keep_the_cutoffs_default_gap() -> None:
    # Repeat buyers with mean gaps 30, 60 and 90 days: the median, 60, becomes the default.
    log = pd.concat(
        [
            _customer("a", [10, 40, 70]),
            _customer("b", [10, 70, 130]),
            _customer("c", [10, 100]),
            _customer("one_time", [100]),
        ]
    )
    features = customer_features(log, AS_OF)
    frozen = LifecycleRules().frozen_at(features)
    assert frozen.default_gap_days == pytest.approx(60.0)
    assert frozen.frozen_at(features.iloc[:0]) is frozen  # already fixed: kept
    # Alone, the one-time buyer (100 days since) would be judged by the 90-day fallback
    # ("lapsed_short" needs > 1.5 gaps); with the frozen 60 days they are 1.7 gaps overdue.
    alone = log[log["customer_id"] == "one_time"]
    assert customer_features(alone, AS_OF)["lifecycle_stage"].iloc[0] == "new"
    stage = customer_features(alone, AS_OF, rules=frozen)["lifecycle_stage"].iloc[0]
    assert stage == customer_features(log, AS_OF).loc["one_time", "lifecycle_stage"]
    assert stage == "lapsed_short"
    # Floored at min_gap_days like every typical gap; no repeat buyers: the fallback.
    assert LifecycleRules(min_gap_days=100.0).frozen_at(features).default_gap_days == 100.0
    only_one_time = customer_features(alone, AS_OF)
    assert LifecycleRules().frozen_at(only_one_time).default_gap_days == 90.0
    with pytest.raises(DataValidationError, match="gap_mean_days"):
        LifecycleRules().frozen_at(features.drop(columns="gap_mean_days"))
