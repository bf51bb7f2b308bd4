"""One scorecard for every model and every baseline on a holdout.

:func:`scorecard` scores named lapse scores against the holdout lapse label and named spend
predictions against the holdout spend, and returns a :class:`Scorecard`: a tidy table with one
row per (task, name), baselines always beside the models, and :meth:`Scorecard.to_metrics_dict`
for MLflow.

MLflow metric names
-------------------
* the task's chosen model: ``{task}_{metric}``, e.g. ``lapse_roc_auc``, ``spend_spearman``;
* a baseline: ``{name}_{metric}``, e.g. ``baseline_recency_roc_auc``; a baseline whose name does
  not start with ``baseline_`` gets that prefix, so every baseline metric starts with it;
* any other model: ``{name}_{metric}``, e.g. ``gbm_roc_auc``;
* per-task context, once per task: ``{task}_n_customers``, ``lapse_base_rate``,
  ``spend_actual_total``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from churnmodel.evaluation import metrics as m
from churnmodel.exceptions import ConfigError, DataValidationError

__all__ = [
    "LAPSE_METRICS",
    "SPEND_METRICS",
    "Prediction",
    "Scorecard",
    "scorecard",
]

Kind = Literal["model", "baseline"]
Task = Literal["lapse", "spend"]

BASELINE_PREFIX = "baseline_"

LAPSE_METRICS: tuple[str, ...] = (
    "roc_auc",
    "roc_auc_ci_low",
    "roc_auc_ci_high",
    "pr_auc",
    "brier",
    "log_loss",
    "top_decile_lift",
)
"""Metric columns filled for lapse rows (NaN in spend rows)."""

SPEND_METRICS: tuple[str, ...] = (
    "spearman",
    "spearman_ci_low",
    "spearman_ci_high",
    "normalized_gini",
    "top_decile_capture",
    "decile_mape",
    "predicted_total",
    "total_relative_error",
)
"""Metric columns filled for spend rows (NaN in lapse rows)."""

_CONTEXT: dict[str, tuple[str, ...]] = {
    "lapse": ("n_customers", "base_rate"),
    "spend": ("n_customers", "actual_total"),
}
_CONTEXT_COLUMNS = ("n_customers", "base_rate", "actual_total")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class Prediction:
    """A named prediction and how the scorecard treats it.

    A plain Series passed to :func:`scorecard` is a baseline when its name starts with
    ``baseline_`` and a model otherwise; wrap it in ``Prediction`` to say so explicitly.

    Attributes
    ----------
    values
        Prediction per customer, indexed by ``customer_id``.
    kind
        ``"model"`` or ``"baseline"``.
    is_probability
        For lapse scores: whether the score is a probability, which decides if Brier score and
        log loss apply. ``None`` (default) infers it: a score is a probability when every value
        lies in ``[0, 1]``. ``False`` reports NaN for both even for values in ``[0, 1]`` (a
        rank score, say); ``True`` raises if a value falls outside ``[0, 1]``.
    """

    values: pd.Series
    kind: Kind = "model"
    is_probability: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("model", "baseline"):
            raise ConfigError(f"'kind' must be 'model' or 'baseline', got {self.kind!r}")
        if not isinstance(self.values, pd.Series):
            raise ConfigError(
                f"a prediction must be a pandas Series indexed by customer_id, "
                f"got {type(self.values).__name__}"
            )


@dataclass(frozen=True)
class Scorecard:
    """Holdout metrics of every model and baseline, one row per (task, name).

    Attributes
    ----------
    table
        Columns ``task``, ``name``, ``kind`` (``"model"``/``"baseline"``), ``chosen`` (the
        task's chosen model), ``n_customers``, ``base_rate`` (lapse rate, lapse rows),
        ``actual_total`` (holdout revenue, spend rows), then :data:`LAPSE_METRICS` and
        :data:`SPEND_METRICS` (NaN where a metric does not apply). Rows: lapse then spend; in
        each task the chosen model, other models, then baselines, in the order given.
    chosen
        The chosen model's name per task that has one.
    """

    table: pd.DataFrame
    chosen: Mapping[str, str] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of :attr:`table`."""
        return self.table.copy()

    def metric_prefix(self, task: str, name: str) -> str:
        """Prefix of the MLflow metric names of one row (module docstring)."""
        if self.chosen.get(task) == name:
            return task
        row = self.table[(self.table["task"] == task) & (self.table["name"] == name)]
        if row.empty:
            raise ConfigError(f"the scorecard has no {task} row named {name!r}")
        kind = row["kind"].iloc[0]
        if kind == "baseline" and not name.startswith(BASELINE_PREFIX):
            return BASELINE_PREFIX + name
        return name

    def to_metrics_dict(self, *, include_nan: bool = False) -> dict[str, float]:
        """Flat metric names and values for ``mlflow.log_metrics``.

        Parameters
        ----------
        include_nan
            Keep metrics that do not apply (Brier score of a non-probability score, say) as
            NaN. By default they are left out: an absent metric reads as "not applicable".

        Returns
        -------
        dict
            Names per the rule in the module docstring, e.g. ``lapse_roc_auc``,
            ``baseline_recency_roc_auc``, ``spend_spearman``, ``lapse_n_customers``.

        Raises
        ------
        ConfigError
            If two rows would produce the same metric name.
        """
        out: dict[str, float] = {}

        def put(key: str, value: object) -> None:
            number = float(value)  # type: ignore[arg-type]
            if math.isnan(number) and not include_nan:
                return
            if key in out:
                raise ConfigError(
                    f"two scorecard entries map to the MLflow metric {key!r}; rename one"
                )
            out[key] = number

        for task, context in _CONTEXT.items():
            rows = self.table[self.table["task"] == task]
            if rows.empty:
                continue
            for column in context:
                put(f"{task}_{column}", rows[column].iloc[0])
        for row in self.table.itertuples(index=False):
            task = str(row.task)
            prefix = self.metric_prefix(task, str(row.name))
            for metric in LAPSE_METRICS if task == "lapse" else SPEND_METRICS:
                put(f"{prefix}_{metric}", getattr(row, metric))
        return out


def _entries(
    task: Task, predictions: Mapping[str, pd.Series | Prediction]
) -> list[tuple[str, Prediction]]:
    if not isinstance(predictions, Mapping) or not predictions:
        raise ConfigError(f"{task} predictions must be a non-empty mapping of name -> Series")
    out = []
    for name, value in predictions.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                f"{task} prediction name {name!r} must be letters, digits, '_', '.' or '-' "
                "(it becomes part of MLflow metric names)"
            )
        if isinstance(value, Prediction):
            pred = value
        else:
            kind: Kind = "baseline" if name.startswith(BASELINE_PREFIX) else "model"
            pred = Prediction(value, kind=kind)
        out.append((name, pred))
    return out


