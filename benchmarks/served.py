"""Forward test of what is served: train with the CLI, score the next season, compare with truth.

``make forward-test`` (or ``python -m benchmarks.served``) runs the whole production flow on a
simulator scenario whose future is known (``churnmodel.datasets.scenarios``; default
``seasonal_retailer``: a 2.5-year log ending on 30 June, seasonal customers who buy almost only
in November and December, regular, declining, promotion-only and high-value customers beside
them):

1. write the log up to the serving day ``S`` (30 June) to Parquet;
2. ``churnmodel train --data log.parquet --horizon-days 184`` into a fresh MLflow store (one
   per variant and seed), exactly as a user runs it;
3. ``churnmodel score --as-of S`` with the version that run registered;
4. compare the scores with what the customers did in ``(S, S + 184]`` (the scenario's
   truth): lapse ROC AUC of ``p_churn`` against BG/NBD's P(no purchase in 184 days) on the
   same customers (fitted on the same log), the seasonal customers' AUC, spend Spearman
   and the total spend error of ``expected_spend``.

Variants change one setting of the flow (a ``[model]`` section of a TOML config), so each
change can be measured alone; ``--command`` runs another checkout's ``churnmodel`` (e.g. an
earlier commit installed elsewhere) for the flow as it was. Several seeds, never one number:
each seed draws another population from the same scenario. Results are printed and written
to ``benchmarks/results/served.json``.

Targets (issue: the served champion): lapse AUC >= BG/NBD + 0.03, seasonal customers' AUC
>= 0.85, spend Spearman >= 0.70, total spend within 5 %.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
HORIZON = 184

#: Variant name -> ``[model]`` settings (empty: the defaults, everything on).
VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "all": {},
    "no_refit": {"refit": False},
    "season_window_90": {"season_days": 90},
    "last_year_only": {"same_window_years": 1},
    "no_same_window": {"same_window_years": 0},
    "no_monotonic": {"monotonic": False},
    "no_season_level": {"season_level": False},
    "before": {
        "refit": False,
        "season_days": 90,
        "same_window_years": 1,
        "season_level": False,
        "monotonic": False,
    },
}

TARGETS = {
    "auc_vs_bgnbd": 0.03,
    "seasonal_auc": 0.85,
    "spend_spearman": 0.70,
    "total_spend_error": 0.05,
}


def _toml(section: Mapping[str, Any]) -> str:
    lines = ["[model]"]
    for key, value in section.items():
        text = str(value).lower() if isinstance(value, bool) else repr(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def _run(command: Sequence[str], env: Mapping[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}; see {log}")
    return time.perf_counter() - started


def _auc(label: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if label.min() == label.max():
        return float("nan")
    return float(roc_auc_score(label, score))


def bgnbd_baseline(transactions: pd.DataFrame, as_of: date, horizon: int) -> pd.DataFrame:
    """BG/NBD's P(no purchase in ``horizon`` days) and BG/NBD x Gamma-Gamma spend at ``as_of``."""
    from churnmodel.features import customer_features
    from churnmodel.models import ProbabilisticFeatures

    features = customer_features(transactions, as_of)
    prob = ProbabilisticFeatures(purchase_model="bgnbd").fit(features).transform(features, horizon)
    return pd.DataFrame(
        {
            "bgnbd_p_no_purchase": prob["prob_p_no_purchase"],
            "bgnbd_gg_spend": prob["prob_expected_spend"],
            "days_since_last": features["days_since_last"],
        }
    )


