"""Evaluation plots: calibration, gains, ROC, value x risk, importances, backtests, drift.

Every function takes ``ax=None`` and returns the matplotlib Axes it drew on. Without an Axes it
draws on a new :class:`matplotlib.figure.Figure` (reach it as ``ax.figure``; save it with
``ax.figure.savefig(path)``). Nothing here goes through ``matplotlib.pyplot``, so no global
figure is created, shown or left open, and the plots work headless with any backend.

Functions that compare several predictions take a mapping of name -> values (a single Series is
accepted and named after itself) and validate inputs like :mod:`churnmodel.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn import metrics as skm

from churnmodel.evaluation import metrics as m
from churnmodel.exceptions import ConfigError, DataValidationError

__all__ = [
    "plot_backtest",
    "plot_calibration",
    "plot_cumulative_gains",
    "plot_lift",
    "plot_permutation_importance",
    "plot_psi",
    "plot_roc",
    "plot_value_risk_matrix",
]

Scores = Mapping[str, m.Values] | pd.Series
_GRID = 201  # points of the gains and lift curves (exact at each point, linear in between)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.5)) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=figsize).add_subplot()


def _named(scores: Scores) -> dict[str, m.Values]:
    if isinstance(scores, pd.Series):
        return {str(scores.name) if scores.name is not None else "score": scores}
    if not isinstance(scores, Mapping) or not scores:
        raise ConfigError("scores must be a non-empty mapping of name -> values, or a Series")
    return {str(name): values for name, values in scores.items()}


def plot_calibration(
    y_true: m.Values,
    probs: Scores,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
    ax: Axes | None = None,
) -> Axes:
    """Reliability diagram: observed lapse rate against mean predicted probability.

    One line per prediction (its non-empty bins of :func:`~churnmodel.evaluation.metrics.
    calibration_table`) plus the diagonal of perfect calibration.

    Parameters
    ----------
    y_true
        1 if the customer lapsed.
    probs
        Name -> predicted lapse probability; each must lie in ``[0, 1]``.
    n_bins, strategy
        Binning, as in :func:`~churnmodel.evaluation.metrics.calibration_table`.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="perfectly calibrated")
    for name, prob in _named(probs).items():
        table = m.calibration_table(y_true, prob, n_bins=n_bins, strategy=strategy)
        table = table[table["count"] > 0]
        ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=name)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="mean predicted lapse probability",
        ylabel="observed lapse rate",
        title="Calibration",
    )
    ax.legend(loc="upper left")
    return ax


def _gains_on_grid(target: m.Values, score: m.Values, grid: np.ndarray) -> np.ndarray:
    knots = m.cumulative_gains(target, score)
    return np.interp(grid, knots["fraction_targeted"], knots["fraction_captured"])


def plot_cumulative_gains(target: m.Values, scores: Scores, *, ax: Axes | None = None) -> Axes:
    """Cumulative gains: share of lapsers (or revenue) reached against share of customers.

    Parameters
    ----------
    target
        The 0/1 lapse label, or non-negative holdout spend.
    scores
        Name -> ranking score, higher = targeted first.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
        One line per score plus the diagonal of random targeting. Tied scores are spread
        evenly (see :mod:`churnmodel.evaluation.metrics`).
    """
    ax = _axes(ax)
    grid = np.linspace(0.0, 1.0, _GRID)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="random")
    for name, score in _named(scores).items():
        ax.plot(grid, _gains_on_grid(target, score, grid), label=name)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="share of customers targeted (highest score first)",
        ylabel="share of target captured",
        title="Cumulative gains",
    )
    ax.legend(loc="lower right")
    return ax


def plot_lift(target: m.Values, scores: Scores, *, ax: Axes | None = None) -> Axes:
    """Lift: rate (or revenue per customer) among the top-scored share over the overall one.

    Parameters
    ----------
    target
        The 0/1 lapse label, or non-negative holdout spend.
    scores
        Name -> ranking score, higher = targeted first.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
        One line per score plus the line at lift 1 (random targeting). The value at 0.1 is
        the top-decile lift.
    """
    ax = _axes(ax)
    grid = np.linspace(0.0, 1.0, _GRID)[1:]
    ax.axhline(1.0, linestyle="--", color="0.6", label="random")
    for name, score in _named(scores).items():
        ax.plot(grid, _gains_on_grid(target, score, grid) / grid, label=name)
    ax.set(
        xlim=(0, 1),
        xlabel="share of customers targeted (highest score first)",
        ylabel="lift",
        title="Lift",
    )
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    return ax


