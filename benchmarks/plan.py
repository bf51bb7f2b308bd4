"""Retention plans on simulated campaigns, scored against the true effect of every contact.

``python -m benchmarks.plan`` (or ``make plan-benchmark``) runs, for each seed:

1. the ``seasonal_retailer`` scenario (a log to 2025-06-30) with monthly campaigns from
   January 2024 to March 2025 (each: 30 % of the known customers, one action in turn, 20 %
   held out at random; ``churnmodel.datasets.campaigns``, whose true effect is documented
   there and in ``docs/simulator.md``);
2. the churn model fitted on the log up to 2025-06-30 (the ``train`` settings, horizon 90
   days = the campaign window) scores every customer;
3. the uplift models are fitted on the older campaigns and scored on the latest ones (a time
   holdout: Qini coefficient with a bootstrap interval), then refitted on every campaign;
4. ``plan_retention`` makes the plan from the scores and the measured response (and, for
   comparison, with the assumed response rates only);
5. every targeting rule contacts the same number of customers as the learned plan, each
   with the action and date the life-cycle rules give them: the learned plan, ranking by
   ``value_at_risk``, by ``p_churn``, at random (the mean of 20 draws), and the **oracle**
   (ranking by the true net value of the contact: the ceiling), and the **observable
   ceiling** (ranking by the true net value as a gradient-boosting model learns it from the
   features, scores and contact history, cross-fitted: the best any model of these inputs
   could do, however much campaign history it had). Each is scored by the true
   expected incremental revenue of its contacts minus their cost
   (``CampaignScenario.true_effect``).

With ``--mlflow`` the last seed's plan run is logged (``churnmodel.workflows.plan``: policy,
totals, the rule table, the Qini plot and coefficient). Results are printed and written to
``benchmarks/results/plan.json``.

Target (issue 18): the learned plan earns >= 1.2x the net incremental revenue of ranking by
``value_at_risk``, and more than ``p_churn`` and random.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
HORIZON = 90


def run_seed(
    n_customers: int,
    seed: int,
    *,
    n_boot: int = 200,
    method: str = "scaled",
    state: str = "snapshots",
    with_holdout_scores: bool = False,
) -> dict[str, Any]:
    """One seed: scenario, campaigns, scores, uplift models, plans, and the rule table."""
    from churnmodel.datasets import seasonal_retailer
    from churnmodel.datasets.campaigns import add_campaigns, monthly_campaigns
    from churnmodel.features import FeatureWindows, customer_features, season_calendar
    from churnmodel.planning import (
        ControlGroupWarning,
        PersuadableModel,
        ResponseModel,
        RetentionPolicy,
        compare_rules,
        evaluate_response,
        holdout_qini,
        plan_retention,
        uplift_table,
        validate_contacts,
    )
    from churnmodel.workflows.evaluate import fit_bundle

    started = time.perf_counter()
    lap = started

    def tick(what: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        print(f"  {what}: {now - lap:.1f} s", flush=True)
        lap = now

    sc = seasonal_retailer(n_customers, seed)
    cs = add_campaigns(sc, monthly_campaigns("2024-01-01", "2025-03-01"), seed=seed)
    tx = cs.scenario.transactions
    as_of = sc.end
    tick("scenario and campaigns")
    bundle = fit_bundle(tx, cutoff=as_of, horizon_days=HORIZON)
    tick("churn model")
    scores = bundle.predict(tx, as_of).reset_index()
    features = customer_features(tx, as_of, windows=FeatureWindows(season=HORIZON))
    seasons = season_calendar(tx, as_of)
    policy = RetentionPolicy(n_boot=n_boot, seed=seed)
    contacts = validate_contacts(
        cs.contact_log(),
        customers=pd.Index(tx["customer_id"].unique()),
        first_date=tx["timestamp"].min().date(),
        last_date=as_of,
    )
    persuadable = None
    if state == "snapshots":
        persuadable = PersuadableModel(
            window_days=policy.campaign_window_days, random_state=seed
        ).fit(tx, first_date=tx["timestamp"].min().date(), last_date=as_of)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ControlGroupWarning)
        table = uplift_table(
            tx, contacts, window_days=policy.campaign_window_days, persuadable=persuadable
        )
    tick("uplift table")
    evaluation = evaluate_response(
        table,
        window_days=policy.campaign_window_days,
        holdout_share=policy.holdout_share,
        persuadable=persuadable,
        min_treated=policy.min_treated,
        min_control=policy.min_control,
        over_contact=policy.max_contacts,
        seasonal_min_concentration=policy.seasonal_min_concentration,
        random_state=seed,
        method=method,
    )
    qini = holdout_qini(evaluation, n_boot=policy.n_boot, seed=seed)
    response = ResponseModel(
        min_treated=policy.min_treated,
        min_control=policy.min_control,
        over_contact=policy.max_contacts,
        seasonal_min_concentration=policy.seasonal_min_concentration,
        random_state=seed,
        method=method,
    ).fit(table, persuadable=persuadable)
    tick("uplift models")
    learned = plan_retention(
        scores, policy, features=features, seasons=seasons, contacts=contacts, response=response
    )
    assumed = plan_retention(scores, policy, features=features, seasons=seasons, contacts=contacts)
    # The same measured values without the policy's gates (risk threshold, cap): whom the
    # response models alone would pick.
    ungated = plan_retention(
        scores,
        policy.model_copy(
            update={
                "retain_min_p_churn": 0.0,
                "max_contacts": 10_000,
                "costs": dict.fromkeys(policy.costs, 0.0),
            }
        ),
        features=features,
        seasons=seasons,
        contacts=contacts,
        response=response,
    ).set_index("customer_id")
    cost = ungated["action"].astype("str").map(lambda a: policy.cost(a))
    ceiling = observable_ceiling(scores, features, seasons, contacts, policy, cs, seed)
    tick("observable ceiling")
    rules = compare_rules(
        learned,
        scores,
        policy,
        truth=cs.true_effect,
        features=features,
        seasons=seasons,
        assumed=assumed,
        rankings={
            "measured value, no gates": ungated["expected_incremental_value"] - cost,
            "observable ceiling (true effect learned from the features)": ceiling,
        },
        seed=seed,
    )
    checks = plan_checks(learned, cs, contacts, policy)
    tick("plans and rules")
    holdout = None
    if with_holdout_scores:
        from churnmodel.workflows.plan import holdout_rule_scores

        holdout = holdout_rule_scores(tx, evaluation, window_days=policy.campaign_window_days)
        tick("holdout scored by the churn model")
    return {
        "seed": seed,
        "customers": len(scores),
        "contacts": len(contacts),
        "seconds": round(time.perf_counter() - started, 1),
        "qini": qini,
        "rules": rules.to_dict(orient="records"),
        "learned_totals": learned.attrs["totals"],
        "checks": checks,
        "_frames": {
            "plan": learned,
            "rules": rules,
            "evaluation": evaluation,
            "policy": policy,
            "holdout": holdout,
            "qini": qini,
            "factors": response.factors(),
            "scores": scores,
            "features": features,
            "seasons": seasons,
            "contacts": contacts,
            "response": response,
            "ungated": ungated,
            "ceiling": ceiling,
            "campaigns": cs,
        },
    }


def observable_ceiling(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    seasons: pd.DataFrame,
    contacts: pd.DataFrame,
    policy: Any,
    cs: Any,
    seed: int,
) -> pd.Series:
    """Rank by the true net value as predicted from what a model can see (2-fold cross-fit).

    A gradient-boosting regressor learns the true net value of each customer's stage action
    (the simulation's truth, no campaign noise) from the features, the scores, the seasonal
    timing and the contact history: the best any model of these inputs could rank, however
    much campaign history it had. Each half is predicted by the model fitted on the other.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    from churnmodel.planning import stage_actions
    from churnmodel.planning.contacts import contact_history, days_to_season, design_matrix

    base = stage_actions(scores, policy, features=features, seasons=seasons)
    base = base[base["action"] != "do_not_contact"].reset_index(drop=True)
    ids = base["customer_id"].to_numpy()
    effect = cs.true_effect(ids.tolist(), base["action"].tolist(), base["contact_date"].tolist())
    cost = base["action"].map(policy.cost).to_numpy(dtype=float)
    y = policy.margin * effect["uplift_spend"].to_numpy() - cost
    f = features.reindex(ids)
    history = contact_history(
        contacts, ids, base["contact_date"].to_numpy(), window_days=policy.contact_window_days
    )
    design = design_matrix(
        f, seasons, history, days_to_season(seasons, ids, base["contact_date"].to_numpy())
    )
    s = scores.set_index("customer_id").reindex(ids)
    x = np.column_stack(
        [
            design.to_numpy(dtype=float),
            s[["p_churn", "p_alive", "clv", "expected_spend", "value_at_risk"]].to_numpy(float),
            pd.Categorical(base["action"]).codes,
        ]
    )
    x = x[:, ~np.isnan(x).all(axis=0)]  # the state columns are left empty here
    fold = np.random.default_rng(seed).integers(0, 2, len(y))
    pred = np.empty(len(y))
    for k in (0, 1):
        model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=seed)
        model.fit(x[fold != k], y[fold != k])
        pred[fold == k] = model.predict(x[fold == k])
    return pd.Series(pred, index=pd.Index(ids, name="customer_id"))