def _choose(task: Task, entries: list[tuple[str, Prediction]], chosen: str | None) -> str | None:
    models = [name for name, pred in entries if pred.kind == "model"]
    if chosen is not None:
        if chosen not in models:
            raise ConfigError(
                f"'{task}_model' must name one of the {task} models {models!r}, got {chosen!r}"
            )
        return chosen
    if len(models) > 1:
        raise ConfigError(
            f"several {task} models {models!r}: say which one is reported as '{task}_*' "
            f"with '{task}_model'"
        )
    return models[0] if models else None


def _ordered(
    entries: list[tuple[str, Prediction]], chosen: str | None
) -> list[tuple[str, Prediction]]:
    def rank(item: tuple[str, Prediction]) -> int:
        name, pred = item
        return 0 if name == chosen else (1 if pred.kind == "model" else 2)

    return sorted(entries, key=rank)  # stable: keeps the caller's order within each group


# A bootstrap interval a row still needs: customers, metric, and the statistic
# (metrics._bootstrap_intervals).
_Pending = tuple[int, str, "m._Statistic"]


def _lapse_row(
    label: pd.Series, name: str, pred: Prediction, *, fraction: float
) -> tuple[dict[str, object], _Pending]:
    what = f"lapse score {name!r}"
    y, s, ids = m._aligned(label, pred.values, "lapse label", what)
    m._check_binary(y, ids, "lapse label")
    prob = m._is_probability(s)
    if pred.is_probability is True and not prob:
        bad = (s < 0) | (s > 1)
        raise DataValidationError(
            f"{what} is marked as a probability but {int(bad.sum())} value(s) fall outside "
            f"[0, 1] (customers {m._sample(ids[bad])})",
            rows=m._failing_rows(ids[bad], "probability outside [0, 1]"),
        )
    is_prob = prob if pred.is_probability is None else pred.is_probability
    return {
        "n_customers": y.size,
        "base_rate": float(y.mean()),
        "roc_auc": (auc := m.roc_auc(y, s)),
        "roc_auc_ci_low": math.nan,
        "roc_auc_ci_high": math.nan,
        "pr_auc": m.pr_auc(y, s),
        "brier": m.brier_score(y, s) if is_prob else math.nan,
        "log_loss": m.log_loss(y, s) if is_prob else math.nan,
        "top_decile_lift": m.top_decile_lift(y, s, fraction=fraction),
    }, (y.size, "roc_auc", (m._roc_auc_replicator, (y, s), auc))


