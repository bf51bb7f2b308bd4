# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 From scores to a retention plan
#
# Scores say who is at risk and what they are worth; a retention team has to decide whom to
# contact, how, when, and for how much. `churnmodel.plan_retention` turns the scores into
# **one action per customer** with a reason, the expected incremental value of the action,
# its cost and a contact date:
#
# | action | who |
# |---|---|
# | `retain` | active or loyal customers whose risk is rising (`p_churn` at or above a threshold) |
# | `reward` | the most valuable loyal customers (top CLV) |
# | `win_back` | lapsed or inactive customers whose value justifies the cost |
# | `seasonal_reminder` | seasonally lapsed customers, shortly **before their own season** |
# | `nurture` | new customers, two weeks after their first purchase |
# | `do_not_contact` | value below cost, contacted too often already, or out of budget |
#
# What a contact is worth is either **assumed** (response rates by life-cycle stage in the
# policy) or **measured** from past campaigns with random control groups (uplift models).
# This notebook uses a simulated retailer whose campaigns have a known true effect, so every
# plan can be scored against the truth:
#
# 1. a log with a year of monthly campaigns (a random 20% of each held out);
# 2. scores at the end of the log; a plan with the assumed response;
# 3. the contact log: checks, uplift models on a time holdout, Qini curves;
# 4. the plan learned from the history, and what each targeting rule would have earned.

# %% tags=["parameters"]
import os

# Quick mode (CI sets CI=true): 3,000 simulated customers; otherwise 20,000.
QUICK = bool(os.environ.get("CI"))
N_CUSTOMERS = 3_000 if QUICK else 20_000
SEED = 0

# %%
# %matplotlib inline
import warnings

import matplotlib.pyplot as plt
import pandas as pd

import churnmodel as cm
from churnmodel.datasets import seasonal_retailer
from churnmodel.datasets.campaigns import RESPONSE, add_campaigns, monthly_campaigns
from churnmodel.evaluation.uplift import plot_qini, qini_interval
from churnmodel.features import FeatureWindows, customer_features, season_calendar
from churnmodel.planning import (
    ControlGroupWarning,
    PersuadableModel,
    ResponseModel,
    check_balance,
    compare_rules,
    evaluate_response,
    holdout_qini,
    uplift_table,
    validate_contacts,
)
from churnmodel.workflows.evaluate import fit_bundle
from churnmodel.workflows.plan import holdout_rule_scores

pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 20)
pd.set_option("display.max_colwidth", 90)
# lifetimes 0.11 (it fits the probabilistic models) is unmaintained and warns on current
# numpy and pandas.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="lifetimes|autograd")
warnings.filterwarnings("ignore", category=FutureWarning, module="lifetimes")

# %% [markdown]
# ## The log and its campaigns
#
# `seasonal_retailer` is a 2.5-year log ending on 30 June 2025 (regular, seasonal winter
# buyers, fading, one-time promotion and high-value customers). `add_campaigns` runs a
# campaign on the first of every month from January 2024 to March 2025: 30% of the known
# customers, one action in turn, 20% of them held out at random. The **true effect**
# (`docs/simulator.md`, "Campaigns") was designed before anything was measured: customers who
# have left never respond (lost causes); a contact adds a purchase only for customers who
# would not buy in the 90-day window anyway (sure things gain nothing), with a probability by
# action (below); a seasonal customer responds only when contacted shortly before their
# season; a customer contacted twice in the 90 days before is put off a quarter of the time
# and stops buying.

# %%
scenario = seasonal_retailer(N_CUSTOMERS, SEED)
history = add_campaigns(scenario, monthly_campaigns("2024-01-01", "2025-03-01"), seed=SEED)
transactions = history.scenario.transactions
as_of = scenario.end
print(f"{len(transactions):,} transactions up to {as_of}")
print(f"true conversion of a persuadable customer, by action: {dict(RESPONSE)}")
history.contacts.groupby("action")[["control", "alive", "responded", "put_off"]].mean().round(3)

# %% [markdown]
# ## Scores, and a plan with the assumed response
#
# The scores are what `churnmodel score` writes (here from a bundle fitted in memory, horizon
# 90 days = the campaign window). The plan also reads the log: customer features (order
# values, first purchases) and each customer's own season (`season_calendar`: the circular
# mean day of the year of their purchase days, `docs/features.md`).

# %%
bundle = fit_bundle(transactions, cutoff=as_of, horizon_days=90)
scores = bundle.predict(transactions, as_of).reset_index()
features = customer_features(transactions, as_of, windows=FeatureWindows(season=90))
seasons = season_calendar(transactions, as_of)
policy = cm.RetentionPolicy()  # the [plan] settings' defaults
assumed = cm.plan_retention(scores, policy, features=features, seasons=seasons)
print(assumed.attrs["totals"])
assumed.head(8)

# %%
pd.crosstab(assumed["lifecycle_stage"], assumed["action"].astype(str))

# %% [markdown]
# Seasonal customers are not won back in July: their reminder goes out about three weeks
# before their own season starts (here, the winter holidays).

# %%
seasonal = assumed[assumed["action"] == "seasonal_reminder"]
print(seasonal["reason"].iloc[0] if len(seasonal) else "no seasonal reminder in this plan")
seasonal["contact_date"].dt.to_period("W").value_counts().sort_index().head(10)

