"""The headline of a scorecard: four metrics and how far the model is from what it must beat.

A scorecard (:mod:`churnmodel.evaluation.scorecard`) holds dozens of numbers. Whether a model
is worth serving is read off four of them, each beside the best baseline and the current
champion scored on the same customers:

* lapse ROC AUC (ranking; higher is better) and lapse Brier score (calibrated probabilities;
  lower is better);
* spend Spearman correlation (ranking; higher is better) and spend normalized Gini
  (concentration of spend among the top-ranked customers; higher is better).

:func:`headline_metrics` returns them under MLflow names: ``lapse_roc_auc``, then
``lapse_roc_auc_vs_baseline`` (the model minus the best baseline on that metric: the highest
ROC AUC, or the lowest Brier score) and ``lapse_roc_auc_vs_champion`` (the model minus the
champion), and the same for ``lapse_brier``, ``spend_spearman`` and ``spend_normalized_gini``.
A positive ``_vs_`` difference is a win for ROC AUC, Spearman and Gini; a negative one for
the Brier score. A difference whose other side was not scored (no champion, no baseline with
a Brier score) is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from churnmodel.evaluation.scorecard import Scorecard

__all__ = ["HEADLINE", "Headline", "headline_metrics"]

#: (task, metric, better): the headline metrics in the order they are shown.
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("lapse", "roc_auc", "higher"),
    ("lapse", "brier", "lower"),
    ("spend", "spearman", "higher"),
    ("spend", "normalized_gini", "higher"),
)


@dataclass(frozen=True)
class Headline:
    """The headline metrics of one scorecard.

    Attributes
    ----------
    metrics
        MLflow name -> value, in display order (see the module docstring).
    best_baseline
        ``{task}_{metric}`` -> the name of the baseline the model was compared with.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    best_baseline: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The metric names, in display order."""
        return tuple(self.metrics)


def _value(card: Scorecard, task: str, name: str, metric: str) -> float:
    table = card.table
    row = table[(table["task"] == task) & (table["name"] == name)]
    if row.empty or metric not in row.columns:
        return math.nan
    return float(row[metric].iloc[0])


def headline_metrics(card: Scorecard, *, compare: str = "champion") -> Headline:
    """Return the headline metrics of ``card`` and their differences (module docstring).

    Parameters
    ----------
    card
        A scorecard with a chosen model per task.
    compare
        Name the champion was scored under (:func:`churnmodel.workflows.evaluate_holdout`'s
        ``compare``): its rows are ``{compare}_lapse`` and ``{compare}_spend``.

    Returns
    -------
    Headline
    """
    table = card.table
    metrics: dict[str, float] = {}
    best: dict[str, str] = {}
    for task, metric, better in HEADLINE:
        chosen = card.chosen.get(task)
        if chosen is None:
            continue
        value = _value(card, task, chosen, metric)
        if math.isnan(value):
            continue
        key = f"{task}_{metric}"
        metrics[key] = value
        baselines = table[(table["task"] == task) & (table["kind"] == "baseline")]
        scored = baselines[baselines[metric].notna()].reset_index(drop=True)
        if not scored.empty:
            values = scored[metric].to_numpy(dtype=float)
            pick = int(values.argmax() if better == "higher" else values.argmin())
            best[key] = str(scored["name"].iloc[pick])
            metrics[f"{key}_vs_baseline"] = value - float(values[pick])
        champion = _value(card, task, f"{compare}_{task}", metric)
        if not math.isnan(champion):
            metrics[f"{key}_vs_champion"] = value - champion
    return Headline(metrics=metrics, best_baseline=best)