def _spend_row(
    actual: pd.Series, name: str, pred: Prediction, *, fraction: float, n_bins: int
) -> tuple[dict[str, object], _Pending]:
    a, p, ids = m._aligned(actual, pred.values, "actual spend", f"spend prediction {name!r}")
    m._check_nonnegative(a, ids, "actual spend")
    m._check_nonnegative(p, ids, f"spend prediction {name!r}")
    totals = m.revenue_totals(a, p)
    return {
        "n_customers": a.size,
        "actual_total": totals.actual,
        "spearman": (rho := m.spearman(a, p)),
        "spearman_ci_low": math.nan,
        "spearman_ci_high": math.nan,
        "normalized_gini": m.normalized_gini(a, p),
        "top_decile_capture": m.top_decile_capture(a, p, fraction=fraction),
        "decile_mape": m.decile_mape(a, p, n_bins=n_bins),
        "predicted_total": totals.predicted,
        "total_relative_error": totals.relative_error,
    }, (a.size, "spearman", (m._spearman_replicator, (a, p), rho))


def scorecard(
    *,
    lapse_label: pd.Series | None = None,
    lapse_scores: Mapping[str, pd.Series | Prediction] | None = None,
    spend_actual: pd.Series | None = None,
    spend_predictions: Mapping[str, pd.Series | Prediction] | None = None,
    lapse_model: str | None = None,
    spend_model: str | None = None,
    require_baseline: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    fraction: float = 0.1,
    n_bins: int = 10,
) -> Scorecard:
    """Score every model and every baseline on the same holdout customers.

    Parameters
    ----------
    lapse_label
        1 if the customer made no purchase in the holdout horizon, else 0; index
        ``customer_id``.
    lapse_scores
        Name -> lapse score (higher = more likely to lapse), e.g. ``{"classifier": p,
        "baseline_recency": days_since_last, "baseline_bgnbd": p_no_purchase}``. Values are
        Series (a name starting with ``baseline_`` marks a baseline) or :class:`Prediction`.
    spend_actual
        Actual spend per customer in the holdout, ``>= 0``.
    spend_predictions
        Name -> predicted holdout spend, ``>= 0``, as for ``lapse_scores``.
    lapse_model, spend_model
        The model reported under ``lapse_*`` / ``spend_*``. Needed only when a task has
        several models; with one, it is chosen.
    require_baseline
        Refuse to score a task that has a model but no baseline (the design requires every
        model to be compared with baselines).
    n_boot
        Bootstrap resamples for the ROC AUC and Spearman intervals; 0 skips the intervals.
    level
        Coverage of the intervals.
    seed
        Seed of the bootstrap; every row uses the same resamples of customers.
    fraction
        Share of customers in the "top decile" of lift and revenue capture.
    n_bins
        Number of prediction deciles for decile MAPE.

    Returns
    -------
    Scorecard

    Raises
    ------
    DataValidationError
        If a prediction and the label cover different customers, a customer id repeats, a
        value is missing or not finite, the label is not 0/1 or has one class only, or a spend
        is negative. Offending customer ids are in the message and in ``.rows``.
    ConfigError
        If the arguments do not make a scorecard (no task, a label without predictions, an
        ambiguous chosen model, no baseline, a bad name).
    """
    if n_boot != 0:
        m._check_bootstrap(n_boot, level)
    m._check_fraction(fraction)
    m._check_bins(n_bins)
    tasks: list[tuple[Task, pd.Series, Mapping[str, pd.Series | Prediction], str | None]] = []
    for task, target, preds, chosen_name, target_arg, preds_arg in (
        ("lapse", lapse_label, lapse_scores, lapse_model, "lapse_label", "lapse_scores"),
        (
            "spend",
            spend_actual,
            spend_predictions,
            spend_model,
            "spend_actual",
            "spend_predictions",
        ),
    ):
        if (target is None) != (preds is None):
            raise ConfigError(f"pass both '{target_arg}' and '{preds_arg}', or neither")
        if target is not None and preds is not None:
            if not isinstance(target, pd.Series):
                raise ConfigError(f"'{target_arg}' must be a pandas Series indexed by customer_id")
            tasks.append((task, target, preds, chosen_name))  # type: ignore[arg-type]
    if not tasks:
        raise ConfigError(
            "nothing to score: pass lapse_label/lapse_scores or spend_actual/spend_predictions"
        )

    rows: list[dict[str, object]] = []
    pending: list[_Pending] = []
    chosen: dict[str, str] = {}
    for task, target, preds, chosen_name in tasks:
        entries = _entries(task, preds)
        pick = _choose(task, entries, chosen_name)
        if require_baseline and pick is not None and all(p.kind == "model" for _, p in entries):
            raise ConfigError(
                f"the {task} scorecard has models but no baseline; add one (e.g. "
                f"'baseline_recency') or pass require_baseline=False"
            )
        if pick is not None:
            chosen[task] = pick
        if task == "lapse":
            label = target.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isfinite(label).all() and label.size and label.min() == label.max():
                raise DataValidationError(
                    f"the lapse label has a single class (all {label[0]:g}) over "
                    f"{label.size} customers: ranking metrics are undefined",
                    hint="choose a holdout horizon or cut-off where some customers lapse "
                    "and some do not",
                )
        for name, pred in _ordered(entries, pick):
            common = {"task": task, "name": name, "kind": pred.kind, "chosen": name == pick}
            if task == "lapse":
                values, interval = _lapse_row(target, name, pred, fraction=fraction)
            else:
                values, interval = _spend_row(target, name, pred, fraction=fraction, n_bins=n_bins)
            rows.append(common | values)
            pending.append(interval)
    if n_boot > 0:
        # Every row on the same customers shares one pass over the resamples
        # (metrics._bootstrap_intervals): they are drawn once, not once per row.
        for n in sorted({size for size, _, _ in pending}):
            which = [i for i, (size, _, _) in enumerate(pending) if size == n]
            found = m._bootstrap_intervals(
                [pending[i][2] for i in which], n, n_boot=n_boot, level=level, seed=seed
            )
            for i, (low, high) in zip(which, found, strict=True):
                metric = pending[i][1]
                rows[i][f"{metric}_ci_low"], rows[i][f"{metric}_ci_high"] = low, high

    columns = ["task", "name", "kind", "chosen", *_CONTEXT_COLUMNS, *LAPSE_METRICS, *SPEND_METRICS]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table["chosen"] = table["chosen"].astype(bool)
    table["n_customers"] = table["n_customers"].astype(np.int64)
    for column in columns[5:]:
        table[column] = table[column].astype(np.float64)
    return Scorecard(table=table, chosen=chosen)