# %% [markdown]
# ## Learning the response from the campaign history
#
# The contact log (`customer_id`, `contact_date`, `action`, `control`) is checked against the
# transaction log: unknown customers or dates outside the log are errors that name the rows,
# and a control group that differs from its treated group before the contact (the balance
# check) is named in a warning. Each contact then gets the customer's features the day before
# it, their contact history, and what they bought in the 90 days after it.
#
# The response models are fitted on the older campaigns and scored on the latest ones (a
# time holdout). By default they are *scaled* uplift models: a contact can only move a
# customer who is alive but would not buy in the window on their own, a probability
# estimated from the log (`PersuadableModel`: P(no purchase in 90 days) - P(no purchase in a
# year)); the factor per action (by seasonal timing and over-contact) is the difference in
# means between treated and control customers.

# %%
contacts = validate_contacts(
    history.contact_log(),
    customers=pd.Index(transactions["customer_id"].unique()),
    first_date=transactions["timestamp"].min().date(),
    last_date=as_of,
)
persuadable = PersuadableModel(window_days=90).fit(
    transactions, first_date=scenario.start, last_date=as_of
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # contacts before a first purchase day
    table = uplift_table(transactions, contacts, window_days=90, persuadable=persuadable)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", ControlGroupWarning)
    balance = check_balance(table)
print(f"{len(table):,} contacts; balance check: {len(caught)} campaign(s) flagged")
balance.groupby("column")["smd"].describe()[["mean", "max"]]

# %%
evaluation = evaluate_response(table, window_days=90, persuadable=persuadable)
holdout = holdout_rule_scores(transactions, evaluation, window_days=90)
qini = holdout_qini(evaluation, n_boot=50 if QUICK else 200)
print(
    f"holdout from {evaluation.holdout_start.date()}: {evaluation.holdout_rows:,} contacts; "
    f"Qini (spend) {qini['qini_spend']:.3f} [{qini['qini_spend_ci_low']:.3f}, "
    f"{qini['qini_spend_ci_high']:.3f}], (purchase) {qini['qini_purchase']:.3f} "
    f"[{qini['qini_purchase_ci_low']:.3f}, {qini['qini_purchase_ci_high']:.3f}]"
)
rows = holdout.dropna(subset=["uplift_spend", "p_churn"])
fig, ax = plt.subplots(figsize=(7, 4.5))
plot_qini(
    rows["purchased"],
    rows["treated"],
    {
        "uplift model": rows["uplift_purchase"],
        "value_at_risk": rows["value_at_risk"],
        "p_churn": rows["p_churn"],
    },
    ax=ax,
    ylabel="incremental buyers",
)
for rule in ("value_at_risk", "p_churn"):
    ci = qini_interval(rows["purchased"], rows[rule], rows["treated"], n_boot=50, seed=SEED)
    print(f"{rule}: Qini (purchase) {ci.value:.3f} [{ci.low:.3f}, {ci.high:.3f}]")

# %% [markdown]
# `p_churn` ranks backwards: the customers most likely to lapse are mostly those who have
# already left, whom no contact brings back.
#
# ## The plan learned from history, and what each targeting rule would have earned
#
# Refitted on every campaign, the response models value each candidate contact. Then every
# targeting rule contacts the same number of customers as the learned plan, each with the
# action and date the life-cycle rules give them, and is scored with the simulation's
# **true** expected incremental revenue minus the contact costs. The oracle ranks by the true
# net value: the ceiling of any rule.

# %%
response = ResponseModel(over_contact=policy.max_contacts).fit(table, persuadable=persuadable)
learned = cm.plan_retention(
    scores, policy, features=features, seasons=seasons, contacts=contacts, response=response
)
rules = compare_rules(
    learned,
    scores,
    policy,
    truth=history.true_effect,
    features=features,
    seasons=seasons,
    assumed=assumed,
    seed=SEED,
)
rules.round(2)

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
rules.set_index("rule")["net_revenue"].plot.barh(ax=ax)
ax.set_xlabel("true incremental revenue minus contact costs")
ax.invert_yaxis()

# %% [markdown]
# On these campaigns the plan learned from history earns a little more than ranking by
# `value_at_risk` (`docs/planning.md`: 1.00-1.07x over three seeds of 20,000 customers) and
# far more than ranking by `p_churn` or at random. The oracle shows that about 1.55x would
# be possible with perfect knowledge of who is alive but would not buy on their own, which
# the log reveals only partly: a model that learns the true net value from the same
# observable inputs (the benchmark's "observable ceiling") reaches only 1.22-1.24x. The
# issue's target (+20% over `value_at_risk`) is not reached.
#
# ## A budget
#
# With a budget the plan keeps the contacts with the best expected net value per unit of
# cost until the money is spent; it is never exceeded.

# %%
budgeted = cm.plan_retention(
    scores,
    policy.model_copy(update={"budget": 2_000.0}),
    features=features,
    seasons=seasons,
    contacts=contacts,
    response=response,
)
t = budgeted.attrs["totals"]
print(f"contacted {t['contacted']:,}, cost {t['cost']:,.2f} of {t['budget']:,.2f}")
budgeted["action"].astype(str).value_counts()

# %% [markdown]
# The same from a shell, with the scores of `churnmodel score` (the run, with the policy,
# the totals, the holdout's Qini coefficients and plot, goes to MLflow):
#
# ```bash
# churnmodel plan --scores scores.parquet --output plan.parquet --budget 2000 \
#     --data transactions.parquet --contacts contacts.csv
# ```
