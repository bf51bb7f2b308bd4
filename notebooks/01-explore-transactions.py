# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
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
# # 01 Explore a transaction log: CDNOW
#
# Before fitting any model, look at the data the models will learn from. This notebook walks
# through the bundled **CDNOW** log (a music retailer; every customer made a first purchase in
# the first quarter of 1997 and is followed to the end of June 1998) using only churnmodel's
# public API and plain pandas:
#
# 1. load the log and read the **load report** (every row accounted for);
# 2. purchases and revenue **over time**;
# 3. **cohorts** by month of first purchase, and how many of them come back;
# 4. the **gaps** between a customer's purchases;
# 5. **life-cycle stages** (new, active, loyal, lapsed, inactive) at two cut-offs;
# 6. the **RFM** distributions that the probabilistic models of notebook 02 are fitted on.
#
# Nothing here is written to disk. Runs in a few seconds.

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import display
from matplotlib.figure import Figure

import churnmodel as cm
from churnmodel.datasets import CDNOW_CALIBRATION_END, CDNOW_END, load_cdnow
from churnmodel.features import build_ledger, customer_features
from churnmodel.schemas import LIFECYCLE_STAGES

pd.set_option("display.width", 120)
print(f"churnmodel {cm.__version__}")

# %% [markdown]
# ## 1. Load the log and read the load report
#
# `load_cdnow(with_report=True)` reads the CDNOW file that ships inside the `lifetimes`
# package through the same loader as any CSV or Parquet log (`churnmodel.read_transactions`):
# columns are mapped onto the canonical `customer_id`, `timestamp`, `amount`, `order_id`,
# dates and amounts are parsed, and bad rows are **quarantined with a reason** rather than
# dropped silently. The report says what happened to every row read, and its counts always
# reconcile: `rows read = used + quarantined + duplicates removed + after the as-of date`.

# %%
result = load_cdnow(with_report=True)
report = result.report
tx = result.transactions
print(report.summary())

# %% [markdown]
# How to read it: all 69,659 rows are usable and nothing was quarantined. CDNOW has no order
# id, so two identical lines (same customer, day and amount) cannot be told apart from a
# duplicated export; the loader keeps them and counts them ("identical rows kept") because in
# CDNOW they are genuine repeat orders that the published summary counts. On your own log,
# look first at `report.quarantine` (one row per bad line with its row number and reason)
# and at `report.quarantine_by_reason`.
#
# The transactions are a plain DataFrame in canonical columns:

# %%
print(f"{len(tx):,} transactions, {tx['customer_id'].nunique():,} customers")
tx.head()

# %%
tx["amount"].describe().round(2)

# %% [markdown]
# A few orders are worth \$0 (free items). churnmodel counts a customer-day as a purchase when
# its net amount is above 0 or when it holds only \$0 orders, as lifetimes and the CDNOW papers
# do (`PurchaseRule`; `PurchaseRule(free_orders_are_purchases=False)` leaves \$0 orders out).
#
# ## 2. Purchases over time
#
# Weekly transactions and revenue across the whole log. The vertical line marks the end of
# the calibration period used in the literature (1997-09-30, week 39): models are fitted on
# the data before it and checked on the 39 weeks after it.

# %%
weekly = tx.set_index("timestamp").resample("W")["amount"].agg(["size", "sum"])
weekly = weekly[weekly.index <= pd.Timestamp(CDNOW_END)]  # drop the last, partial week
fig = Figure(figsize=(10, 4.5))
ax_count, ax_revenue = fig.subplots(2, 1, sharex=True)
ax_count.plot(weekly.index, weekly["size"])
ax_count.set_ylabel("transactions / week")
ax_revenue.plot(weekly.index, weekly["sum"] / 1000, color="tab:green")
ax_revenue.set_ylabel("revenue / week ($k)")
for ax in (ax_count, ax_revenue):
    ax.axvline(pd.Timestamp(CDNOW_CALIBRATION_END), color="grey", linestyle="--")
ax_count.set_title("CDNOW: weekly transactions and revenue (dashed: end of calibration)")
display(fig)

# %% [markdown]
# What it shows: activity peaks in the first quarter of 1997, because that is when every
# customer in the cohort made their **first** purchase, then falls to a much lower, slowly
# declining level made only of **repeat** purchases. No new customers arrive after March
# 1997, so the decline after it is the cohort thinning out: some customers keep buying, many
# never return. That thinning is exactly what the "buy 'til you die" models of notebook 02
# describe. A log of your own, with customers arriving all the time, will not show the cliff;
# split it into acquisition cohorts as below before reading trends into it.
#
# ## 3. Cohorts and their repeat rates
#
# The **customer-day ledger** (`build_ledger`) nets each customer's transactions per day (and
# subtracts same-day returns): it is what every feature is computed from. Group customers by
# the month of their first purchase day and follow what share of each cohort buys in each
# later month.

