"""Simulated campaigns: the default log is untouched, and the true effect is the documented one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.datasets import seasonal_retailer
from churnmodel.datasets.campaigns import (
    PUT_OFF,
    RESPONSE,
    Campaign,
    add_campaigns,
    monthly_campaigns,
)
from churnmodel.exceptions import ConfigError


@pytest.fixture(scope="module")
def scenario():
    return seasonal_retailer(3_000, seed=5)


@pytest.fixture(scope="module")
def campaigns(scenario):
    return add_campaigns(scenario, monthly_campaigns("2024-01-01", "2025-03-01"), seed=5)


def test_the_scenario_itself_is_not_changed(scenario) -> None:
    before = scenario.transactions.copy()
    add_campaigns(scenario, [Campaign("2024-06-01", "win_back")], seed=1)
    pd.testing.assert_frame_equal(scenario.transactions, before)
    again = seasonal_retailer(3_000, seed=5)
    pd.testing.assert_frame_equal(again.transactions, before)


def test_contacts_and_control_group(campaigns, scenario) -> None:
    c = campaigns.contacts
    assert set(c["action"]) == set(RESPONSE)
    assert 0.15 < c["control"].mean() < 0.25
    first = scenario.customers["first_purchase"].reindex(c["customer_id"]).to_numpy()
    assert (first < c["contact_date"].to_numpy()).all()  # only known customers are selected
    assert not c.loc[c["control"], ["responded", "put_off"]].any().any()
    assert not c.loc[~c["alive"], "responded"].any()  # lost causes never respond
    log = campaigns.contact_log()
    assert list(log.columns) == ["customer_id", "contact_date", "action", "control"]


def test_responses_are_in_the_log_and_put_off_customers_stop(campaigns) -> None:
    sc = campaigns.scenario
    rows = pd.concat([sc.transactions, sc.future])
    responses = rows[rows["order_id"].str.startswith("O9")]
    assert len(responses) == int(campaigns.contacts["responded"].sum())
    gone = campaigns.contacts[campaigns.contacts["put_off"]]
    for cid, day in zip(gone["customer_id"], gone["contact_date"], strict=True):
        assert not ((rows["customer_id"] == cid) & (rows["timestamp"] >= day)).any()
        assert sc.customers.loc[cid, "death"] == day


def test_same_seed_same_campaigns(scenario) -> None:
    spec = monthly_campaigns("2024-03-01", "2024-06-01")
    a = add_campaigns(scenario, spec, seed=2).contacts
    b = add_campaigns(scenario, spec, seed=2).contacts
    pd.testing.assert_frame_equal(a, b)


def test_true_effect_follows_the_documented_formula(campaigns) -> None:
    sc = campaigns.scenario
    customers = sc.customers
    ids = customers.index[:400]
    eff = campaigns.true_effect(ids, "win_back", "2025-07-01")
    dead = ~eff["alive"].to_numpy()
    assert (eff.loc[dead, "uplift_spend"] == 0).all()
    ok = eff["alive"] & ~eff["over_contacted"]
    m = customers["mean_spend"].reindex(ids).to_numpy()[ok.to_numpy()]
    expected = RESPONSE["win_back"] * eff.loc[ok, "p_no_purchase"] * m
    regular = (customers["segment"].reindex(ids) != "seasonal").to_numpy()[ok.to_numpy()]
    np.testing.assert_allclose(
        eff.loc[ok, "uplift_spend"].to_numpy()[regular], expected.to_numpy()[regular]
    )


def test_seasonal_customers_respond_before_their_season_not_in_july(campaigns) -> None:
    customers = campaigns.scenario.customers
    seasonal = customers.index[(customers["segment"] == "seasonal").to_numpy()][:200]
    july = campaigns.true_effect(seasonal, "seasonal_reminder", "2025-07-01")
    october = campaigns.true_effect(seasonal, "seasonal_reminder", "2025-10-10")
    alive = july["alive"].to_numpy() & october["alive"].to_numpy()
    # in July the reminder is forgotten by the season (timing 0.1); in October it works, but
    # many of them would buy in their season anyway (P0 is lower): about 3x the July effect
    assert october["uplift_spend"][alive].mean() > 2 * july["uplift_spend"][alive].mean()


def test_over_contact_puts_customers_off(scenario) -> None:
    spec = [
        Campaign(d, "retain", share=0.9, control_share=0.1)
        for d in ("2024-04-01", "2024-05-01", "2024-06-01")
    ]
    cs = add_campaigns(scenario, spec, seed=3)
    third = cs.contacts[cs.contacts["contact_date"] == pd.Timestamp("2024-06-01")]
    assert third["put_off"].any()
    eff = cs.true_effect(third["customer_id"], "retain", "2024-06-01")
    over = eff["over_contacted"].to_numpy() & eff["alive"].to_numpy()
    assert over.any()
    assert PUT_OFF > 0


def test_bad_campaigns(scenario) -> None:
    with pytest.raises(ConfigError, match="action"):
        add_campaigns(scenario, [Campaign("2024-06-01", "discount")])
    with pytest.raises(ConfigError, match="share"):
        add_campaigns(scenario, [Campaign("2024-06-01", "retain", share=1.5)])
    with pytest.raises(ConfigError, match="campaign day"):
        add_campaigns(scenario, [Campaign("2019-06-01", "retain")])