def compare(scores: pd.DataFrame, truth: pd.DataFrame, baseline: pd.DataFrame) -> dict[str, Any]:
    """Score the served forecast against the truth of the window (one row per customer)."""
    joined = truth.join(scores.set_index("customer_id"), how="inner").join(baseline, how="inner")
    if len(joined) != len(truth):
        raise RuntimeError(
            f"the scores cover {len(joined):,} of the {len(truth):,} customers known at the "
            "serving day"
        )
    from scipy.stats import spearmanr

    lapsed = joined["lapsed"].astype(int).to_numpy()
    seasonal = (joined["segment"] == "seasonal").to_numpy()
    actual = joined["spend_next"].to_numpy(dtype=float)
    predicted = joined["expected_spend"].to_numpy(dtype=float)
    out = {
        "customers": len(joined),
        "lapse_rate": float(lapsed.mean()),
        "lapse_auc": _auc(lapsed, joined["p_churn"].to_numpy()),
        "bgnbd_auc": _auc(lapsed, joined["bgnbd_p_no_purchase"].to_numpy()),
        "recency_auc": _auc(lapsed, joined["days_since_last"].to_numpy(dtype=float)),
        "seasonal_auc": _auc(lapsed[seasonal], joined["p_churn"].to_numpy()[seasonal]),
        "seasonal_bgnbd_auc": _auc(
            lapsed[seasonal], joined["bgnbd_p_no_purchase"].to_numpy()[seasonal]
        ),
        "spend_spearman": float(spearmanr(predicted, actual).statistic),
        "bgnbd_gg_spearman": float(
            spearmanr(joined["bgnbd_gg_spend"].to_numpy(dtype=float), actual).statistic
        ),
        "total_spend_error": float(predicted.sum() / actual.sum() - 1.0),
        "bgnbd_gg_total_error": float(joined["bgnbd_gg_spend"].sum() / actual.sum() - 1.0),
        "oracle_auc": _auc(lapsed, joined["p_lapse"].to_numpy()),
        "oracle_seasonal_auc": _auc(lapsed[seasonal], joined["p_lapse"].to_numpy()[seasonal]),
        "brier": float(np.mean((joined["p_churn"].to_numpy() - lapsed) ** 2)),
        "p_churn_distinct": int(joined["p_churn"].nunique()),
    }
    out["auc_vs_bgnbd"] = out["lapse_auc"] - out["bgnbd_auc"]
    return out


def meets(row: Mapping[str, Any]) -> dict[str, bool]:
    """Which of the issue's targets a result meets."""
    return {
        "auc_vs_bgnbd": row["auc_vs_bgnbd"] >= TARGETS["auc_vs_bgnbd"],
        "seasonal_auc": row["seasonal_auc"] >= TARGETS["seasonal_auc"],
        "spend_spearman": row["spend_spearman"] >= TARGETS["spend_spearman"],
        "total_spend_error": abs(row["total_spend_error"]) <= TARGETS["total_spend_error"],
    }


