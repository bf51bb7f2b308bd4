"""Jobs that compose the layers: read, build features, train, score, write.

Workflows read :class:`~churnmodel.config.Settings`; the library functions they call take
explicit arguments. ``train_job`` and ``score_job`` import MLflow only when they run.
"""

from churnmodel.workflows.features import FeaturesJobResult, features_job, load_log
from churnmodel.workflows.score import ScoreResult, score_job, serve_model
from churnmodel.workflows.train import TrainingOutcome, TrainResult, tracking_ui, train_job

__all__ = [
    "FeaturesJobResult",
    "ScoreResult",
    "TrainResult",
    "TrainingOutcome",
    "features_job",
    "load_log",
    "score_job",
    "serve_model",
    "tracking_ui",
    "train_job",
]
