"""Evaluation: holdout metrics, the model-and-baseline scorecard, and evaluation plots.

Pure functions on in-memory data; nothing here trains a model or touches MLflow or files.

* :mod:`~churnmodel.evaluation.metrics`: lapse metrics (ROC AUC, PR AUC, Brier, log loss,
  top-decile lift, calibration table), spend metrics (Spearman, normalized Gini, top-decile
  revenue capture, decile MAPE, revenue totals), bootstrap intervals, the value x risk matrix.
* :mod:`~churnmodel.evaluation.scorecard`: :func:`scorecard`, every model beside every baseline,
  with MLflow-ready metric names.
* :mod:`~churnmodel.evaluation.headline`: the headline metrics of a scorecard and the
  model's distance to the best baseline and the champion.
* :mod:`~churnmodel.evaluation.report`: the scorecard as small rounded tables and Markdown.
* :mod:`~churnmodel.evaluation.drift`: the population stability index per feature.
* :mod:`~churnmodel.evaluation.plots`: plots that take ``ax=None`` and return the Axes.
* :mod:`~churnmodel.evaluation.diagnostics`: diagnostic plots of the BG/NBD-family purchase
  models (frequency, calibration vs holdout, frequency x recency matrices, holdout tracking).
* :mod:`~churnmodel.evaluation.tracking`: the tracking plot over calendar time (actual vs
  expected repeat purchases, calibration and holdout) and a customer's P(alive) path.

Definitions, tie handling and the metric naming rule: ``docs/evaluation.md``.
"""

from churnmodel.evaluation.diagnostics import (
    holdout_by_frequency,
    plot_calibration_vs_holdout,
    plot_cumulative_purchases,
    plot_expected_purchases_matrix,
    plot_frequency,
    plot_probability_alive_matrix,
)
from churnmodel.evaluation.drift import drift_table, population_stability_index
from churnmodel.evaluation.headline import HEADLINE, Headline, headline_metrics
from churnmodel.evaluation.metrics import (
    RevenueTotals,
    brier_score,
    calibration_table,
    cumulative_gains,
    decile_mape,
    decile_table,
    log_loss,
    normalized_gini,
    pr_auc,
    revenue_totals,
    roc_auc,
    roc_auc_interval,
    spearman,
    spearman_interval,
    top_decile_capture,
    top_decile_lift,
    value_risk_matrix,
)
from churnmodel.evaluation.plots import (
    plot_backtest,
    plot_calibration,
    plot_cumulative_gains,
    plot_lift,
    plot_permutation_importance,
    plot_psi,
    plot_roc,
    plot_value_risk_matrix,
)
from churnmodel.evaluation.report import markdown_table, scorecard_markdown, scorecard_tables
from churnmodel.evaluation.scorecard import Prediction, Scorecard, scorecard
from churnmodel.evaluation.tracking import (
    TRACKING_COLUMNS,
    plot_probability_alive_path,
    plot_transaction_tracking,
    probability_alive_path,
    transaction_tracking,
)

__all__ = [
    "HEADLINE",
    "TRACKING_COLUMNS",
    "Headline",
    "Prediction",
    "RevenueTotals",
    "Scorecard",
    "brier_score",
    "calibration_table",
    "cumulative_gains",
    "decile_mape",
    "decile_table",
    "drift_table",
    "headline_metrics",
    "holdout_by_frequency",
    "log_loss",
    "markdown_table",
    "normalized_gini",
    "plot_backtest",
    "plot_calibration",
    "plot_calibration_vs_holdout",
    "plot_cumulative_gains",
    "plot_cumulative_purchases",
    "plot_expected_purchases_matrix",
    "plot_frequency",
    "plot_lift",
    "plot_permutation_importance",
    "plot_probability_alive_matrix",
    "plot_probability_alive_path",
    "plot_psi",
    "plot_roc",
    "plot_transaction_tracking",
    "plot_value_risk_matrix",
    "population_stability_index",
    "pr_auc",
    "probability_alive_path",
    "revenue_totals",
    "roc_auc",
    "roc_auc_interval",
    "scorecard",
    "scorecard_markdown",
    "scorecard_tables",
    "spearman",
    "spearman_interval",
    "top_decile_capture",
    "top_decile_lift",
    "transaction_tracking",
    "value_risk_matrix",
]
