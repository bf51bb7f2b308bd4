"""Package, load and serve the churnmodel pyfunc.

* :func:`model_files`: what :func:`churnmodel.tracking.log_pyfunc_model` needs to log the
  model: the models-from-code file, a clean copy of the package for ``code_paths`` and the
  pinned requirements.
* :func:`load_model`: a logged or registered model, ready to score in this process.
* :func:`serve_command`: ``mlflow models serve --env-manager local`` on loopback.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

import churnmodel
from churnmodel.exceptions import ConfigError
from churnmodel.serving.pyfunc import ChurnPyfuncModel

__all__ = ["LoadedModel", "ModelFiles", "load_model", "model_files", "serve_command"]


@dataclass(frozen=True)
class ModelFiles:
    """Files and requirements that make up a logged churnmodel model."""

    python_model: Path
    code_path: Path
    pip_requirements: tuple[str, ...]


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model: MLflow's pyfunc wrapper and the churnmodel model inside it."""

    pyfunc: Any
    model: ChurnPyfuncModel
    metadata: dict[str, Any]


def _requirements() -> tuple[str, ...]:
    """Return churnmodel's runtime dependencies pinned to the installed versions."""
    pinned = []
    for text in metadata.requires("churnmodel") or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an optional extra (dev, spark)
        try:
            pinned.append(f"{req.name}=={metadata.version(req.name)}")
        except metadata.PackageNotFoundError:
            pinned.append(str(req))
    return tuple(pinned)


def model_files(workdir: str | Path) -> ModelFiles:
    """Prepare the model's code in ``workdir``: a copy of the package without caches.

    The copy keeps compiled ``__pycache__`` folders and notebooks' checkpoints out of the
    artifact; MLflow copies ``code_path`` into the model as ``code/churnmodel``.
    """
    source = Path(churnmodel.__file__).parent
    target = Path(workdir) / "churnmodel"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return ModelFiles(
        python_model=source / "serving" / "_model_code.py",
        code_path=target,
        pip_requirements=_requirements(),
    )


def load_model(uri: str) -> LoadedModel:
    """Load a churnmodel model (``models:/``, ``runs:/`` URI or folder) into this process.

    Raises
    ------
    ConfigError
        If the model is not a churnmodel model.
    """
    import mlflow

    pyfunc = mlflow.pyfunc.load_model(uri)
    inner = pyfunc.unwrap_python_model()
    if not isinstance(inner, ChurnPyfuncModel):
        raise ConfigError(
            f"{uri} is not a churnmodel model (its python model is {type(inner).__name__})"
        )
    return LoadedModel(pyfunc=pyfunc, model=inner, metadata=dict(pyfunc.metadata.metadata or {}))


def serve_command(
    model_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    timeout: int = 60,
    tracking_uri: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Return the command (and environment) serving ``model_uri`` over REST.

    ``mlflow models serve --env-manager local``: the current environment (where churnmodel
    and its pinned dependencies are installed), ``workers`` uvicorn workers, bound to ``host``
    (loopback by default; pass ``0.0.0.0`` deliberately to expose it), one OpenMP thread per
    worker unless ``OMP_NUM_THREADS`` says otherwise. ``tracking_uri`` is where ``models:/``
    URIs are looked up.
    """
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "--model-uri",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
    ]
    env = dict(os.environ)
    # MLflow starts the server as "uvicorn ..." through the shell: put this environment's
    # scripts first on PATH so a venv works without being activated.
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    # One OpenMP thread per worker: scoring one customer is too small to share, and spinning
    # OpenMP threads slow every request down when the machine's cores are busy.
    env.setdefault("OMP_NUM_THREADS", "1")
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return command, env
