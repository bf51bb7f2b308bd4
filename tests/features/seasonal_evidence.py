"""How often ``lapsed_seasonal`` is right: measured on simulated logs with known segments.

Used by ``tests/features/test_lifecycle.py`` and runnable for the figures in
docs/features.md (a few minutes)::

    .venv/bin/python -m tests.features.seasonal_evidence

Two measures:

* on a log **without** seasonal customers (``segment_shares={"regular": 0.9, "promo": 0.1}``),
  the share of customers labelled ``lapsed_seasonal`` (every one a false alarm);
* on the default log (10% seasonal customers, seasons "winter_holidays" 11-10..12-31 and
  "summer" 06-10..07-31), the **recall**: of the seasonal customers who are truly alive at
  the cut-off, not on rhythm (stage not new/active/loyal) and have bought in at least two
  of their seasons (distinct years with a purchase day in their own season window), the
  share labelled ``lapsed_seasonal``; and the **precision**: the share of the customers
  labelled ``lapsed_seasonal`` who are seasonal customers alive at the cut-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnmodel.datasets import simulate
from churnmodel.datasets.simulate import DEFAULT_SEASONS, SimulatedLog
from churnmodel.features import (
    FeatureWindows,
    LifecycleRules,
    assign_lifecycle_stage,
    build_ledger,
    customer_features,
)

NON_SEASONAL = {"regular": 0.9, "promo": 0.1}
ON_RHYTHM = ("new", "active", "loyal")


def non_seasonal_log(n_customers: int, seed: int) -> SimulatedLog:
    """A log of regular and promotion buyers only, 2021-01-01..2023-06-30."""
    return simulate(
        n_customers, seed=seed, start="2021-01-01", end="2023-06-30", segment_shares=NON_SEASONAL
    )


def seasonal_share(features: pd.DataFrame, rules: LifecycleRules | None = None) -> float:
    """The share of the customers in ``features`` labelled ``lapsed_seasonal`` by ``rules``."""
    stage = assign_lifecycle_stage(features, rules or LifecycleRules())
    return float((stage == "lapsed_seasonal").mean())


def old_rule_count(features: pd.DataFrame) -> int:
    """Customers the rule before this one labelled ``lapsed_seasonal``.

    Lapsed by the ratio rule, a purchase day in ``(as_of - 365, as_of - 365 + season]`` and
    that window holding at least half of the last 365 days' purchase days.
    """
    lapsed = ~features["lifecycle_stage"].isin(ON_RHYTHM)
    in_season = features["purchases_season_last_year"]
    share = in_season / features["purchases_365d"].clip(lower=1)
    return int((lapsed & (in_season > 0) & (share >= 0.5)).sum())


def seasons_bought(log: SimulatedLog, cutoff: str) -> pd.Series:
    """Per seasonal customer: distinct years with a purchase day in their season, to ``cutoff``."""
    ledger = build_ledger(log.transactions)
    ledger = ledger[(ledger["net_amount"] > 0) & (ledger["date"] <= pd.Timestamp(cutoff))]
    season = log.customers["season"].reindex(ledger["customer_id"]).to_numpy()
    month_day = ledger["date"].dt.strftime("%m-%d").to_numpy()
    inside = np.zeros(len(ledger), dtype=bool)
    for name, (first, last) in DEFAULT_SEASONS.items():
        inside |= (season == name) & (month_day >= first) & (month_day <= last)
    years = ledger.loc[inside, "date"].dt.year
    return years.groupby(ledger.loc[inside, "customer_id"]).nunique()


@dataclass(frozen=True)
class Recall:
    """Recall and precision of ``lapsed_seasonal`` at one cut-off of a default log."""

    cutoff: str
    targets: dict[str, int]  # season -> seasonal customers that should be labelled
    hits: dict[str, int]  # season -> of those, labelled lapsed_seasonal
    missed_season: dict[str, int]  # season -> targets silent > seasonal_max_silence_days
    labelled: int  # customers labelled lapsed_seasonal
    labelled_seasonal: int  # of those, seasonal customers (alive or not)
    labelled_alive_seasonal: int  # of those, seasonal customers alive at the cut-off

    @property
    def recall(self) -> float:
        return sum(self.hits.values()) / max(sum(self.targets.values()), 1)

    @property
    def recall_not_missed(self) -> float:
        """Recall among the targets who have not yet missed their season."""
        targets = sum(self.targets.values()) - sum(self.missed_season.values())
        return sum(self.hits.values()) / max(targets, 1)

    @property
    def precision(self) -> float:
        return self.labelled_alive_seasonal / max(self.labelled, 1)


def seasonal_recall(log: SimulatedLog, cutoff: str, rules: LifecycleRules | None = None) -> Recall:
    """Measure ``lapsed_seasonal`` at ``cutoff`` against the simulator's truth (see above)."""
    rules = rules or LifecycleRules()
    features = customer_features(log.transactions, cutoff)
    stage = assign_lifecycle_stage(features, rules)
    truth = log.customers.reindex(features.index)
    alive = log.alive_at(cutoff).reindex(features.index, fill_value=False).to_numpy(bool)
    years = seasons_bought(log, cutoff).reindex(features.index, fill_value=0).to_numpy()
    seasonal = (truth["segment"] == "seasonal").to_numpy()
    labelled = (stage == "lapsed_seasonal").to_numpy()
    target = seasonal & alive & ~stage.isin(ON_RHYTHM).to_numpy() & (years >= 2)
    silent = features["days_since_last"].to_numpy() > rules.seasonal_max_silence_days
    targets, hits, missed = {}, {}, {}
    for name in DEFAULT_SEASONS:
        mine = target & (truth["season"] == name).to_numpy()
        targets[name], hits[name] = int(mine.sum()), int((mine & labelled).sum())
        missed[name] = int((mine & silent).sum())
    return Recall(
        cutoff=cutoff,
        targets=targets,
        hits=hits,
        missed_season=missed,
        labelled=int(labelled.sum()),
        labelled_seasonal=int((labelled & seasonal).sum()),
        labelled_alive_seasonal=int((labelled & seasonal & alive).sum()),
    )


