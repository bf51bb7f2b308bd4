"""What a training run shows first: headline metrics, the Markdown scorecard, the backtest.

The training job (:mod:`churnmodel.workflows.train`) logs dozens of metrics. A reader of the
MLflow UI should see, without digging, whether the model beats the baselines and the current
champion and by how much. This module decides how a run reads; the tracking layer only writes
it:

* :func:`run_metrics`: the metrics in the order they are logged (the UI lists a run's metrics
  in that order): the headline metrics and their differences to the best baseline and the
  champion first (:func:`churnmodel.evaluation.headline_metrics`), then the scorecard, the
  season-aligned scorecard (``aligned_*``), everything rounded to :data:`DIGITS` decimals (so
  the promotion rules compare what the UI shows);
* :func:`backtest_series`: the backtest as step metrics ``backtest/<metric>``, one point per
  cut-off (step = days from the first day of the log to the cut-off; the point's time is the
  cut-off's date), so the UI draws lines;
* :func:`describe_run`: the run's description, a small Markdown scorecard (headline with the
  differences, model beside baselines and champion with intervals, the backtest, which data
  each model saw, the promotion decision).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnmodel.evaluation import Scorecard, headline_metrics, markdown_table, scorecard_tables

if TYPE_CHECKING:
    from churnmodel.workflows.train import TrainingOutcome

__all__ = [
    "BACKTEST_METRICS",
    "DIGITS",
    "VIEW_METRICS",
    "VIEW_TAGS",
    "RunMetrics",
    "backtest_series",
    "describe_run",
    "row_labels",
    "run_metrics",
]

#: Decimals of every logged metric.
DIGITS = 4

#: The runs-table columns of the saved headline view: the headline metrics and differences.
VIEW_METRICS: tuple[str, ...] = tuple(
    f"{task}_{metric}{suffix}"
    for task, metric in (
        ("lapse", "roc_auc"),
        ("lapse", "brier"),
        ("spend", "spearman"),
        ("spend", "normalized_gini"),
    )
    for suffix in ("", "_vs_baseline", "_vs_champion")
)
#: Run tags shown in the saved headline view.
VIEW_TAGS: tuple[str, ...] = ("promotion", "registered_version")

#: Scorecard metrics logged per backtest cut-off (``backtest/<name>``), when present.
BACKTEST_METRICS: tuple[str, ...] = (
    "lapse_roc_auc",
    "baseline_recency_roc_auc",
    "baseline_bgnbd_roc_auc",
    "lapse_brier",
    "lapse_base_rate",
    "spend_spearman",
    "baseline_bgnbd_gg_spearman",
    "spend_normalized_gini",
)


def _round(value: float) -> float:
    return round(float(value), DIGITS) if math.isfinite(float(value)) else float(value)


@dataclass(frozen=True)
class RunMetrics:
    """A run's metrics in logging order.

    ``headline`` (logged first, so the UI lists them first) and ``rest``; both rounded.
    ``best_baseline`` names the baseline each headline difference was taken against.
    """

    headline: dict[str, float]
    rest: dict[str, float]
    best_baseline: dict[str, str]

    @property
    def all(self) -> dict[str, float]:
        """Every metric, headline first."""
        return {**self.headline, **self.rest}


def run_metrics(outcome: TrainingOutcome) -> RunMetrics:
    """Return the run's metrics, headline first, rounded (module docstring)."""
    head = headline_metrics(outcome.scorecard)
    headline = {k: _round(v) for k, v in head.metrics.items()}
    rest: dict[str, float] = {}
    for key, value in outcome.scorecard.to_metrics_dict().items():
        if key not in headline:
            rest[key] = _round(value)
    if outcome.aligned is not None:
        aligned = headline_metrics(outcome.aligned)
        for key, value in aligned.metrics.items():
            rest[f"aligned_{key}"] = _round(value)
        for key, value in outcome.aligned.to_metrics_dict().items():
            rest.setdefault(f"aligned_{key}", _round(value))
    return RunMetrics(headline=headline, rest=rest, best_baseline=dict(head.best_baseline))


