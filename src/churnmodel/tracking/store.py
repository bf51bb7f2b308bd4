"""Where runs, models and artifacts are stored: the project's SQLite file or a team server.

The default is an embedded store in the working directory: ``sqlite:///mlflow.db`` for runs
and the registry, ``./mlartifacts`` for artifacts (plots, tables, models). When
``MLFLOW_TRACKING_URI`` is set (for example ``http://mlflow.internal:5000``), that server is
used instead and decides where artifacts go. An explicit ``uri`` (churnmodel's settings)
wins over both.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from churnmodel.exceptions import ConfigError

__all__ = [
    "DEFAULT_TRACKING_URI",
    "TrackingStore",
    "find_experiment",
    "open_store",
    "resolve_tracking_uri",
    "ui_command",
]

#: The project's embedded store (relative to the working directory).
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_ENV = "MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class TrackingStore:
    """An MLflow store ready for runs: its URI and the experiment runs are logged to."""

    uri: str
    experiment_name: str
    experiment_id: str
    artifact_location: str

    @property
    def is_local(self) -> bool:
        """Whether the store is a SQLite file on this machine."""
        return self.uri.startswith("sqlite:")


def resolve_tracking_uri(uri: str | None = None) -> str:
    """Return the tracking URI: ``uri`` if given, else ``MLFLOW_TRACKING_URI``, else SQLite."""
    chosen = uri or os.environ.get(_ENV) or DEFAULT_TRACKING_URI
    if chosen.startswith("sqlite:") and not chosen.startswith("sqlite:///"):
        raise ConfigError(
            f"a SQLite tracking URI needs three slashes, e.g. 'sqlite:///mlflow.db', got {chosen!r}"
        )
    return chosen


def _local_artifact_location(uri: str, artifact_root: str) -> str:
    """Return the artifact folder URI for a local SQLite store (beside the database file)."""
    root = Path(artifact_root)
    if not root.is_absolute():
        db = Path(uri.removeprefix("sqlite:///"))
        root = db.parent.resolve() / root if db.is_absolute() else Path.cwd() / root
    return root.resolve().as_uri()


def _folder_name(experiment: str) -> str:
    """Return a folder name for an experiment's artifacts: letters, digits, ``.``, ``_``, ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("._") or "experiment"


def open_store(
    uri: str | None = None,
    *,
    experiment: str | None = "churnmodel",
    artifact_root: str = "mlartifacts",
) -> TrackingStore:
    """Point MLflow at the store and make sure ``experiment`` exists.

    For a local SQLite store a new experiment keeps its artifacts in
    ``<artifact_root>/<experiment>`` (a relative root is taken beside the database file); on a
    server the server decides.
    An experiment that already exists keeps the artifact location it was created with.
    ``experiment=None`` only points MLflow at the store (to read the registry).
    """
    import mlflow

    resolved = resolve_tracking_uri(uri)
    with warnings.catch_warnings():
        # SQLAlchemy deprecation inside MLflow's store set-up; nothing we can change.
        warnings.filterwarnings("ignore", message=".*noload.*", category=DeprecationWarning)
        mlflow.set_tracking_uri(resolved)
        mlflow.set_registry_uri(resolved)
        client = mlflow.MlflowClient(tracking_uri=resolved, registry_uri=resolved)
        client.search_experiments(max_results=1)  # creates the SQLite tables on first use
    if experiment is None:
        return TrackingStore(
            uri=resolved, experiment_name="", experiment_id="", artifact_location=""
        )
    found = client.get_experiment_by_name(experiment)
    if found is None:
        location = (
            f"{_local_artifact_location(resolved, artifact_root)}/{_folder_name(experiment)}"
            if resolved.startswith("sqlite:")
            else None
        )
        experiment_id = client.create_experiment(experiment, artifact_location=location)
        found = client.get_experiment(experiment_id)
    elif found.lifecycle_stage == "deleted":
        raise ConfigError(
            f"experiment {experiment!r} was deleted in {resolved}; restore it in the MLflow UI "
            "or choose another name (--experiment)"
        )
    mlflow.set_experiment(experiment_id=found.experiment_id)
    return TrackingStore(
        uri=resolved,
        experiment_name=experiment,
        experiment_id=found.experiment_id,
        artifact_location=found.artifact_location,
    )


def find_experiment(name: str) -> str | None:
    """Return the id of the active experiment named ``name`` in the current store, or None."""
    import mlflow

    found = mlflow.MlflowClient().get_experiment_by_name(name)
    if found is None or found.lifecycle_stage == "deleted":
        return None
    return str(found.experiment_id)


def ui_command(
    uri: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    artifact_root: str = "mlartifacts",
) -> tuple[list[str], dict[str, str]]:
    """Return the command (and environment) that starts the MLflow UI on the store.

    Light settings for a laptop: one worker, no job runner, bound to ``host`` (loopback by
    default), and quiet (no line per request, MLflow's own log at WARNING). New experiments
    created through the UI keep their artifacts in ``artifact_root``.
    """
    resolved = resolve_tracking_uri(uri)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        resolved,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--registry-store-uri",
        resolved,
        # Quiet: no line per HTTP request; warnings and errors still show.
        "--uvicorn-opts",
        "--no-access-log --log-level warning",
    ]
    if resolved.startswith("sqlite:"):
        command += ["--default-artifact-root", _local_artifact_location(resolved, artifact_root)]
    env = dict(os.environ)
    env[_ENV] = resolved
    # MLflow 3's server also starts a job runner with several worker processes (GenAI
    # evaluation jobs); reviewing runs does not need it.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    env.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow 3.17's server imports a deprecated Starlette module; nothing a user can act on.
    env.setdefault("PYTHONWARNINGS", "ignore:starlette.middleware.wsgi is deprecated:UserWarning")
    return command, env