# %%
ledger = build_ledger(tx)
# Purchase days under the default rule: a positive net amount, or \$0 orders only.
paid = ledger["net_amount"] > 0
free = (ledger["net_amount"] == 0) & (ledger["returned_amount"] == 0)
purchases = ledger[paid | free].copy()
first_day = purchases.groupby("customer_id")["date"].transform("min")
purchases["cohort"] = first_day.dt.to_period("M")
purchases["months_since_first"] = (purchases["date"].dt.year - first_day.dt.year) * 12 + (
    purchases["date"].dt.month - first_day.dt.month
)
cohort_size = purchases.groupby("cohort")["customer_id"].nunique()
print(cohort_size)
active = purchases.pivot_table(
    index="cohort", columns="months_since_first", values="customer_id", aggfunc="nunique"
)
retention = active.div(cohort_size, axis=0)[cohort_size >= 100]
retention.round(3).iloc[:, :8]

# %%
fig = Figure(figsize=(10, 3))
ax = fig.subplots()
shown = retention.iloc[:, 1:]  # month 0 is the first purchase itself (100 %)
image = ax.imshow(shown.to_numpy(), aspect="auto", cmap="Blues")
ax.set_xticks(range(shown.shape[1]), [str(c) for c in shown.columns])
ax.set_yticks(range(len(shown)), [f"{c} (n={cohort_size[c]:,})" for c in shown.index])
ax.set_xlabel("months since the first purchase")
ax.set_title("Share of each cohort buying in a later month")
fig.colorbar(image, ax=ax, label="share of cohort")
display(fig)

# %%
per_customer = purchases.groupby("customer_id").agg(
    cohort=("cohort", "first"), purchase_days=("date", "size"), first=("date", "min")
)
second = purchases.groupby("customer_id").nth(1).set_index("customer_id")["date"]
days_to_second = (second - per_customer["first"]).dt.days  # NaN: never bought again
repeat_rate = (
    per_customer.assign(
        ever_repeat=per_customer["purchase_days"] > 1,
        repeat_within_90d=days_to_second <= 90,
        repeat_within_180d=days_to_second <= 180,
    )
    .groupby("cohort")[["ever_repeat", "repeat_within_90d", "repeat_within_180d"]]
    .mean()
    .assign(customers=cohort_size)
)[cohort_size >= 100]
repeat_rate.round(3)

# %% [markdown]
# What it shows: about one customer in seven buys again in the month after their first
# purchase, and fewer than one in ten in any later month; about half never come back at all
# in the 15 to 18 months observed, and fewer than a third come back within 90 days. (Later
# cohorts are followed for fewer months, hence the empty cells on the right.) The three
# cohorts behave alike, so treating CDNOW as one cohort (as the papers do) is reasonable.
# On your own data, a cohort that repeats clearly less than its neighbours points to a
# change in acquisition (a promotion that brought one-off bargain hunters, a new channel) and
# is worth a look before any model is trained.
#
# ## 4. Gaps between purchases
#
# The time between two consecutive purchase days of the same customer. Each customer's mean
# gap is their own buying rhythm, which the life-cycle stages below are judged against.

# %%
gaps = purchases.groupby("customer_id")["date"].diff().dt.days.dropna()
fig = Figure(figsize=(9, 3.5))
ax = fig.subplots()
ax.hist(gaps, bins=range(0, int(gaps.max()) + 8, 7))
ax.axvline(gaps.median(), color="black", linestyle="--", label=f"median {gaps.median():.0f} days")
ax.set_xlabel("days between consecutive purchase days (bins of one week)")
ax.set_ylabel("gaps")
ax.set_yscale("log")
ax.set_title(f"{len(gaps):,} gaps between purchase days")
ax.legend()
display(fig)

# %%
gaps.describe(percentiles=[0.1, 0.25, 0.5, 0.75, 0.9]).round(1)

# %% [markdown]
# What it shows (log scale): most repeat purchases come within a few weeks of the previous
# one, but the tail runs out to more than a year. A single "lapsed after 90 days" rule for
# everyone would call a habitual monthly buyer lapsed far too late and a twice-a-year buyer
# lapsed far too early; that is why churnmodel judges each customer against their own gap.
#
# ## 5. Life-cycle stages
#
# `customer_features(tx, as_of)` builds one row per customer known at a cut-off: RFM, behaviour
# features (trailing windows, gaps, spend trend, same season last year, returns) and a
# `lifecycle_stage` (rules in `docs/features.md`): `new` and `active`/`loyal` customers are
# not overdue; `lapsed_short`, `lapsed_long` and `inactive` are overdue by more than 1.5x, 3x
# and 6x their typical gap; `lapsed_seasonal` is overdue but bought in the coming season a
# year earlier. Compare the end of the calibration period with the end of the data.

# %%
at_calibration = customer_features(tx, CDNOW_CALIBRATION_END, time_unit="W")
at_end = customer_features(tx, CDNOW_END, time_unit="W")
stages = pd.DataFrame(
    {
        CDNOW_CALIBRATION_END: at_calibration["lifecycle_stage"].value_counts(),
        CDNOW_END: at_end["lifecycle_stage"].value_counts(),
    }
).reindex(list(LIFECYCLE_STAGES), fill_value=0)
display(stages)

