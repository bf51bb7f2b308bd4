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
# # 04 Train, register, score, and review runs in MLflow
#
# Notebooks 02 and 03 fitted models in memory. In production the same models go through
# **MLflow**: every training run is logged (settings, data fingerprint, scorecard, plots, the
# model itself), and the model that is **served** is not the one that was evaluated: after the
# holdout evaluation, `churnmodel train` refits the same settings on everything up to the end
# of the log, so the served model forecasts the next `H` days with all the data there is. That
# model is **registered** as a new version, and the `@champion` alias moves to it only if it
# passes the **promotion rules**: beat "days since the last purchase" and the current champion.
# Scoring jobs and the REST server always load `models:/churnmodel@champion`, never a file path.
#
# This notebook runs that loop end to end against a **temporary tracking store** (a SQLite file
# in a temporary folder, nothing written to the repository):
#
# 1. train and register a first model, which becomes the champion;
# 2. train a challenger and see whether it beats the champion;
# 3. load the champion from the registry and batch-score every customer;
# 4. read the CLV-decile x risk-band matrix and build a ranked retention list;
# 5. compare the runs through MLflow's API.
#
# The data: a simulated log (`churnmodel.datasets.simulate`) of a shop with regular,
# seasonal and one-time promotion buyers, written to a Parquet file and read back exactly as
# your own log would be. The simulator knows which customers have really left, so we can check
# the retention list against the truth. The same steps from a shell: `churnmodel train
# --data <log>`, `churnmodel score --data <log> --output scores.parquet`, `churnmodel ui`.

# %% tags=["parameters"]
import os
import tempfile
from pathlib import Path

# Quick mode (CI sets CI=true): 1,500 simulated customers; otherwise 10,000.
QUICK = bool(os.environ.get("CI"))
N_CUSTOMERS = 1_500 if QUICK else 10_000
SEED = 1
# A throw-away tracking store. To keep the runs, point this at your project's store instead
# (sqlite:///mlflow.db, or a team server's http:// URI) and skip the clean-up cell.
WORKDIR = Path(tempfile.mkdtemp(prefix="churnmodel-nb04-"))
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORKDIR / 'mlflow.db'}"

# %%
# %matplotlib inline
import logging
import shutil
import warnings

# Quieter output: no artifact download bars, and no MLflow info lines (set after the import).
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

import mlflow
import pandas as pd
from IPython.display import Image, display
from matplotlib.figure import Figure

from churnmodel.config import load_settings
from churnmodel.datasets import simulate
from churnmodel.evaluation import plot_value_risk_matrix, value_risk_matrix
from churnmodel.tracking import registry_overview, resolve_model
from churnmodel.workflows import score_job, train_job

pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 20)
pd.set_option("display.max_colwidth", 60)
# lifetimes 0.11 (it fits the probabilistic models) is unmaintained and warns on current
# numpy and pandas.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="lifetimes|autograd")
warnings.filterwarnings("ignore", category=FutureWarning, module="lifetimes")
logging.getLogger("mlflow").setLevel(logging.WARNING)  # after import: mlflow sets it up
print(f"tracking store: {os.environ['MLFLOW_TRACKING_URI']}")

# %% [markdown]
# ## The log
#
# Three years of transactions (2021-2023). `log.customers` holds the truth per customer
# (segment, true purchase and dropout rates, the moment they dropped out), which a real log
# never has.

# %%
log = simulate(N_CUSTOMERS, SEED)
data_path = WORKDIR / "transactions.parquet"
log.transactions.to_parquet(data_path)
print(f"{len(log.transactions):,} transactions of {N_CUSTOMERS:,} customers -> {data_path.name}")
display(log.transactions.head())
log.customers["segment"].value_counts()

