"""Jobs that compose the layers: read, build features, train, score, write.

Workflows read :class:`~churnmodel.config.Settings`; the library functions they call take
explicit arguments. ``train_job`` and ``score_job`` import MLflow only when they run.

The evaluation functions (:mod:`churnmodel.workflows.evaluate`: ``fit_bundle``,
``evaluate_holdout``, ``backtest``, ...) are exported too, but imported on first use: they pull
in scikit-learn and matplotlib, which commands such as ``churnmodel features`` do not need.
"""

from typing import Any

from churnmodel.workflows.features import FeaturesJobResult, features_job, load_log
from churnmodel.workflows.monitor import MonitorResult, monitor_job
from churnmodel.workflows.score import ScoreResult, run_foreground, score_job, serve_command
from churnmodel.workflows.server import run_team_server
from churnmodel.workflows.train import TrainingOutcome, TrainResult, train_job, ui_command

_EVALUATE = (
    "CDNOW_SETTINGS",
    "BacktestResult",
    "BundleSettings",
    "EvaluationResult",
    "backtest",
    "evaluate_holdout",
    "fit_bundle",
    "train_and_evaluate",
)

__all__ = [
    "CDNOW_SETTINGS",
    "BacktestResult",
    "BundleSettings",
    "EvaluationResult",
    "FeaturesJobResult",
    "MonitorResult",
    "ScoreResult",
    "TrainResult",
    "TrainingOutcome",
    "backtest",
    "evaluate_holdout",
    "features_job",
    "fit_bundle",
    "load_log",
    "monitor_job",
    "run_foreground",
    "run_team_server",
    "score_job",
    "serve_command",
    "train_and_evaluate",
    "train_job",
    "ui_command",
]


def __getattr__(name: str) -> Any:
    """Import the evaluation functions on first use (module docstring)."""
    if name in _EVALUATE:
        from churnmodel.workflows import evaluate

        return getattr(evaluate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
