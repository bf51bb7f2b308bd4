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
* :mod:`~churnmodel.tracking.views`: the experiment's kind, the saved runs view of the headline
  metrics, links that open the UI on training runs.
* :mod:`~churnmodel.tracking.server`: the team server (MLflow on PostgreSQL with proxied
  artifacts and basic authentication) and the command that starts it.
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
    version_tags,
)
from churnmodel.tracking.runs import (
    LoggedModel,
    download_artifact,
    flatten_params,
    log_dataset,
    log_dict,
    log_figures,
    log_file,
    log_metric_series,
    log_metrics,
    log_params,
    log_pyfunc_model,
    log_table,
    run,
    run_metrics,
    set_tags,
    unique_run_name,
)
from churnmodel.tracking.store import (
    DEFAULT_TRACKING_URI,
    TrackingStore,
    find_experiment,
    open_store,
    resolve_tracking_uri,
    ui_command,
)
from churnmodel.tracking.views import (
    EXPERIMENT_KIND,
    HEADLINE_VIEW,
    mark_training_experiment,
    save_runs_view,
    ui_link,
)

__all__ = [
    "CHAMPION_PREFIX",
    "DEFAULT_TRACKING_URI",
    "EXPERIMENT_KIND",
    "HEADLINE_VIEW",
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
    "find_experiment",
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
    "mark_training_experiment",
    "open_store",
    "parse_rule",
    "register_version",
    "registry_overview",
    "resolve_model",
    "resolve_tracking_uri",
    "run",
    "run_metrics",
    "save_runs_view",
    "set_tags",
    "set_version_tags",
    "ui_command",
    "ui_link",
    "unique_run_name",
    "version_tags",
]