# %% [markdown]
# ## 1. Train and register the first model
#
# `train_job(settings, data=...)` is what `churnmodel train` runs. Settings come in layers
# (defaults < TOML file < `CHURNMODEL_*` environment < explicit values); here only the
# defaults: the last 90 days of the log are the holdout, and runs go to the experiment
# `churnmodel`. The log covers three years, long enough for the **season-aligned**
# evaluation as well: the whole flow run one year before the window the served model will
# forecast (fitted with data up to a year before the end of the log, scored on the 90 days
# after), the honest estimate of what is served, which the promotion rules then read.

# %%
settings = load_settings()
print("promotion rules:", list(settings.tracking.promotion_rules))
first = train_job(settings, data=data_path)
m = first.metrics
print(
    f"run {first.run_name!r}\n"
    f"  holdout: {first.horizon_days} days after {first.cutoff}: lapse ROC AUC "
    f"{m['lapse_roc_auc']:.3f} vs recency {m['baseline_recency_roc_auc']:.3f} "
    f"and BG/NBD {m['baseline_bgnbd_roc_auc']:.3f}\n"
    f"  season-aligned ({first.notes['aligned']}): lapse ROC AUC "
    f"{m['aligned_lapse_roc_auc']:.3f} vs recency {m['aligned_baseline_recency_roc_auc']:.3f}\n"
    f"  served model: fitted on data to {first.served_through}\n"
    f"  registered {first.registered.name} v{first.registered.version}; "
    f"promoted: {first.promoted} ({first.decision.summary})"
)

# %% [markdown]
# The run logged everything needed to reproduce and judge it: the resolved settings, a
# SHA-256 fingerprint of the input file, every scorecard metric (the season-aligned ones
# prefixed `aligned_`), the evaluation and diagnostic plots, a description of which data each
# model saw, and the served model (a pyfunc that takes transactions and returns scores; no
# training data travels with it). There was no champion yet, so the rule "beat the champion"
# held trivially; the model was registered as version 1 and took the `@champion` alias.
#
# ## 2. A challenger must beat the champion
#
# Before a new model takes the alias, the champion is scored on the same holdouts, beside it
# (`champion_*` metrics). The champion must not have seen those holdouts: its served model was
# refitted on the whole log, so it stands in with the newest of its fits that did not see them
# (here the one its run evaluated, fitted with the same data and settings). Suppose the team
# also wants every new model to beat the probabilistic baseline, BG/NBD's P(no purchase in the
# next 90 days), and trains a challenger on the same log with that extra rule:

# %%
strict = load_settings(
    overrides={
        "tracking": {
            "promotion_rules": [
                *settings.tracking.promotion_rules,
                "lapse_roc_auc > baseline_bgnbd_roc_auc",
            ]
        }
    }
)
challenger = train_job(strict, data=data_path)
print(
    f"registered v{challenger.registered.version}; promoted: {challenger.promoted}\n"
    f"  champion scored as: {challenger.notes['aligned_champion']}\n"
    f"  {challenger.decision.summary}\n"
    f"  @champion was on v{challenger.previous_champion}"
)
print("registry:", registry_overview())

# %% [markdown]
# How to read it: the decision lists every rule with the numbers it compared, on the
# scorecard it read (the season-aligned one). The challenger is the same recipe on the same
# data as the champion, so its scores equal the champion's and "beat the champion" fails:
# version 2 is registered, but the alias stays on version 1. The run and the version are
# tagged with the reason (`promotion`, `promotion_reason`). A challenger with better data, a
# better design or better code would have to show it on the same customers; if all rules
# hold the alias moves, and the previous champion remains available by its version number (a
# rollback is one alias move). Either way, what follows uses whichever version holds the alias.
#
# ## 3. Load the champion and batch-score
#
# The registry turns `models:/churnmodel@champion` into a concrete version; a wrong name or
# alias raises an error that lists what exists. `score_job` (what `churnmodel score` runs)
# loads that model, validates the log, scores every customer known at the as-of date (default:
# the last transaction date) in chunks, and writes the scores.