def plan_checks(plan: pd.DataFrame, cs: Any, contacts: pd.DataFrame, policy: Any) -> dict:
    """The issue's rule checks on the learned plan, against the simulation's truth."""
    segment = cs.scenario.customers["segment"].reindex(plan["customer_id"]).to_numpy()
    action = plan["action"].astype("str").to_numpy()
    date = plan["contact_date"]
    seasonal = segment == "seasonal"
    contacted = action != "do_not_contact"
    # the simulated seasons: winter holidays, 1 November .. 31 December
    start = pd.Timestamp("2025-11-01")
    reminders = action == "seasonal_reminder"
    before = (date >= start - pd.Timedelta(days=45)) & (date < start)
    summer = date.dt.month.isin([6, 7, 8]).to_numpy()
    sent = contacts[~contacts["control"]]
    over = 0
    for cid, day in zip(plan["customer_id"][contacted], date[contacted], strict=True):
        window = sent[(sent["customer_id"] == cid)]
        earlier = window[
            window["contact_date"] > day - pd.Timedelta(days=policy.contact_window_days)
        ]
        over += int(len(earlier) + 1 > policy.max_contacts)
    return {
        "seasonal_reminders": int(reminders.sum()),
        "seasonal_reminders_in_the_45_days_before_the_season": int((reminders & before).sum()),
        "true_seasonal_customers_contacted_in_summer": int((seasonal & contacted & summer).sum()),
        "true_seasonal_customers_won_back_in_summer": int(
            (seasonal & (action == "win_back") & summer).sum()
        ),
        "contacts_over_the_cap": over,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--method", default="scaled", choices=["scaled", "x", "t"])
    parser.add_argument(
        "--state",
        default="snapshots",
        choices=["snapshots", "pareto"],
        help="p_persuadable from two lapse classifiers on snapshots, or from Pareto/NBD",
    )
    parser.add_argument("--mlflow", action="store_true", help="log the last seed's plan run")
    args = parser.parse_args(argv)
    results = []
    last: dict[str, Any] = {}
    for seed in args.seeds:
        out = run_seed(
            args.customers,
            seed,
            n_boot=args.n_boot,
            method=args.method,
            state=args.state,
            with_holdout_scores=args.mlflow and seed == args.seeds[-1],
        )
        last = out.pop("_frames")
        results.append(out)
        rules = pd.DataFrame(out["rules"]).set_index("rule")
        print(
            f"\nseed {seed}: {out['customers']:,} customers, {out['contacts']:,} contacts, "
            f"{out['seconds']} s"
        )
        print(
            f"holdout Qini (spend): {out['qini']['qini_spend']:.3f} "
            f"[{out['qini']['qini_spend_ci_low']:.3f}, {out['qini']['qini_spend_ci_high']:.3f}];"
            f" (purchase): {out['qini']['qini_purchase']:.3f} "
            f"[{out['qini']['qini_purchase_ci_low']:.3f}, "
            f"{out['qini']['qini_purchase_ci_high']:.3f}]"
        )
        print(rules.to_string(float_format=lambda v: f"{v:,.2f}"))
        print(f"checks: {out['checks']}")
    table = pd.DataFrame(
        [{"seed": r["seed"], **{x["rule"]: x["net_revenue"] for x in r["rules"]}} for r in results]
    ).set_index("seed")
    print("\nnet incremental revenue by rule and seed (same number of contacts):")
    print(table.to_string(float_format=lambda v: f"{v:,.0f}"))
    ratio = table["learned plan"] / table["value_at_risk"]
    print(f"learned plan / value_at_risk: {', '.join(f'{r:.2f}' for r in ratio)}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "plan.json").write_text(json.dumps(results, indent=2, default=str))
    if args.mlflow and last:
        from churnmodel.config import load_settings
        from churnmodel.workflows.plan import log_plan_run, qini_figure

        rules_table = last["rules"].copy()
        rules_table.insert(0, "seed", args.seeds[-1])
        run = log_plan_run(
            load_settings(),
            plan=last["plan"],
            policy=last["policy"],
            rules=rules_table,
            qini=last["qini"],
            factors=last["factors"],
            figures={"plots/qini.png": qini_figure(last["holdout"])},
            name=f"plan on seasonal_retailer, {args.customers:,} customers, seed {args.seeds[-1]}",
            tags={
                "benchmark": "benchmarks/plan.py",
                "target": "learned plan >= 1.2 x value_at_risk, > p_churn, > random",
            },
            metrics={
                f"learned_vs_value_at_risk_seed_{s}": float(r)
                for s, r in zip(args.seeds, ratio, strict=True)
            },
            tables={"plan/rules_by_seed.json": table.reset_index()},
        )
        print(f"MLflow run {run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