def _cutoff_time(day: date) -> float:
    """Seconds since the epoch of the cut-off's midnight (UTC)."""
    return datetime.combine(day, time(0), tzinfo=UTC).timestamp()


def backtest_series(
    table: pd.DataFrame, chosen: Mapping[str, str], *, first_day: date
) -> dict[str, list[tuple[int, float, float]]]:
    """Return ``backtest/<metric>`` -> ``[(step, value, time)]``, one point per cut-off.

    ``table`` is the stacked scorecards of the backtest (``TrainingOutcome.backtest``) and
    ``chosen`` the scorecard's chosen model per task. The step is the number of days from
    ``first_day`` (the first day of the log) to the cut-off, the time the cut-off's midnight
    (UTC), so both of the UI's x axes read as the cut-off.
    """
    series: dict[str, list[tuple[int, float, float]]] = {}
    for cutoff, rows in table.groupby("cutoff", sort=True):
        day = pd.Timestamp(cutoff).date()  # type: ignore[arg-type]
        card = Scorecard(table=rows.drop(columns="cutoff").reset_index(drop=True), chosen=chosen)
        values = card.to_metrics_dict()
        step = (day - first_day).days
        for name in BACKTEST_METRICS:
            if name in values:
                point = (step, _round(values[name]), _cutoff_time(day))
                series.setdefault(f"backtest/{name}", []).append(point)
    return series


def row_labels(params: Mapping[str, Any], champion: str | None) -> dict[str, str]:
    """Return what to call each scorecard row in the description."""
    purchase = str(params.get("purchase_model", "bgnbd"))
    model_names = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto": "Pareto/NBD"}
    pm = model_names.get(purchase, purchase)
    calibration = params.get("calibration")
    return {
        "classifier": f"model ({params.get('classifier', 'classifier')}"
        + (f", {calibration} calibration)" if calibration not in (None, "None") else ")"),
        "classifier_uncalibrated": "model before calibration",
        "classifier_logistic": "logistic regression (not chosen)",
        "champion_lapse": f"champion {champion}" if champion else "champion",
        "baseline_recency": "baseline: days since last purchase",
        f"baseline_{purchase}": f"baseline: {pm} P(no purchase)",
        "spend_model": f"model ({params.get('spend_model', 'spend model')})",
        "spend_glm": "GLM (not chosen)",
        "champion_spend": f"champion {champion}" if champion else "champion",
        f"baseline_{purchase}_gg": f"baseline: {pm} x Gamma-Gamma",
        "baseline_scaled_spend": "baseline: past spend scaled to the horizon",
    }


_HEADLINE_NAMES = {
    "lapse_roc_auc": "lapse ROC AUC (higher is better)",
    "lapse_brier": "lapse Brier score (lower is better)",
    "spend_spearman": "spend Spearman (higher is better)",
    "spend_normalized_gini": "spend Gini (higher is better)",
}


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def _headline_table(
    metrics: Mapping[str, float], best: Mapping[str, str], labels: Mapping[str, str]
) -> str:
    rows = []
    for key, title in _HEADLINE_NAMES.items():
        if key not in metrics:
            continue
        baseline = best.get(key)
        versus = _signed(metrics.get(f"{key}_vs_baseline"))
        if baseline is not None and versus != "–":
            versus += f" ({labels.get(baseline, baseline).removeprefix('baseline: ')})"
        rows.append(
            {
                "": title,
                "model": f"{metrics[key]:.3f}",
                "vs best baseline": versus,
                "vs champion": _signed(metrics.get(f"{key}_vs_champion")),
            }
        )
    return markdown_table(pd.DataFrame(rows), pad=True) if rows else ""