# %%
champion = resolve_model("models:/churnmodel@champion")
print(f"champion: {champion.label}, trained by run {champion.run_id}")
scored = score_job(settings, data=data_path, output=WORKDIR / "scores.parquet")
print(
    f"scored {scored.n_customers:,} customers as of {scored.as_of} with {scored.model.label} "
    f"in {scored.seconds:.1f} s"
)
scores = pd.read_parquet(scored.output).set_index("customer_id")
scores.head()

# %% [markdown]
# One row per customer: `p_churn` (calibrated probability of no purchase in the next 90
# days), `p_alive`, `expected_purchases` and `expected_spend` over those 90 days, `clv`
# (discounted, 12 months), `value_at_risk` = `clv x p_churn`, the life-cycle stage, and
# `model_version` (the run that trained the model), so every score can be traced to its model.
#
# The same model answers REST requests (`churnmodel serve`): transactions in, scores out. In
# Python, `mlflow.pyfunc.load_model(uri).predict(transactions, params={"as_of": ...})` does
# the same as the server:

# %%
champion_model = mlflow.pyfunc.load_model(champion.uri)
some_customers = scores.index[:3]
request = pd.read_parquet(data_path).query("customer_id in @some_customers")
champion_model.predict(
    request[["customer_id", "timestamp", "amount"]], params={"as_of": str(scored.as_of)}
)

# %% [markdown]
# The same numbers as the batch scores of these customers: one model, two ways in.
#
# ## 4. Where is the value at risk?
#
# `value_risk_matrix` cuts customers into CLV deciles (10 = most valuable) and lapse-risk
# bands (`low` < 0.25 <= `medium` < 0.5 <= `high` < 0.75 <= `very high`), and sums CLV and
# value at risk per cell.

# %%
matrix = value_risk_matrix(scores["clv"], scores["p_churn"])
fig = Figure(figsize=(9, 6))
plot_value_risk_matrix(matrix, ax=fig.subplots())
fig.tight_layout()
display(fig)

# %% [markdown]
# How to read it: each cell shows how many customers it holds and their total CLV; the colour
# is the value at risk. Value and risk are strongly related: the most valuable customers are
# those who buy often and recently, so few of them are at high risk, and the `very high`
# column holds mostly low-value one-time and promotion buyers (bottom right: not worth a
# call). Value at risk gathers along the band from the top left to the middle right: the top
# deciles at low or medium risk, and deciles 6-9 at high risk. The **high-risk cells of the
# upper deciles** are where retention money goes furthest: a lot to lose and a real chance of
# losing it. The top-left cell is dark for another reason: a small risk each, summed over the
# most valuable customers; that calls for light-touch care (service, loyalty perks), not
# a win-back offer. Sorting the cells by value at risk gives a first order of priority:

# %%
matrix.sort_values("value_at_risk", ascending=False).head(6).round(2)

# %% [markdown]
# ### A ranked retention list
#
# Per customer, rank by value at risk and keep the top of the list. Because this log is
# simulated, we can also look up whether each customer had really dropped out by the scoring
# date: a customer already gone cannot be saved, however valuable.

# %%
truly_alive = log.alive_at(scored.as_of)
retention = (
    scores.nlargest(20, "value_at_risk")
    .loc[:, ["lifecycle_stage", "p_churn", "clv", "value_at_risk"]]
    .join(log.customers[["segment"]])
    .assign(truly_alive=truly_alive)
)
print(
    f"top 20: {retention['value_at_risk'].sum():,.0f} of "
    f"{scores['value_at_risk'].sum():,.0f} total value at risk; "
    f"{retention['truly_alive'].mean():.0%} truly still customers "
    f"(all customers: {truly_alive.reindex(scores.index).mean():.0%})"
)
retention.round(3)

