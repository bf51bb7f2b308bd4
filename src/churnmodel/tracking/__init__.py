"""MLflow tracking: the store, run logging, the registry and the promotion rule.

With :mod:`churnmodel.serving`, the only code that imports mlflow, and only inside functions
(importing mlflow takes seconds, and ``import churnmodel`` must stay cheap). No business
logic: the workflows decide what to log and when to promote.

* :mod:`~churnmodel.tracking.store`: ``sqlite:///mlflow.db`` + ``./mlartifacts`` by default,
  ``MLFLOW_TRACKING_URI`` for a team server; the command that starts the UI.
* :mod:`~churnmodel.tracking.runs`: parameters, metrics, dicts, tables, figures, the model.
* :mod:`~churnmodel.tracking.registry`: register a version, move the alias, resolve a URI
  with an error that lists what exists.
* :mod:`~churnmodel.tracking.promotion`: ``"<metric> <op> <metric or number>"`` rules.
"""

from churnmodel.tracking.promotion import (
    CHAMPION_PREFIX,
    PromotionDecision,
    PromotionRule,
    decide_promotion,
    parse_rule,
)
from churnmodel.tracking.registry import (
    Champion,
    RegisteredVersion,
    ResolvedModel,
    apply_promotion,
    find_champion,
    register_version,
    registry_overview,
    resolve_model,
    set_version_tags,
)
from churnmodel.tracking.runs import (
    LoggedModel,
    download_artifact,
    flatten_params,
    log_dict,
    log_figures,
    log_file,
    log_metrics,
    log_params,
    log_pyfunc_model,
    log_table,
    run,
    set_tags,
)
from churnmodel.tracking.store import (
    DEFAULT_TRACKING_URI,
    TrackingStore,
    open_store,
    resolve_tracking_uri,
    ui_command,
)

__all__ = [
    "CHAMPION_PREFIX",
    "DEFAULT_TRACKING_URI",
    "Champion",
    "LoggedModel",
    "PromotionDecision",
    "PromotionRule",
    "RegisteredVersion",
    "ResolvedModel",
    "TrackingStore",
    "apply_promotion",
    "decide_promotion",
    "download_artifact",
    "find_champion",
    "flatten_params",
    "log_dict",
    "log_figures",
    "log_file",
    "log_metrics",
    "log_params",
    "log_pyfunc_model",
    "log_table",
    "open_store",
    "parse_rule",
    "register_version",
    "registry_overview",
    "resolve_model",
    "resolve_tracking_uri",
    "run",
    "set_tags",
    "set_version_tags",
    "ui_command",
]