def plot_roc(y_true: m.Values, scores: Scores, *, ax: Axes | None = None) -> Axes:
    """ROC curves of several lapse scores, with their AUC in the legend.

    Parameters
    ----------
    y_true
        1 if the customer lapsed; both classes must be present.
    scores
        Name -> risk score, higher = more likely to lapse.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
        One line per score (:func:`sklearn.metrics.roc_curve`) plus the chance diagonal.
    """
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="chance")
    for name, score in _named(scores).items():
        y, s, _ = m._lapse_inputs(y_true, score)
        if m._single_class(y):
            raise DataValidationError("a ROC curve needs both lapsed and retained customers")
        fpr, tpr, _ = skm.roc_curve(y, s)
        auc = skm.roc_auc_score(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="false positive rate (retained flagged)",
        ylabel="true positive rate (lapsers flagged)",
        title="ROC",
    )
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return ax


def _compact(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def plot_value_risk_matrix(
    matrix: pd.DataFrame,
    *,
    color_by: Literal["value_at_risk", "total_clv", "n_customers"] = "value_at_risk",
    colorbar: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of CLV decile x lapse-risk band, each cell labelled with customers and value.

    Parameters
    ----------
    matrix
        The output of :func:`~churnmodel.evaluation.metrics.value_risk_matrix`.
    color_by
        Column that sets the cell colour. The default, value at risk (sum of CLV x P(lapse)),
        makes the cells a retention team should call first the darkest.
    colorbar
        Add a colour bar (it takes space from ``ax`` on its figure).
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
        One image; one text per cell: customer count over total CLV. CLV decile 10 (most
        valuable) is at the top, risk rises to the right.

    Examples
    --------
    >>> cells = value_risk_matrix(scores["clv"], scores["p_churn"])  # doctest: +SKIP
    >>> ax = plot_value_risk_matrix(cells)  # doctest: +SKIP
    """
    needed = {"clv_decile", "risk_band", "n_customers", "total_clv", "value_at_risk"}
    missing = needed - set(matrix.columns)
    if missing:
        raise DataValidationError(
            f"the value x risk matrix lacks column(s) {sorted(missing)}",
            hint="pass the output of churnmodel.evaluation.value_risk_matrix",
        )
    if color_by not in ("value_at_risk", "total_clv", "n_customers"):
        raise ConfigError(
            f"'color_by' must be 'value_at_risk', 'total_clv' or 'n_customers', got {color_by!r}"
        )
    ax = _axes(ax, figsize=(7.0, 6.5))

    def grid(column: str) -> pd.DataFrame:
        return matrix.pivot_table(
            index="clv_decile",
            columns="risk_band",
            values=column,
            aggfunc="sum",
            observed=False,
            fill_value=0,
        ).sort_index()

    colour = grid(color_by)
    counts = grid("n_customers").to_numpy(dtype=np.int64)
    totals = grid("total_clv").to_numpy(dtype=np.float64)
    data = colour.to_numpy(dtype=np.float64)
    image = ax.imshow(data, origin="lower", aspect="auto", cmap="Reds")
    top = float(np.nanmax(data)) if data.size else 0.0
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            dark = top > 0 and data[i, j] / top > 0.6
            ax.text(
                j,
                i,
                f"{counts[i, j]:,}\n{_compact(float(totals[i, j]))}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_xticks(np.arange(data.shape[1]), [str(c) for c in colour.columns])
    ax.set_yticks(np.arange(data.shape[0]), [str(i) for i in colour.index])
    ax.set(
        xlabel="lapse risk band",
        ylabel="CLV decile (10 = most valuable)",
        title="Customers and CLV by value and risk",
    )
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=color_by.replace("_", " "))
    return ax


def plot_permutation_importance(
    importances: pd.Series,
    *,
    std: pd.Series | None = None,
    top_n: int | None = 20,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of permutation importances, largest on top.

    Parameters
    ----------
    importances
        Feature name -> mean drop in score when the feature is shuffled, e.g.
        ``pd.Series(result.importances_mean, index=feature_names)`` from
        :func:`sklearn.inspection.permutation_importance`.
    std
        Optional standard deviations with the same index, drawn as error bars.
    top_n
        Show only the ``top_n`` largest; None shows all.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
        One bar per feature shown.
    """
    if not isinstance(importances, pd.Series) or importances.empty:
        raise DataValidationError("importances must be a non-empty Series of feature -> value")
    if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
        raise ConfigError(f"'top_n' must be a positive integer or None, got {top_n!r}")
    values = m._to_float(importances, "importances")
    m._check_finite(values, importances.index, "importances")
    ordered = pd.Series(values, index=importances.index).sort_values(ascending=False, kind="stable")
    if top_n is not None:
        ordered = ordered.iloc[:top_n]
    errors: Sequence[float] | None = None
    if std is not None:
        missing = ordered.index.difference(std.index, sort=False)
        if len(missing):
            raise DataValidationError(
                f"std has no value for {len(missing)} feature(s) shown (e.g. {m._sample(missing)})",
                hint="pass std with the same index as importances",
            )
        err = m._to_float(std[~std.index.duplicated()].reindex(ordered.index), "std")
        if not np.all(np.isfinite(err) & (err >= 0)):
            raise DataValidationError("std must be finite and >= 0 for every feature shown")
        errors = list(err[::-1])
    ax = _axes(ax, figsize=(6.0, max(2.0, 0.3 * len(ordered) + 1.0)))
    ordered = ordered.iloc[::-1]  # barh draws bottom-up: put the largest on top
    ax.barh(
        np.arange(len(ordered)),
        ordered.to_numpy(),
        xerr=errors,
        color="tab:blue",
        ecolor="0.3",
        capsize=2 if errors is not None else 0,
    )
    ax.set_yticks(np.arange(len(ordered)), [str(i) for i in ordered.index])
    ax.axvline(0.0, color="0.4", linewidth=0.8)
    ax.set(xlabel="drop in score when the feature is shuffled", title="Permutation importance")
    return ax


def plot_backtest(
    table: pd.DataFrame,
    *,
    task: str = "lapse",
    metric: str = "roc_auc",
    names: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """One metric of several models and baselines over the cut-offs of a backtest.

    Parameters
    ----------
    table
        Stacked scorecards with a ``cutoff`` column (``BacktestResult.table``): columns
        ``cutoff``, ``task``, ``name`` and the metric.
    task, metric
        Which rows and column to draw, e.g. ``"lapse"`` and ``"roc_auc"``.
    names
        Row name -> legend label; only these rows are drawn (default: every row of the task).
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
        One line with markers per model or baseline.
    """
    needed = {"cutoff", "task", "name", metric}
    if not isinstance(table, pd.DataFrame) or not needed <= set(table.columns):
        raise ConfigError(f"the backtest table needs the columns {sorted(needed)}")
    rows = table[table["task"] == task]
    if rows.empty:
        raise DataValidationError(f"the backtest table has no {task!r} rows")
    labels = dict(names) if names is not None else {str(n): str(n) for n in rows["name"].unique()}
    ax = _axes(ax, figsize=(7.0, 4.5))
    for name, label in labels.items():
        line = rows[rows["name"] == name].sort_values("cutoff")
        if line.empty or line[metric].isna().all():
            continue
        ax.plot(pd.to_datetime(line["cutoff"]), line[metric], marker="o", label=label)
    ax.set(xlabel="cut-off (end of the data each fit saw)", ylabel=f"{task} {metric}")
    ax.set_title(f"Backtest: {task} {metric} by cut-off")
    ax.legend(loc="best", fontsize="small")
    ax.figure.autofmt_xdate()
    return ax


def plot_psi(
    table: pd.DataFrame,
    *,
    limit: float | None = None,
    excluded: Sequence[str] = (),
    top_n: int | None = 25,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of each feature's population stability index, largest on top.

    Parameters
    ----------
    table
        :func:`churnmodel.evaluation.drift.drift_table`: columns ``feature`` and ``psi``.
    limit
        Draw the alert limit as a vertical line; bars beyond it are red.
    excluded
        Features measured but not held to the limit (drawn grey).
    top_n
        Show only the ``top_n`` largest; None shows all.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not isinstance(table, pd.DataFrame) or not {"feature", "psi"} <= set(table.columns):
        raise ConfigError("the drift table needs the columns 'feature' and 'psi'")
    if table.empty:
        raise DataValidationError("the drift table is empty: no feature to draw")
    ordered = table.sort_values("psi", ascending=False, kind="stable")
    if top_n is not None:
        ordered = ordered.iloc[:top_n]
    ordered = ordered.iloc[::-1]
    colors = [
        "0.7"
        if feature in set(excluded)
        else ("tab:red" if limit is not None and psi > limit else "tab:blue")
        for feature, psi in zip(ordered["feature"], ordered["psi"], strict=True)
    ]
    ax = _axes(ax, figsize=(6.5, max(2.5, 0.3 * len(ordered) + 1.2)))
    ax.barh(np.arange(len(ordered)), ordered["psi"].to_numpy(dtype=float), color=colors)
    ax.set_yticks(np.arange(len(ordered)), [str(f) for f in ordered["feature"]])
    if limit is not None:
        ax.axvline(limit, color="tab:red", linestyle="--", linewidth=1.0, label=f"limit {limit:g}")
        ax.legend(loc="lower right")
    ax.set(
        xlabel="population stability index (training snapshot -> now)",
        title="Input drift by feature",
    )
    return ax