# %% [markdown]
# What to do with it: hand the top of this list to the retention team, with the life-cycle
# stage as context for the message (a `lapsed_short` customer is overdue by their own rhythm
# and needs a nudge; a `lapsed_seasonal` one bought in this season last year and may come back
# on their own). The truth column shows why ranking by value at risk works: most of the top
# customers are really still customers, so there is something to save, while about half of all
# customers have already left. The list mixes two kinds of customer: valuable ones whose risk
# is moderate, and riskier ones of middling value; `value_at_risk` weighs both. Check a list
# like this against what happened later: when the next holdout arrives, the lapse rate of the
# contacted customers against similar uncontacted ones is the measure of the campaign, not of
# the model.
#
# ## 5. Compare the runs
#
# Everything a run logged is queryable. `mlflow.search_runs` returns one row per run, with
# `metrics.*`, `params.*` and `tags.*` columns:

# %%
runs = mlflow.search_runs(experiment_names=[settings.tracking.experiment])
columns = {
    "tags.mlflow.runName": "run",
    "tags.registered_version": "version",
    "tags.promotion": "promotion",
    "metrics.lapse_roc_auc": "lapse AUC",
    "metrics.champion_lapse_roc_auc": "champion AUC",
    "metrics.aligned_lapse_roc_auc": "aligned AUC",
    "metrics.baseline_recency_roc_auc": "recency AUC",
    "metrics.baseline_bgnbd_roc_auc": "BG/NBD AUC",
    "metrics.lapse_brier": "Brier",
    "metrics.spend_spearman": "spend Spearman",
    "metrics.model_size_mb": "model MB",
    "params.tracking.promotion_rules": "rules",
}
runs.sort_values("start_time")[list(columns)].rename(columns=columns).round(4)

# %% [markdown]
# Both runs saw the same data (same `tags.data_fingerprint`) and produced the same metrics:
# only the rules differ, and the second run also holds the champion's scores. In practice the
# runs you compare differ in data (a later log), settings or code (the `git_commit` tag), and
# this table, or the MLflow UI (`churnmodel ui`, then http://127.0.0.1:5000), shows which
# change moved which metric. The registry side, through the client:

# %%
client = mlflow.MlflowClient()
aliases = client.get_registered_model("churnmodel").aliases  # alias -> version
versions = client.search_model_versions("name = 'churnmodel'")
pd.DataFrame(
    {
        "version": v.version,
        "aliases": ", ".join(f"@{a}" for a, n in aliases.items() if str(n) == str(v.version)),
        "run_id": v.run_id,
        "promotion": v.tags.get("promotion", ""),
        "evaluated at": v.tags.get("cutoff", ""),
        "fitted through": v.tags.get("fitted_through", ""),
    }
    for v in sorted(versions, key=lambda v: int(v.version))
)

# %% [markdown]
# Plots logged with a run are artifacts; download one to look at it here (the MLflow UI shows
# them too):

# %%
roc_png = mlflow.artifacts.download_artifacts(
    run_id=first.run_id, artifact_path="plots/roc.png", dst_path=str(WORKDIR)
)
display(Image(filename=roc_png, width=480))

# %% [markdown]
# ## Clean up
#
# The tracking store lived in a temporary folder; remove it. (To keep your runs, set
# `MLFLOW_TRACKING_URI` in the parameter cell to your project's store instead.)

# %%
shutil.rmtree(WORKDIR, ignore_errors=True)
print(f"removed {WORKDIR}")

# %% [markdown]
# ## What next
#
# * On your own log: `churnmodel train --data orders.csv --customer-col ... --date-col ...
#   --amount-col ...` (or a TOML file with a `[data]` section), then `churnmodel score` and
#   `churnmodel ui`. Promotion rules go in `[tracking] promotion_rules`.
# * Serving: `churnmodel serve` exposes the champion over REST (`make serve`).
# * To understand a number in the scorecard, go back to notebook 03; to question the
#   probabilistic baselines, notebook 02.
