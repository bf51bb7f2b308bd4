"""Targeting rules side by side: what contacting the same number of customers would earn.

A plan decides whom to contact, with which action and when. :func:`compare_rules` holds the
number of contacts fixed at the plan's and lets other rules choose whom: ranking by
``value_at_risk``, by ``p_churn``, at random, and the oracle that ranks by the true net value
(the ceiling). Every contacted customer gets the action and date of the life-cycle rules
(:func:`~churnmodel.planning.plan.stage_actions`), so the rules differ only in whom they pick.
Each contact is valued by ``truth``: a function returning the expected incremental spend of
``(customer, action, day)`` contacts, known in a simulation
(:meth:`churnmodel.datasets.campaigns.CampaignScenario.true_effect`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.planning.plan import stage_actions
from churnmodel.planning.policy import RetentionPolicy
from churnmodel.schemas import CUSTOMER_ID

__all__ = ["Truth", "compare_rules"]

#: ``truth(customer_ids, actions, days)`` -> frame with ``uplift_spend`` per row.
Truth = Callable[[Sequence[str], Sequence[str], Sequence[Any]], pd.DataFrame]


def compare_rules(
    plan: pd.DataFrame,
    scores: pd.DataFrame,
    policy: RetentionPolicy,
    *,
    truth: Truth,
    features: pd.DataFrame | None = None,
    seasons: pd.DataFrame | None = None,
    assumed: pd.DataFrame | None = None,
    rankings: dict[str, pd.Series] | None = None,
    seed: int = 0,
    random_draws: int = 20,
) -> pd.DataFrame:
    """Return the true net incremental revenue of each targeting rule (module docstring).

    Parameters
    ----------
    plan
        The plan whose number of contacts the rules share (``"learned plan"``).
    scores
        The scores the plan was made from (``value_at_risk``, ``p_churn``).
    policy
        Costs and margin.
    truth
        The true effect of contacts (module docstring).
    features, seasons
        As given to the plan (contact dates of seasonal customers).
    assumed
        Another plan to list with its own contacts (``"assumed plan"``: the policy's assumed
        response rates), if given.
    rankings
        More rules: name -> a score per customer (index ``customer_id``); each contacts the
        plan's number of customers with the highest scores.
    seed, random_draws
        Random ranking: the mean of ``random_draws`` draws.

    Returns
    -------
    pandas.DataFrame
        One row per rule: ``rule``, ``contacts``, ``cost``, ``incremental_revenue`` (true,
        times ``margin``), ``net_revenue`` (minus cost), ``vs_value_at_risk`` (net revenue
        over that of the ``value_at_risk`` rule).
    """
    base = stage_actions(scores, policy, features=features, seasons=seasons)
    base = base[base["action"] != "do_not_contact"].reset_index(drop=True)
    effect = truth(
        base[CUSTOMER_ID].tolist(), base["action"].tolist(), base["contact_date"].tolist()
    )
    value = policy.margin * effect["uplift_spend"].to_numpy(dtype=float)
    cost = np.array([policy.cost(a) for a in base["action"]])
    net = pd.Series(value - cost, index=base[CUSTOMER_ID])
    gross = pd.Series(value, index=base[CUSTOMER_ID])
    costs = pd.Series(cost, index=base[CUSTOMER_ID])
    s = scores.reset_index() if CUSTOMER_ID not in scores.columns else scores
    s = s.set_index(s[CUSTOMER_ID].astype("str")).reindex(net.index)

    contacted = plan.loc[plan["action"].astype("str") != "do_not_contact", CUSTOMER_ID]
    n = len(contacted)
    rows = []

    def add(rule: str, ids: pd.Index | Sequence[str]) -> None:
        ids = pd.Index(ids)
        rows.append(
            {
                "rule": rule,
                "contacts": len(ids),
                "cost": float(costs.reindex(ids).sum()),
                "incremental_revenue": float(gross.reindex(ids).sum()),
                "net_revenue": float(net.reindex(ids).sum()),
            }
        )

    def top(score: pd.Series) -> pd.Index:
        ranked = (
            score.to_frame("s")
            .assign(id=score.index)
            .sort_values(["s", "id"], ascending=[False, True], kind="stable")
        )
        return pd.Index(ranked.index[:n])

    add("learned plan", pd.Index(contacted.astype("str")))
    if assumed is not None:
        add(
            "assumed plan",
            pd.Index(assumed.loc[assumed["action"].astype("str") != "do_not_contact", CUSTOMER_ID]),
        )
    add("value_at_risk", top(s["value_at_risk"].astype(float)))
    add("p_churn", top(s["p_churn"].astype(float)))
    for rule, ranking in (rankings or {}).items():
        values = ranking.copy()
        values.index = values.index.astype("str")
        add(rule, top(values.reindex(net.index).fillna(-np.inf)))
    rng = np.random.default_rng(seed)
    draws = [
        rng.choice(len(net), size=min(n, len(net)), replace=False) for _ in range(random_draws)
    ]
    rows.append(
        {
            "rule": "random",
            "contacts": min(n, len(net)),
            "cost": float(np.mean([costs.iloc[d].sum() for d in draws])),
            "incremental_revenue": float(np.mean([gross.iloc[d].sum() for d in draws])),
            "net_revenue": float(np.mean([net.iloc[d].sum() for d in draws])),
        }
    )
    add("oracle (true effect)", top(net))
    table = pd.DataFrame(rows)
    var = table.loc[table["rule"] == "value_at_risk", "net_revenue"].iloc[0]
    table["vs_value_at_risk"] = table["net_revenue"] / var if var != 0 else np.nan
    return table