# %%
fig = Figure(figsize=(9, 3.5))
ax = fig.subplots()
positions = range(len(stages))
ax.bar([p - 0.2 for p in positions], stages.iloc[:, 0], width=0.4, label=stages.columns[0])
ax.bar([p + 0.2 for p in positions], stages.iloc[:, 1], width=0.4, label=stages.columns[1])
ax.set_xticks(list(positions), list(stages.index), rotation=20)
ax.set_ylabel("customers")
ax.set_title("Life-cycle stages at two cut-offs")
ax.legend(title="as of")
display(fig)

# %%
# Medians per stage; one-time buyers have no gap of their own, so the gap columns are those
# of the repeat buyers in the stage.
at_end.groupby("lifecycle_stage", observed=True)[
    ["n_purchase_days", "days_since_last", "gap_mean_days", "gap_ratio", "total_spend"]
].median().reindex(list(LIFECYCLE_STAGES)).round(1)

# %% [markdown]
# What it shows: at the end of September 1997 the cohort is six to nine months old, and most
# one-time buyers are already overdue compared with the typical gap of the repeat buyers
# (`lapsed_long`). Nine months later the mass has moved on to `inactive`, while a core of
# `loyal` and `active` customers keeps buying. `loyal` needs a year of tenure, so it appears
# only at the later cut-off, as does `lapsed_seasonal` (it looks at the same season one year
# earlier). The table of medians shows what separates the stages:
# `gap_ratio` (days since the last purchase over the customer's own mean gap) rises from
# below 1.5 to well above 6. Stages are descriptive, computed from history alone; the
# *probability* that a customer is gone is what the models of notebooks 02 and 03 estimate.
# No `new` customers appear because nobody joined after March 1997.
#
# ## 6. RFM distributions
#
# The probabilistic models need only four numbers per customer, in lifetimes' definitions
# (`docs/features.md`): `frequency` = repeat purchase days, `recency` = first to last purchase,
# `T` = first purchase to the cut-off (both in weeks here), `monetary_value` = mean spend of
# the repeat purchase days (0 for one-time buyers). At the end of the calibration period:

# %%
rfm = at_calibration[["frequency", "recency", "T", "monetary_value"]]
fig = Figure(figsize=(11, 6.5))
axes = fig.subplots(2, 2)
freq = rfm["frequency"].clip(upper=10).value_counts().sort_index()
axes[0, 0].bar(freq.index, freq.to_numpy())
axes[0, 0].set_xticks(range(11), [*map(str, range(10)), "10+"])
axes[0, 0].set_xlabel("frequency (repeat purchase days)")
repeat = rfm[rfm["frequency"] > 0]
axes[0, 1].hist(repeat["recency"], bins=39)
axes[0, 1].set_xlabel("recency, weeks (repeat buyers)")
axes[1, 0].hist(rfm["T"], bins=13)
axes[1, 0].set_xlabel("T, weeks since the first purchase")
axes[1, 1].hist(repeat["monetary_value"], bins=40, range=(0, 200))
above = int((repeat["monetary_value"] > 200).sum())
axes[1, 1].set_xlabel(f"monetary value, dollars per repeat day ({above} above 200 not shown)")
for ax in axes.flat:
    ax.set_ylabel("customers")
fig.suptitle(f"RFM at {CDNOW_CALIBRATION_END} ({len(rfm):,} customers)")
fig.tight_layout()
display(fig)

# %%
print(f"one-time buyers: {(rfm['frequency'] == 0).mean():.0%}")
print(
    f"repeat buyers' monetary value: median ${repeat['monetary_value'].median():.2f}, "
    f"mean ${repeat['monetary_value'].mean():.2f}"
)
rfm.describe().round(2)

# %% [markdown]
# What it shows: 60 % of the customers are one-time buyers (frequency 0), and among repeat
# buyers frequency falls off quickly: a few heavy buyers carry much of the volume. Recency of
# the repeat buyers has two humps: customers who came back soon after their first purchase
# and then stopped (recency near 0), and customers still buying near the cut-off (recency
# close to their `T`); the models read the second group as alive and the first as probably
# gone. `T` spans 27 to
# 39 weeks because first purchases spread over the first quarter. Spend per purchase is
# skewed to the right (a long tail of big baskets), which is what the Gamma-Gamma model's
# shape is meant for; its mean is well above its median.
#
# ## What next
#
# * **Notebook 02** fits the BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma models on exactly
#   this RFM summary (the 1/10 sample of the papers), checks them against the published
#   numbers and the 39-week holdout, and turns them into customer lifetime value.
# * On your own log: `cm.read_transactions("orders.csv", customer_col=..., date_col=...,
#   amount_col=...)` returns the same `LoadResult`; start with its report, then rerun the
#   cells above.