def _backtest_table(table: pd.DataFrame, chosen: Mapping[str, str]) -> str:
    rows = []
    for cutoff, group in table.groupby("cutoff", sort=True):
        card = Scorecard(table=group.drop(columns="cutoff").reset_index(drop=True), chosen=chosen)
        values = card.to_metrics_dict()

        def cell(name: str, values: Mapping[str, float] = values) -> str:
            value = values.get(name)
            return "–" if value is None else f"{value:.3f}"

        rows.append(
            {
                "cut-off": pd.Timestamp(cutoff).date().isoformat(),  # type: ignore[arg-type]
                "lapse ROC AUC": cell("lapse_roc_auc"),
                "days since last": cell("baseline_recency_roc_auc"),
                "lapse rate": cell("lapse_base_rate"),
                "spend Spearman": cell("spend_spearman"),
                "spend Gini": cell("spend_normalized_gini"),
            }
        )
    return markdown_table(pd.DataFrame(rows), pad=True)


def describe_run(
    *,
    title: str,
    data_line: str,
    outcome: TrainingOutcome,
    metrics: RunMetrics,
    champion: str | None,
    decision_line: str,
    rules_line: str,
    provenance: Sequence[str],
    notes: Sequence[str] = (),
    windows: Mapping[str, str],
) -> str:
    """Return the run's Markdown description (module docstring).

    Parameters
    ----------
    title, data_line
        The run's name and one line about the data (source, rows, customers, dates).
    outcome, metrics
        What was evaluated and the metrics as logged.
    champion
        The champion's label (``churnmodel v3``) when one was scored.
    decision_line, rules_line
        What happened to the model (registered, promoted) and the promotion rules' outcome.
    provenance
        The Markdown table of which data each model saw.
    notes
        Sentences about what did not run and why.
    windows
        ``"holdout"`` (and ``"aligned"``) -> the window the scorecard was scored on.
    """
    labels = row_labels(outcome.params, champion)
    all_metrics = metrics.all
    lines = [f"**{title}** · {data_line}", "", f"**{decision_line}** {rules_line}", ""]
    head = _headline_table(all_metrics, metrics.best_baseline, labels)
    if head:
        lines += [f"**Headline**, holdout {windows['holdout']}:", "", head, ""]
    titles = {
        "lapse": f"**Lapse**: no purchase in {windows['holdout']}",
        "spend": f"**Spend** in {windows['holdout']}",
    }
    for task, frame in scorecard_tables(outcome.scorecard, labels=labels).items():
        lines += [titles[task], "", markdown_table(frame, bold_first=True, pad=True), ""]
    if outcome.aligned is not None and "aligned" in windows:
        aligned = {k.removeprefix("aligned_"): v for k, v in all_metrics.items()}
        best = headline_metrics(outcome.aligned).best_baseline
        lines += [
            f"**Season-aligned**: the served window one year earlier, {windows['aligned']}:",
            "",
            _headline_table(aligned, best, labels),
            "",
        ]
    if outcome.backtest is not None:
        lines += [
            "**Backtest**: the same settings fitted at earlier cut-offs:",
            "",
            _backtest_table(outcome.backtest, outcome.scorecard.chosen),
            "",
        ]
    lines += ["**Which data each model saw**", "", *provenance, ""]
    lines += [f"{note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def run_name(label: str, cutoff: date, horizon_days: int, when: datetime) -> str:
    """``cdnow 1997-09-30 +273d 2026-12-07T10:31``: data, cut-off, horizon, local time."""
    return f"{label} {cutoff.isoformat()} +{horizon_days}d {when:%Y-%m-%dT%H:%M}"


def window_text(start: date, days: int) -> str:
    """``1997-10-01 .. 1998-06-30``: the ``days`` days after ``start``."""
    first, last = start + timedelta(days=1), start + timedelta(days=days)
    return f"{first.isoformat()} .. {last.isoformat()}"