def forward_test(
    *,
    scenario: str,
    customers: int,
    seed: int,
    variant: str,
    settings: Mapping[str, Any],
    command: Sequence[str],
    workdir: Path,
) -> dict[str, Any]:
    """Train and score one variant on one draw of the scenario; return the comparison."""
    from churnmodel.datasets import SCENARIOS

    sc = SCENARIOS[scenario](customers, seed, horizon_days=HORIZON)
    folder = workdir / f"{variant}-{seed}"
    folder.mkdir(parents=True)
    log = folder / "transactions.parquet"
    sc.transactions.to_parquet(log, index=False)
    config = folder / "variant.toml"
    config.write_text(_toml(settings))
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env["CHURNMODEL_TRACKING__URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    env["CHURNMODEL_TRACKING__ARTIFACT_ROOT"] = str(folder / "mlartifacts")
    output = folder / "run.log"
    train = [*command, "train", "--data", str(log), "--horizon-days", str(HORIZON)]
    if settings:
        train += ["--config", str(config)]
    train_s = _run(train, env, output)
    scores_path = folder / "scores.parquet"
    score = [
        *command,
        "score",
        "--data",
        str(log),
        "--as-of",
        sc.end.isoformat(),
        "--model",
        "models:/churnmodel/1",
        "--output",
        str(scores_path),
    ]
    score_s = _run(score, env, output)
    scores = pd.read_parquet(scores_path)
    baseline = bgnbd_baseline(sc.transactions, sc.end, HORIZON)
    row = compare(scores, sc.truth(), baseline)
    row.update(_estimates(env["CHURNMODEL_TRACKING__URI"]))
    row.update(variant=variant, seed=seed, train_s=round(train_s, 1), score_s=round(score_s, 1))
    return row


def _estimates(tracking_uri: str) -> dict[str, float]:
    """What the training run promised: its holdout and season-aligned lapse ROC AUC."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("churnmodel")
    runs = (
        client.search_runs(
            experiment_ids=[experiment.experiment_id],
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if experiment is not None
        else []
    )
    metrics = runs[0].data.metrics if runs else {}
    names = {"holdout_auc": "lapse_roc_auc", "aligned_auc": "aligned_lapse_roc_auc"}
    return {key: float(metrics.get(name, float("nan"))) for key, name in names.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the forward test for the chosen variants and seeds; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="seasonal_retailer")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants", nargs="+", default=["all"], choices=sorted(VARIANTS), metavar="VARIANT"
    )
    parser.add_argument(
        "--command",
        default=None,
        help="churnmodel executable to run (default: this environment's); e.g. another "
        "checkout's .venv/bin/churnmodel for the flow as it was",
    )
    parser.add_argument("--label", default=None, help="name of this run in the results")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    command = [args.command] if args.command else [sys.executable, "-m", "churnmodel.cli"]
    workdir = Path(tempfile.mkdtemp(prefix="churnmodel-served-"))
    rows = []
    keep = args.keep
    try:
        for variant in args.variants:
            for seed in args.seeds:
                print(f"{variant} seed {seed} ...", file=sys.stderr, flush=True)
                row = forward_test(
                    scenario=args.scenario,
                    customers=args.customers,
                    seed=seed,
                    variant=args.label or variant,
                    settings=VARIANTS[variant],
                    command=command,
                    workdir=workdir,
                )
                rows.append(row)
                print(_line(row), flush=True)
    except BaseException:
        keep = True  # the logs say what went wrong
        raise
    finally:
        if keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    table = pd.DataFrame(rows)
    summary = table.groupby("variant", sort=False).mean(numeric_only=True)
    print("\nmean over seeds:")
    print(summary.loc[:, _COLUMNS].to_string(float_format=lambda v: f"{v:.3f}"))
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / "served.json"
    previous = json.loads(target.read_text()) if target.exists() else []
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    previous += [{"when": stamp, "scenario": args.scenario, **r} for r in rows]
    target.write_text(json.dumps(previous, indent=2, default=str))
    return 0


_COLUMNS = [
    "holdout_auc",
    "aligned_auc",
    "lapse_auc",
    "bgnbd_auc",
    "auc_vs_bgnbd",
    "seasonal_auc",
    "seasonal_bgnbd_auc",
    "oracle_seasonal_auc",
    "spend_spearman",
    "total_spend_error",
    "brier",
    "train_s",
]


def _line(row: Mapping[str, Any]) -> str:
    ok = meets(row)
    marks = " ".join(f"{k}={'ok' if v else 'MISS'}" for k, v in ok.items())
    return (
        f"{row['variant']:<18} seed {row['seed']}: AUC {row['lapse_auc']:.3f} vs BG/NBD "
        f"{row['bgnbd_auc']:.3f} ({row['auc_vs_bgnbd']:+.3f}); seasonal {row['seasonal_auc']:.3f}"
        f" (BG/NBD {row['seasonal_bgnbd_auc']:.3f}); spend Spearman {row['spend_spearman']:.3f},"
        f" total {row['total_spend_error']:+.1%}; train {row['train_s']} s  [{marks}]"
    )


if __name__ == "__main__":
    raise SystemExit(main())
