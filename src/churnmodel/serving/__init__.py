"""Serving: the churnmodel pyfunc model, its signature, loading and the REST server command.

With :mod:`churnmodel.tracking`, the only code that imports mlflow; importing this package
imports mlflow (seconds), so the workflows import it only when they need it.

* :mod:`~churnmodel.serving.pyfunc`: :class:`ChurnPyfuncModel` (transactions in, scores out),
  the payload pickled with the model, and the check that no training data travels with it.
* :mod:`~churnmodel.serving.signature`: the signature and a made-up input example.
* :mod:`~churnmodel.serving.server`: the model's files, :func:`load_model`,
  :func:`serve_command`.
"""

from churnmodel.serving.pyfunc import (
    BUNDLE_ARTIFACT,
    INPUT_COLUMNS,
    SCORE_COLUMNS,
    ChurnPyfuncModel,
    ModelPayload,
    ScoringBundle,
    load_payload,
    save_payload,
)
from churnmodel.serving.server import (
    LoadedModel,
    ModelFiles,
    check_model,
    load_model,
    model_files,
    serve_command,
)
from churnmodel.serving.signature import input_example, model_signature

__all__ = [
    "BUNDLE_ARTIFACT",
    "INPUT_COLUMNS",
    "SCORE_COLUMNS",
    "ChurnPyfuncModel",
    "LoadedModel",
    "ModelFiles",
    "ModelPayload",
    "ScoringBundle",
    "check_model",
    "input_example",
    "load_model",
    "load_payload",
    "model_files",
    "model_signature",
    "save_payload",
    "serve_command",
]
