"""plan_retention on hand-built customers: one test per action and rule."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd
import pytest

import churnmodel
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import customer_features, season_calendar
from churnmodel.planning import RetentionPolicy, plan_retention, stage_actions, validate_contacts
from churnmodel.schemas import PLAN_COLUMNS

AS_OF = date(2025, 6, 30)


def score(
    cid: str,
    stage: str,
    *,
    p_churn: float = 0.5,
    p_alive: float = 0.9,
    clv: float = 100.0,
    purchases: float = 1.0,
    spend: float = 50.0,
) -> dict:
    return {
        "customer_id": cid,
        "as_of": pd.Timestamp(AS_OF),
        "p_churn": p_churn,
        "p_alive": p_alive,
        "expected_purchases": purchases,
        "expected_spend": spend,
        "clv": clv,
        "value_at_risk": clv * p_churn,
        "lifecycle_stage": stage,
        "horizon_days": 90.0,
    }


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def by_id(plan: pd.DataFrame) -> pd.DataFrame:
    return plan.set_index("customer_id")


def generous() -> RetentionPolicy:
    """Every stage converts half of its persuadable customers: values well above costs."""
    return RetentionPolicy(response_rates={s: 0.5 for s in RetentionPolicy().response_rates})


def test_public_api_and_columns() -> None:
    assert churnmodel.plan_retention is plan_retention
    plan = plan_retention(frame(score("A", "new")), generous())
    assert tuple(plan.columns) == PLAN_COLUMNS
    assert plan.attrs["totals"]["customers"] == 1


def test_each_stage_gets_its_action() -> None:
    scores = frame(
        score("new", "new"),
        score("active", "active", p_churn=0.5),
        score("loyal", "loyal", p_churn=0.5),
        score("short", "lapsed_short", p_churn=0.7),
        score("long", "lapsed_long", p_churn=0.8),
        score("inactive", "inactive", p_churn=0.95, p_alive=0.9),
    )
    plan = by_id(plan_retention(scores, generous().model_copy(update={"reward_top_share": 0.0})))
    assert plan.loc["new", "action"] == "nurture"
    assert plan.loc["active", "action"] == "retain"
    assert plan.loc["loyal", "action"] == "retain"
    for cid in ("short", "long", "inactive"):
        assert plan.loc[cid, "action"] == "win_back", plan.loc[cid, "reason"]
    assert (plan["contact_date"] == pd.Timestamp("2025-07-01")).all()
    assert (plan["response_source"] == "assumed").all()
    assert (plan["reason"].str.len() > 0).all()


def test_reward_goes_to_the_most_valuable_loyal_customers() -> None:
    scores = frame(
        score("top", "loyal", clv=5_000.0, p_churn=0.06, p_alive=0.99, spend=2_000.0),
        score("loyal", "loyal", clv=100.0, p_churn=0.5),
        *[score(f"x{i}", "active", clv=50.0, p_churn=0.5) for i in range(18)],
    )
    plan = by_id(plan_retention(scores, generous().model_copy(update={"reward_top_share": 0.05})))
    assert plan.loc["top", "action"] == "reward"
    assert "top 5%" in plan.loc["top", "reason"]
    assert plan.loc["loyal", "action"] == "retain"
    # a reward is still a contact: with nothing to gain (p_alive + p_churn <= 1) it is not sent
    idle = frame(score("top", "loyal", clv=5_000.0, p_churn=0.06, p_alive=0.9))
    assert plan_retention(idle, generous())["action"].iloc[0] == "do_not_contact"


def test_on_rhythm_customers_are_left_alone() -> None:
    plan = by_id(
        plan_retention(
            frame(score("calm", "active", p_churn=0.1), score("rising", "active", p_churn=0.4)),
            generous(),
        )
    )
    assert plan.loc["calm", "action"] == "do_not_contact"
    assert "on rhythm" in plan.loc["calm", "reason"]
    assert plan.loc["rising", "action"] == "retain"


class _StubPersuadable:
    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        ones = np.ones(len(features))
        return pd.DataFrame(
            {"p_no_purchase_long": 0.1 * ones, "p_persuadable": 0.5 * ones}, index=features.index
        )


class _StubResponse:
    """A measured response of retain only: 'keen' customers respond, the others barely."""

    actions_ = ("retain",)
    persuadable_ = _StubPersuadable()

    def predict(self, action: str, design: pd.DataFrame) -> pd.DataFrame:
        assert action == "retain"
        rate = np.where(design.index.str.startswith("keen"), 0.5, 0.001)
        return pd.DataFrame({"uplift_purchase": rate, "uplift_spend": rate * 40.0}, design.index)


def test_a_measured_retain_response_decides_instead_of_the_p_churn_threshold() -> None:
    days = pd.date_range("2025-01-10", "2025-06-10", freq="MS") + pd.Timedelta(days=9)
    ids = ("keen_calm", "dull_calm", "dull_rising")
    tx = pd.DataFrame(
        [(cid, day, 40.0) for cid in ids for day in days],
        columns=["customer_id", "timestamp", "amount"],
    )
    features = customer_features(tx, AS_OF)
    assert set(features["lifecycle_stage"]) == {"active"}
    scores = frame(
        score("keen_calm", "active", p_churn=0.1),
        score("dull_calm", "active", p_churn=0.1),
        score("dull_rising", "active", p_churn=0.6),
    )
    policy = RetentionPolicy(reward_top_share=0.0)
    measured = by_id(
        plan_retention(scores, policy, features=features, response=_StubResponse())  # type: ignore[arg-type]
    )
    # 0.5 x order value 40 = 20 >= cost 2: contacted though p_churn is below the threshold
    assert measured.loc["keen_calm", "action"] == "retain"
    assert measured.loc["keen_calm", "response_source"] == "measured"
    assert "measured response pays" in measured.loc["keen_calm", "reason"]
    assert measured.loc["keen_calm", "expected_incremental_value"] == pytest.approx(20.0)
    # 0.001 x 40 = 0.04 < 2: not contacted, whether its p_churn is high or low
    for cid in ("dull_calm", "dull_rising"):
        assert measured.loc[cid, "action"] == "do_not_contact"
        assert "below the cost 2.00 of retain" in measured.loc[cid, "reason"]
    # without a measured response the threshold decides
    assumed = by_id(plan_retention(scores, generous(), features=features))
    assert assumed.loc["keen_calm", "action"] == "do_not_contact"
    assert "on rhythm" in assumed.loc["keen_calm", "reason"]
    assert assumed.loc["dull_rising", "action"] == "retain"


def test_expected_value_below_cost_is_do_not_contact() -> None:
    # persuadable = p_alive + p_churn - 1 = 0.05: 0.1 * 0.05 * 50 = 0.25 < cost 3 of win_back
    scores = frame(
        score("poor", "lapsed_long", p_churn=0.95, p_alive=0.1, spend=50.0),
        score("rich", "lapsed_long", p_churn=0.8, p_alive=0.9, spend=5_000.0),
    )
    plan = by_id(plan_retention(scores, RetentionPolicy()))
    assert plan.loc["poor", "action"] == "do_not_contact"
    assert "below the cost 3.00 of win_back" in plan.loc["poor", "reason"]
    assert plan.loc["poor", "cost"] == 0 and plan.loc["poor", "expected_incremental_value"] == 0
    assert pd.isna(plan.loc["poor", "contact_date"])
    assert plan.loc["rich", "action"] == "win_back"
    expected = 0.06 * (0.9 + 0.8 - 1.0) * 5_000.0
    assert plan.loc["rich", "expected_incremental_value"] == pytest.approx(expected)
    assert plan.loc["rich", "expected_net_value"] == pytest.approx(expected - 3.0)


def test_budget_is_never_exceeded_and_goes_to_the_best_value_per_cost() -> None:
    rng = np.random.default_rng(0)
    stages = rng.choice(["new", "active", "lapsed_short", "lapsed_long", "inactive"], 300)
    scores = frame(
        *[
            score(f"c{i}", s, p_churn=0.8, p_alive=0.9, spend=float(rng.gamma(2, 200)))
            for i, s in enumerate(stages)
        ]
    )
    unlimited = plan_retention(scores, generous())
    for budget in (0.0, 1.0, 37.5, 100.0, 250.0):
        plan = plan_retention(scores, generous().model_copy(update={"budget": budget}))
        assert plan["cost"].sum() <= budget + 1e-9
        assert plan.attrs["totals"]["budget_left"] >= -1e-9
        contacted = plan[plan["priority"] > 0]
        assert list(contacted["priority"]) == list(range(1, len(contacted) + 1))
        skipped = plan[(plan["action"] == "do_not_contact") & plan["reason"].str.contains("budget")]
        if len(skipped) and len(contacted):
            ratio = contacted["expected_net_value"] / contacted["cost"]
            assert len(contacted) < (unlimited["priority"] > 0).sum()
            assert ratio.iloc[0] >= ratio.iloc[-1]
    assert plan_retention(scores, generous().model_copy(update={"budget": 0.0}))["cost"].sum() == 0


def seasonal_log() -> pd.DataFrame:
    """Snow boots: four purchases each winter (late Nov .. mid Dec) of 2022, 2023, 2024."""
    days = [f"{y}-{md}" for y in (2022, 2023, 2024) for md in ("11-20", "11-28", "12-05", "12-12")]
    rows = [("S", d, 80.0) for d in days]
    # a steady customer buying every month
    rows += [
        ("R", str(d.date()), 30.0) for d in pd.date_range("2023-01-15", "2025-06-15", freq="MS")
    ]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"])
    )


def test_seasonal_customers_are_contacted_shortly_before_their_own_season() -> None:
    tx = seasonal_log()
    features = customer_features(tx, AS_OF)
    seasons = season_calendar(tx, AS_OF)
    assert features.loc["S", "lifecycle_stage"] == "lapsed_seasonal"
    scores = frame(
        score("S", "lapsed_seasonal", p_churn=0.9, p_alive=0.9, spend=80.0),
        score("R", "active", p_churn=0.5),
    )
    policy = generous()
    plan = by_id(plan_retention(scores, policy, features=features, seasons=seasons))
    row = plan.loc["S"]
    assert row["action"] == "seasonal_reminder"
    # the season runs from about 19 November (peak ~ 2 Dec); contact 21 days before its start
    season_start = pd.Timestamp("2025-11-19")
    contact = row["contact_date"]
    assert season_start - pd.Timedelta(days=35) <= contact < season_start, row["reason"]
    assert contact.month in (10, 11)  # not a win-back in July
    assert "own season starts" in row["reason"]


def test_a_lapsed_seasonal_customer_who_missed_a_season_is_won_back_before_the_next() -> None:
    tx = seasonal_log()
    tx = tx[tx["timestamp"] < "2024-01-01"]  # silent through the 2024 season
    as_of = date(2025, 6, 30)
    features = customer_features(tx, as_of)
    seasons = season_calendar(tx, as_of)
    assert features.loc["S", "lifecycle_stage"] in {"lapsed_long", "inactive", "lapsed_short"}
    scores = frame(
        score("S", str(features.loc["S", "lifecycle_stage"]), p_churn=0.9, p_alive=0.9, spend=800.0)
    )
    plan = by_id(plan_retention(scores, generous(), features=features, seasons=seasons))
    assert plan.loc["S", "action"] == "win_back"
    assert plan.loc["S", "contact_date"].month in (10, 11)


def test_seasonal_customers_without_the_log_are_not_contacted_and_the_plan_says_why() -> None:
    with pytest.warns(UserWarning, match="no known season"):
        plan = by_id(plan_retention(frame(score("S", "lapsed_seasonal")), generous()))
    assert plan.loc["S", "action"] == "do_not_contact"
    assert "season is unknown" in plan.loc["S", "reason"]


def test_nurture_waits_for_the_days_after_the_first_purchase() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["N"], "timestamp": pd.to_datetime(["2025-06-25"]), "amount": [40.0]}
    )
    features = customer_features(tx, AS_OF)
    plan = by_id(plan_retention(frame(score("N", "new")), generous(), features=features))
    assert plan.loc["N", "contact_date"] == pd.Timestamp("2025-07-09")  # 25 June + 14 days


def contacts_frame(rows: list[tuple[str, str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "contact_date", "action", "control"])


def test_contact_cap_holds() -> None:
    scores = frame(
        score("twice", "lapsed_short", p_churn=0.8, spend=500.0),
        score("once", "lapsed_short", p_churn=0.8, spend=500.0),
        score("held_out", "lapsed_short", p_churn=0.8, spend=500.0),
        score("long_ago", "lapsed_short", p_churn=0.8, spend=500.0),
    )
    log = contacts_frame(
        [
            ("twice", "2025-05-01", "win_back", False),
            ("twice", "2025-06-01", "retain", False),
            ("once", "2025-06-01", "retain", False),
            ("held_out", "2025-05-01", "win_back", True),
            ("held_out", "2025-06-01", "retain", True),
            ("long_ago", "2025-01-01", "win_back", False),
            ("long_ago", "2025-02-01", "win_back", False),
        ]
    )
    contacts = validate_contacts(
        log, customers=scores["customer_id"], first_date=date(2024, 1, 1), last_date=AS_OF
    )
    policy = generous().model_copy(update={"max_contacts": 2, "contact_window_days": 90})
    plan = by_id(plan_retention(scores, policy, contacts=contacts))
    assert plan.loc["twice", "action"] == "do_not_contact"
    assert "contacted 2 time(s) in the 90 days" in plan.loc["twice", "reason"]
    assert plan.loc["once", "action"] == "win_back"
    assert plan.loc["held_out", "action"] == "win_back"  # control rows were not contacted
    assert plan.loc["long_ago", "action"] == "win_back"
    # the cap, checked on the plan: planned + earlier contacts within the window <= cap
    sent = contacts[~contacts["control"]]
    for cid, row in plan[plan["priority"] > 0].iterrows():
        start = row["contact_date"] - pd.Timedelta(days=90)
        earlier = sent[(sent["customer_id"] == cid) & (sent["contact_date"] > start)]
        assert len(earlier) + 1 <= 2


def test_stage_actions_give_everyone_their_stage_action() -> None:
    scores = frame(score("calm", "active", p_churn=0.01), score("n", "new"))
    actions = stage_actions(scores, RetentionPolicy()).set_index("customer_id")
    assert actions.loc["calm", "action"] == "retain"
    assert actions.loc["n", "action"] == "nurture"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.drop(columns="p_churn"), "lack column"),
        (lambda f: pd.concat([f, f]), "repeat a customer_id"),
        (lambda f: f.assign(p_churn=1.5), "p_churn outside"),
        (lambda f: f.assign(lifecycle_stage="gone"), "unknown lifecycle_stage"),
        (lambda f: f.assign(clv=-1.0), "negative or missing clv"),
    ],
)
def test_bad_scores_are_refused_with_the_rows(change, match) -> None:
    with pytest.raises(DataValidationError, match=match):
        plan_retention(change(frame(score("A", "new"))), RetentionPolicy())


def test_policy_is_validated_with_the_field_named() -> None:
    with pytest.raises(ConfigError, match="costs"):
        RetentionPolicy.from_values({"costs": {"win_back": -1}})
    with pytest.raises(ConfigError, match="budget"):
        RetentionPolicy.from_values(budget=-5)
    with pytest.raises(ConfigError, match="unknown stage"):
        RetentionPolicy.from_values({"response_rates": {"sleepy": 0.1}})
    policy = RetentionPolicy.from_values({"costs": {"win_back": 4.0}})
    assert policy.cost("win_back") == 4.0 and policy.cost("retain") == 2.0
    assert policy.cost("do_not_contact") == 0.0


def test_a_plan_makes_no_warnings_on_clean_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan_retention(frame(score("A", "active", p_churn=0.5)), RetentionPolicy())
