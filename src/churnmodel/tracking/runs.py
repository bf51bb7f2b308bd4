"""Log one training run: parameters, settings, data profile, metrics, plots, tables, the model.

Everything here is a thin layer over ``mlflow``; what to log is decided by the workflow.
Artifact paths used by :func:`churnmodel.workflows.train` (see ``docs/mlflow.md``):
``config/settings.json``, ``data/profile.json``, ``evaluation/scorecard.json`` (+ ``.csv``),
``plots/*.png`` and the model under the run's logged model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "LoggedModel",
    "download_artifact",
    "flatten_params",
    "log_dict",
    "log_figures",
    "log_file",
    "log_metrics",
    "log_params",
    "log_pyfunc_model",
    "log_table",
    "run",
    "set_tags",
]

#: MLflow refuses parameter values longer than this.
_MAX_PARAM_CHARS = 6000


@dataclass(frozen=True)
class LoggedModel:
    """A model logged to the current run."""

    uri: str
    model_id: str
    run_id: str
    size_bytes: int

    @property
    def size_mb(self) -> float:
        """Artifact size in megabytes (10^6 bytes)."""
        return self.size_bytes / 1e6


@contextmanager
def run(name: str, *, tags: Mapping[str, str] | None = None) -> Iterator[str]:
    """Start a run named ``name`` in the current experiment; yield its id.

    A run that raises is marked FAILED (MLflow's behaviour), so a failed training stays
    visible in the UI with whatever it logged before the error.
    """
    import mlflow

    with mlflow.start_run(run_name=name, tags=dict(tags or {})) as active:
        yield active.info.run_id


def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested settings into ``section.name`` parameters with string values."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_params(value, prefix=f"{name}."))
        else:
            if isinstance(value, Sequence) and not isinstance(value, str):
                text = "; ".join(str(v) for v in value)
            else:
                text = "" if value is None else str(value)
            out[name] = text[:_MAX_PARAM_CHARS]
    return out


def log_params(params: Mapping[str, Any]) -> None:
    """Log parameters (nested mappings are flattened to ``section.name``)."""
    import mlflow

    mlflow.log_params(flatten_params(params))


def log_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """Log the finite metrics; return what was logged (NaN means "not applicable": skipped)."""
    import mlflow

    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    mlflow.log_metrics(finite)
    return finite


def log_dict(values: Mapping[str, Any], artifact_file: str) -> None:
    """Log a JSON-serialisable mapping as an artifact (``.json`` or ``.yaml``)."""
    import mlflow

    mlflow.log_dict(dict(values), artifact_file)


def log_table(frame: pd.DataFrame, artifact_file: str) -> None:
    """Log a table twice: MLflow's JSON table (rendered by the UI) and a CSV beside it."""
    import mlflow

    path = Path(artifact_file)
    clean = frame.reset_index(drop=True)
    with warnings.catch_warnings():
        # MLflow selects object columns the pandas 2 way, which pandas 3 deprecates.
        warnings.filterwarnings("ignore", message="For backward compatibility, 'str' dtypes")
        mlflow.log_table(clean, artifact_file=str(path.with_suffix(".json")))
    mlflow.log_text(clean.to_csv(index=False), str(path.with_suffix(".csv")))


def log_file(local_path: str | Path, artifact_path: str | None = None) -> None:
    """Log a local file as an artifact of the active run, in folder ``artifact_path``."""
    import mlflow

    mlflow.log_artifact(str(local_path), artifact_path)


def download_artifact(
    dst: str | Path,
    *,
    run_id: str | None = None,
    artifact_path: str | None = None,
    artifact_uri: str | None = None,
) -> Path | None:
    """Download one artifact into folder ``dst``; None when it does not exist.

    Either ``run_id`` and ``artifact_path`` (a run's artifact) or ``artifact_uri`` (e.g.
    ``models:/churnmodel/3/artifacts/bundle.pkl``: one file of a registered model, without
    loading the model, so its code never enters this process's import path). MLflow's
    progress bar is turned off.
    """
    import os

    import mlflow
    from mlflow.exceptions import MlflowException

    previous = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri,
            run_id=run_id,
            artifact_path=artifact_path,
            dst_path=str(dst),
        )
    except (MlflowException, OSError):
        return None
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = previous
    path = Path(local)
    return path if path.exists() else None


def log_figures(figures: Mapping[str, Figure]) -> list[str]:
    """Log matplotlib Figures as PNG artifacts (keys are artifact paths); return the paths."""
    import mlflow

    logged = []
    for artifact_file, figure in figures.items():
        mlflow.log_figure(figure, artifact_file)
        logged.append(artifact_file)
    return logged


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set run tags (values become strings)."""
    import mlflow

    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def _artifact_size(artifact_uri: str) -> int:
    """Return the total size in bytes of the artifacts under ``artifact_uri`` (any store)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(artifact_uri)
    total = 0
    pending: list[str | None] = [None]
    while pending:
        for item in repo.list_artifacts(pending.pop()):
            if item.is_dir:
                pending.append(item.path)
            else:
                total += int(item.file_size or 0)
    return total


def log_pyfunc_model(
    *,
    name: str,
    python_model: str | Path,
    artifacts: Mapping[str, str],
    code_paths: Sequence[str | Path],
    signature: Any,
    input_example: Any,
    pip_requirements: Sequence[str],
    metadata: Mapping[str, Any] | None = None,
) -> LoggedModel:
    """Log a pyfunc model to the active run and return where it is and how big it is.

    ``python_model`` is a models-from-code file (MLflow 3's recommended form: the model class
    is imported from code, not unpickled); ``artifacts`` are the files it loads in
    ``load_context``; ``code_paths`` travel with the model so it loads in a fresh process
    without churnmodel installed. ``pip_requirements`` are given explicitly, which skips
    MLflow's slow requirement inference.
    """
    import mlflow

    active = mlflow.active_run()
    if active is None:  # pragma: no cover - a bug in the caller
        raise RuntimeError("log_pyfunc_model needs an active run (use tracking.run)")
    with warnings.catch_warnings():
        # MLflow's input-example check compares columns with range(), which pandas 3 deprecates.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(python_model),
            artifacts=dict(artifacts),
            code_paths=[str(p) for p in code_paths],
            signature=signature,
            input_example=input_example,
            pip_requirements=list(pip_requirements),
            metadata=dict(metadata or {}),
        )
    location = mlflow.MlflowClient().get_logged_model(info.model_id).artifact_location
    return LoggedModel(
        uri=info.model_uri,
        model_id=info.model_id,
        run_id=active.info.run_id,
        size_bytes=_artifact_size(location),
    )
