"""Package, load and serve the churnmodel pyfunc.

* :func:`model_files`: what :func:`churnmodel.tracking.log_pyfunc_model` needs to log the
  model: the models-from-code file, a clean copy of the package for ``code_paths`` and the
  pinned requirements.
* :func:`load_model`: a logged or registered model, ready to score in this process.
* :func:`serve_command`: MLflow's scoring app behind churnmodel's request guard
  (:mod:`churnmodel.serving.asgi`), under uvicorn on loopback.
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
from churnmodel.models.estimators import usable_cores
from churnmodel.serving.asgi import DEFAULT_MAX_REQUEST_BYTES, MAX_REQUEST_BYTES_ENV, MODEL_URI_ENV
from churnmodel.serving.pyfunc import BUNDLE_ARTIFACT, INPUT_COLUMNS, ChurnPyfuncModel

__all__ = [
    "LoadedModel",
    "ModelFiles",
    "check_model",
    "default_workers",
    "load_model",
    "model_files",
    "serve_command",
]


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
    from mlflow.exceptions import MlflowException

    pyfunc = mlflow.pyfunc.load_model(uri)
    try:
        inner = pyfunc.unwrap_python_model()
    except MlflowException:  # another flavor (scikit-learn, ...): no python model inside
        inner = None
    if not isinstance(inner, ChurnPyfuncModel):
        meta = pyfunc.metadata
        raise ConfigError(_not_churnmodel(uri, meta.flavors, meta.get_input_schema(), inner))
    return LoadedModel(pyfunc=pyfunc, model=inner, metadata=dict(pyfunc.metadata.metadata or {}))


def check_model(uri: str) -> None:
    """Raise ConfigError unless ``uri`` holds a churnmodel model, reading only its MLmodel file.

    A churnmodel model is a python-function model with the pickled bundle among its artifacts
    (:data:`~churnmodel.serving.pyfunc.BUNDLE_ARTIFACT`); the check costs a metadata read, so
    ``churnmodel serve`` can refuse another kind of model before it starts a server.
    """
    from mlflow.models import Model

    # Model.load reads the MLmodel file alone; mlflow.models.get_model_info would also look the
    # model's id up in the tracking store and fail for a model folder copied from another one.
    meta = Model.load(uri)
    pyfunc = (meta.flavors or {}).get("python_function", {})
    if BUNDLE_ARTIFACT not in (pyfunc.get("artifacts") or {}):
        schema = meta.signature.inputs if meta.signature is not None else None
        raise ConfigError(_not_churnmodel(uri, meta.flavors, schema, None))


def _not_churnmodel(uri: str, flavors: Any, schema: Any, inner: object) -> str:
    """Say what the model at ``uri`` is and expects, and what a churnmodel model takes."""
    named = [f for f in (flavors or {}) if f != "python_function"]
    kind = f"a {', '.join(named)} model" if named else "a model"
    if inner is not None:
        kind = f"{kind} (python model {type(inner).__name__})"
    names = schema.input_names() if schema is not None and schema.has_input_names() else []
    inputs = (
        f"its inputs are {', '.join(repr(str(n)) for n in names)}"
        if names
        else "its inputs are unnamed or undeclared"
    )
    expected = ", ".join(repr(c) for c in INPUT_COLUMNS)
    return (
        f"{uri} is not a churnmodel model: it is {kind} and {inputs}; churnmodel scores "
        f"transactions ({expected}) with a model logged by `churnmodel train`"
    )


def default_workers() -> int:
    """One worker per core this process may run on (``models.estimators.usable_cores``)."""
    return usable_cores()


# Native thread pools limited to one thread per worker: scoring one request is too small to
# share, and with one worker per core, pools of a core's size each would oversubscribe it.
_ONE_THREAD = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def serve_command(
    model_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int | None = None,
    timeout: int = 60,
    tracking_uri: str | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> tuple[list[str], dict[str, str]]:
    """Return the command (and environment) serving ``model_uri`` over REST.

    uvicorn running MLflow's own scoring app (the app ``mlflow models serve --env-manager
    local`` runs: same endpoints, request formats and ``timeout`` per request) behind
    :class:`churnmodel.serving.asgi.RequestGuard`, which refuses malformed requests and never
    sends a request's values back in an error (``mlflow models serve`` has no hook for its
    error responses, and some of them quote the request). In the current environment (where
    churnmodel and its pinned dependencies are installed), ``workers`` uvicorn worker
    processes (None: one per available core, :func:`default_workers`), bound to ``host``
    (loopback by default; pass ``0.0.0.0`` deliberately to expose it), each with one
    OpenMP/BLAS thread unless ``OMP_NUM_THREADS`` (etc.) say otherwise.
    ``tracking_uri`` is where ``models:/`` URIs are looked up; request bodies over
    ``max_request_bytes`` get 413.
    """
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "churnmodel.serving.asgi:create_app",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(default_workers() if workers is None else workers),
    ]
    env = dict(os.environ)
    env[MODEL_URI_ENV] = model_uri
    env[MAX_REQUEST_BYTES_ENV] = str(max_request_bytes)
    env["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(timeout)
    # One OpenMP thread per worker: scoring one customer is too small to share, and spinning
    # OpenMP threads slow every request down when the machine's cores are busy.
    for name in _ONE_THREAD:
        env.setdefault(name, "1")
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return command, env