def main(
    thresholds: Sequence[float] = (0.8, 0.85, 0.9, 0.95),
    seeds: Sequence[int] = (0, 1, 2),
) -> None:
    """Print the figures of docs/features.md (section Life-cycle stages)."""
    rules = {t: LifecycleRules(seasonal_min_concentration=t) for t in thresholds}
    print("Non-seasonal logs, 5,000 customers, 2021-01-01..2023-06-30: share lapsed_seasonal")
    cutoffs = ("2023-06-30", "2023-03-31", "2022-12-31", "2022-09-30")
    for seed in seeds:
        log = non_seasonal_log(5_000, seed)
        for cutoff in cutoffs:
            f = customer_features(log.transactions, cutoff)
            shares = "  ".join(f"R>={t}: {seasonal_share(f, r):.2%}" for t, r in rules.items())
            old = old_rule_count(f) / len(f)
            print(f"  seed {seed} {cutoff} ({len(f):,} customers)  old rule {old:.1%}  {shares}")
    print("Default logs, 20,000 customers, 2021-01-01..2023-12-31: recall / precision")
    for seed in seeds:
        log = simulate(20_000, seed=seed)
        for cutoff in ("2023-06-30", "2023-09-30"):
            f = customer_features(log.transactions, cutoff)
            regular = (log.customers["segment"].reindex(f.index) != "seasonal").to_numpy()
            print(
                f"  seed {seed} {cutoff}: old rule labelled {old_rule_count(f)}, of which "
                f"{old_rule_count(f.loc[regular])} non-seasonal customers"
            )
            for t, r in rules.items():
                m = seasonal_recall(log, cutoff, r)
                per = ", ".join(
                    f"{k} {m.hits[k]}/{m.targets[k]} ({m.missed_season[k]} missed it)"
                    for k in m.targets
                )
                print(
                    f"  seed {seed} {cutoff} R>={t}: recall {m.recall:.1%} ({per}), "
                    f"{m.recall_not_missed:.1%} of those who have not missed their season; "
                    f"labelled {m.labelled}: {m.labelled_seasonal} seasonal, "
                    f"{m.labelled_alive_seasonal} alive seasonal ({m.precision:.1%})"
                )
    print("The old report: 300 non-seasonal customers, 2022-07-01..2023-06-30, features at the end")
    for season in (90, 184, 273):
        counts = []
        for seed in range(5):
            log = simulate(
                300,
                seed=seed,
                start="2022-07-01",
                end="2023-06-30",
                segment_shares=NON_SEASONAL,
            )
            f = customer_features(
                log.transactions, "2023-06-30", windows=FeatureWindows(season=season)
            )
            new = int((f["lifecycle_stage"] == "lapsed_seasonal").sum())
            counts.append(f"{old_rule_count(f)} -> {new}")
        print(f"  season={season}: old rule -> new rule, seeds 0-4: {'; '.join(counts)}")


if __name__ == "__main__":
    main()
