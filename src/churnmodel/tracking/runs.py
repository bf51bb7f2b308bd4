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
    "log_dataset",
    "log_dict",
    "log_figures",
    "log_file",
    "log_metric_series",
    "log_metrics",
    "log_params",
    "log_pyfunc_model",
    "log_table",
    "run",
    "run_metrics",
    "set_tags",
    "unique_run_name",
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
def run(
    name: str,
    *,
    tags: Mapping[str, str] | None = None,
    started: float | None = None,
    experiment_id: str | None = None,
) -> Iterator[str]:
    """Start a run named ``name`` in the current experiment; yield its id.

    ``started`` (seconds since the epoch, ``time.time()``) back-dates the run's start, so
    that a run opened after minutes of training shows how long the whole job took; it needs
    the ``experiment_id``. A run that raises is marked FAILED (MLflow's behaviour), so a
    failed training stays visible in the UI with whatever it logged before the error.
    """
    import mlflow

    if started is None or experiment_id is None:
        with mlflow.start_run(run_name=name, tags=dict(tags or {})) as active:
            yield active.info.run_id
        return
    created = mlflow.MlflowClient().create_run(
        experiment_id, start_time=int(started * 1000), tags=dict(tags or {}), run_name=name
    )
    with mlflow.start_run(run_id=created.info.run_id) as active:
        yield active.info.run_id


def unique_run_name(name: str, experiment_id: str) -> str:
    """Return ``name``, or ``name #2`` (3, ...) when a run of the experiment has it already."""
    import mlflow

    experiment = experiment_id
    client = mlflow.MlflowClient()
    candidate, n = name, 1
    while True:
        quoted = candidate.replace("'", "\\'")
        taken = client.search_runs(
            [experiment], filter_string=f"attributes.run_name = '{quoted}'", max_results=1
        )
        if not taken:
            return candidate
        n += 1
        candidate = f"{name} #{n}"


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
    """Log the finite metrics; return what was logged (NaN means "not applicable": skipped).

    MLflow shows a run's metrics in the order they were first logged: log the ones a reader
    should see first in an earlier call.
    """
    import mlflow

    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    mlflow.log_metrics(finite)
    return finite


def log_metric_series(
    name: str, points: Sequence[tuple[int, float, float]], *, run_id: str | None = None
) -> int:
    """Log one metric at several steps: ``(step, value, timestamp)`` with timestamp in seconds.

    The UI draws a metric logged at more than one step as a line over the steps; its "time"
    axis reads the timestamps (a backtest passes each cut-off's date). Non-finite values are
    skipped. Returns how many points were logged.
    """
    import mlflow
    from mlflow.entities import Metric

    active = run_id or mlflow.active_run().info.run_id  # type: ignore[union-attr]
    entries = [
        Metric(key=name, value=float(v), timestamp=int(t * 1000), step=int(step))
        for step, v, t in points
        if math.isfinite(float(v))
    ]
    if entries:
        mlflow.MlflowClient().log_batch(active, metrics=entries)
    return len(entries)


def run_metrics(run_id: str) -> dict[str, float]:
    """Return the latest value of every metric of run ``run_id``."""
    import mlflow

    return dict(mlflow.MlflowClient().get_run(run_id).data.metrics)


def log_dataset(
    *,
    name: str,
    source: str,
    digest: str,
    schema: Mapping[str, str],
    profile: Mapping[str, Any],
    context: str = "training",
) -> None:
    """Log the input data of the active run as an MLflow dataset (metadata only, no rows).

    Parameters
    ----------
    name
        What to call the data in the UI (e.g. ``cdnow`` or ``orders.csv``).
    source
        Where it was read from: a path or URI.
    digest
        A short fingerprint (the UI shows it beside the name).
    schema
        Column -> type, one of ``string``, ``datetime``, ``double``, ``long``, ``boolean``.
    profile
        Summary numbers (rows, customers, date range); shown as the dataset's profile.
    context
        What the run did with the data (``training``, ``monitoring``).
    """
    import json
    import re

    import mlflow
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, DataType, Schema

    scheme = re.match(r"^([a-z][a-z0-9+.-]*)://", source)
    source_type = scheme.group(1) if scheme else "local"

    class _LogSource(DatasetSource):
        """Where the log was read from (a path or URI); MLflow never loads it."""

        def __init__(self, uri: str) -> None:
            self._uri = uri

        @staticmethod
        def _get_source_type() -> str:
            return source_type

        def load(self, dst_path: str | None = None) -> str:
            return self._uri

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source: Any) -> _LogSource:
            return cls(str(raw_source))

        def to_dict(self) -> dict[str, Any]:
            return {"uri": self._uri}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]) -> _LogSource:
            return cls(str(source_dict["uri"]))

    class _ProfiledDataset(MetaDataset):
        """A metadata-only dataset that also carries a profile."""

        def __init__(self, profile: Mapping[str, Any], **kwargs: Any) -> None:
            self._profile = dict(profile)
            super().__init__(**kwargs)

        @property
        def profile(self) -> Any:
            return self._profile

        def to_dict(self) -> dict[str, str]:
            config = super().to_dict()
            config["profile"] = json.dumps(self._profile, default=str)
            return config

    columns = Schema([ColSpec(getattr(DataType, kind), column) for column, kind in schema.items()])
    dataset = _ProfiledDataset(
        profile, source=_LogSource(source), name=name, digest=digest, schema=columns
    )
    mlflow.log_input(dataset, context=context)


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
