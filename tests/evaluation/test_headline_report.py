"""The headline metrics of a scorecard and the scorecard as small tables and Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.evaluation import (
    Prediction,
    Scorecard,
    headline_metrics,
    markdown_table,
    scorecard,
    scorecard_markdown,
    scorecard_tables,
)

N = 600


@pytest.fixture(scope="module")
def card() -> Scorecard:
    rng = np.random.default_rng(3)
    ids = pd.Index([f"C{i:04d}" for i in range(N)], name="customer_id")
    y = pd.Series(rng.integers(0, 2, N), index=ids)
    good = pd.Series(1 / (1 + np.exp(-(2.0 * y - 1 + rng.normal(0, 1.0, N)))), index=ids)
    fair = pd.Series(1 / (1 + np.exp(-(1.0 * y - 0.5 + rng.normal(0, 1.0, N)))), index=ids)
    days = pd.Series((rng.integers(0, 50, N) + 10 * y).astype(float), index=ids)
    spend = pd.Series(rng.gamma(1.0, 40.0, N) * (rng.random(N) < 0.6), index=ids)
    noisy = spend * rng.uniform(0.5, 1.5, N) + rng.gamma(1.0, 5.0, N)
    return scorecard(
        lapse_label=y,
        lapse_scores={
            "classifier": good,
            "champion_lapse": Prediction(fair, kind="model"),
            "baseline_recency": days,
            "baseline_bgnbd": fair,
        },
        spend_actual=spend,
        spend_predictions={
            "spend_model": noisy,
            "champion_spend": Prediction(noisy * 0.9 + 1, kind="model"),
            "baseline_scaled_spend": pd.Series(rng.gamma(1.0, 40.0, N), index=ids),
        },
        lapse_model="classifier",
        spend_model="spend_model",
        n_boot=50,
    )


def _value(card: Scorecard, name: str, metric: str) -> float:
    t = card.table
    return float(t.loc[t["name"] == name, metric].iloc[0])


def test_headline_holds_four_metrics_and_their_differences_in_order(card: Scorecard) -> None:
    head = headline_metrics(card)
    assert head.names[:3] == (
        "lapse_roc_auc",
        "lapse_roc_auc_vs_baseline",
        "lapse_roc_auc_vs_champion",
    )
    best_auc = max(
        _value(card, "baseline_recency", "roc_auc"), _value(card, "baseline_bgnbd", "roc_auc")
    )
    assert head.metrics["lapse_roc_auc_vs_baseline"] == pytest.approx(
        _value(card, "classifier", "roc_auc") - best_auc
    )
    # Brier: only the BG/NBD baseline is a probability; lower is better
    assert head.best_baseline["lapse_brier"] == "baseline_bgnbd"
    assert head.metrics["lapse_brier_vs_baseline"] == pytest.approx(
        _value(card, "classifier", "brier") - _value(card, "baseline_bgnbd", "brier")
    )
    assert head.metrics["spend_spearman_vs_champion"] == pytest.approx(
        _value(card, "spend_model", "spearman") - _value(card, "champion_spend", "spearman")
    )
    assert "spend_normalized_gini_vs_baseline" in head.metrics


def test_without_a_champion_the_champion_differences_are_left_out(card: Scorecard) -> None:
    head = headline_metrics(card, compare="nobody")
    assert not any(k.endswith("_vs_champion") for k in head.metrics)
    assert "lapse_roc_auc_vs_baseline" in head.metrics


def test_tables_are_narrow_rounded_and_in_reading_order(card: Scorecard) -> None:
    tables = scorecard_tables(card, labels={"baseline_recency": "days since last"})
    lapse = tables["lapse"]
    assert list(lapse["model"]) == [
        "classifier",
        "champion_lapse",
        "days since last",
        "baseline_bgnbd",
    ]
    assert lapse.shape[1] == 5
    cell = lapse.loc[0, "ROC AUC [95% interval]"]
    assert cell.count(".") == 3 and "[" in cell  # value [low, high], 3 decimals each
    assert lapse.loc[2, "Brier"] == "–"  # days since last is not a probability
    spend = tables["spend"]
    assert spend.loc[0, "total spend error"].endswith("%")


def test_markdown_has_a_table_per_task_with_the_model_in_bold(card: Scorecard) -> None:
    text = scorecard_markdown(card, titles={"lapse": "Lapse", "spend": "Spend"})
    assert text.count("|---|---|---|---|---|\n") == 2
    assert "| **classifier**&ensp; |" in text
    assert text.index("Lapse") < text.index("Spend")


def test_markdown_table_escapes_pipes() -> None:
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert text.splitlines()[2] == "| x/y | 1 |"
