"""How the MLflow UI opens on an experiment: its kind, a saved runs view, and links to both.

MLflow 3's UI has two modes, "GenAI" (traces, judges, prompts) and "Model training" (runs,
models). It opens in GenAI mode unless the link says ``workflowType=machine_learning`` or the
browser remembers the reader switching (the sidebar toggle), and it tags experiments with a
kind (``mlflow.experimentKind``). A churnmodel experiment is a classic model-training one:
:func:`mark_training_experiment` tags it so, with ``lapse_roc_auc`` as its primary metric (the
first chart of the runs' chart view), and :func:`save_runs_view` stores a named runs-table
view in the experiment (the UI's "Views" menu, shared by link) whose columns are the headline
metrics. :func:`ui_link` builds the links the commands print: model-training mode, the view.

These are the UI's own conventions (experiment tags read by its JavaScript), kept in one
place; nothing else in churnmodel depends on them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

__all__ = [
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "HEADLINE_VIEW",
    "PRIMARY_METRIC_TAG",
    "mark_training_experiment",
    "save_runs_view",
    "ui_link",
]

#: Experiment tag the UI reads for the experiment's kind, and the kind of a training one.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: Experiment tag naming the metric the UI charts first.
PRIMARY_METRIC_TAG = "mlflow.experiment.primaryMetric.name"
#: Prefix of the experiment tags holding saved runs views (the UI's "Views" menu).
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
#: Key of the saved view of the headline metrics (``viewStateShareKey`` in links).
HEADLINE_VIEW = "churnmodel-headline"
#: What a link adds so that the UI opens in its model-training mode.
TRAINING_MODE = {"workflowType": "machine_learning"}


def mark_training_experiment(
    experiment_id: str, *, primary_metric: str | None = None, client: object | None = None
) -> None:
    """Tag the experiment as a model-training one, with its primary metric (module docstring).

    Tags already set to the same value are left alone.
    """
    import mlflow

    c = client or mlflow.MlflowClient()
    current = dict(c.get_experiment(experiment_id).tags or {})  # type: ignore[attr-defined]
    wanted = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
    if primary_metric:
        wanted[PRIMARY_METRIC_TAG] = primary_metric
    for key, value in wanted.items():
        if current.get(key) != value:
            c.set_experiment_tag(experiment_id, key, value)  # type: ignore[attr-defined]


def _column(kind: str, name: str) -> str:
    """Return the UI's id of a runs-table column: ``metrics.`lapse_roc_auc```."""
    return f"{kind}.`{name}`"


def save_runs_view(
    experiment_id: str,
    *,
    key: str = HEADLINE_VIEW,
    name: str,
    metrics: Sequence[str],
    tags: Sequence[str] = (),
    widths: Mapping[str, int] | None = None,
    client: object | None = None,
) -> str:
    """Store a runs-table view in the experiment and return its key.

    The view shows the run name, start, dataset and duration, then ``metrics`` and ``tags``
    in that order, newest run first. It is listed in the UI's "Views" menu under ``name`` and
    opened by links with ``viewStateShareKey=<key>`` (:func:`ui_link`). Saving it again with
    the same columns changes nothing.

    Parameters
    ----------
    widths
        Column width in pixels by metric or tag name (``"run name"`` for the name column).
    """
    import mlflow

    c = client or mlflow.MlflowClient()
    widths = dict(widths or {})
    run_name = _column("attributes", "Run Name")
    selected = [
        _column("attributes", "Dataset"),
        *(_column("metrics", m) for m in metrics),
        *(_column("tags", t) for t in tags),
    ]
    order = [run_name, "runDateAndNestInfo", *selected[:1], "duration", *selected[1:]]
    column_widths = {run_name: widths.pop("run name", 320)}
    for metric in metrics:
        column_widths[_column("metrics", metric)] = widths.get(metric, 130)
    for tag in tags:
        column_widths[_column("tags", tag)] = widths.get(tag, 130)
    state = {
        "selectedColumns": selected,
        "columnOrder": order,
        "columnWidths": column_widths,
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
    }
    tag_key = f"{VIEW_TAG_PREFIX}{key}"
    current = dict(c.get_experiment(experiment_id).tags or {}).get(tag_key)  # type: ignore[attr-defined]
    if current:
        try:
            if json.loads(json.loads(current)["state"]) == state:
                return key
        except (ValueError, KeyError, TypeError):
            pass  # not ours or malformed: overwrite it
    now = int(time.time() * 1000)
    envelope = {"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    c.set_experiment_tag(experiment_id, tag_key, json.dumps(envelope))  # type: ignore[attr-defined]
    return key


def ui_link(
    base: str,
    experiment_id: str,
    *,
    run_id: str | None = None,
    view: str | None = None,
    model: str | None = None,
) -> str:
    """Return a UI link that opens in model-training mode.

    ``base`` is the server's address (``http://127.0.0.1:5000``). The link opens the run
    ``run_id``, else the registered model ``model``, else the experiment's runs table (with
    the saved ``view``).
    """
    root = base.rstrip("/")
    params = dict(TRAINING_MODE)
    if run_id is not None:
        path = f"#/experiments/{experiment_id}/runs/{run_id}"
    elif model is not None:
        path = f"#/models/{model}"
    else:
        path = f"#/experiments/{experiment_id}/runs"
        if view is not None:
            params = {"viewStateShareKey": view, **params}
    return f"{root}/{path}?{urlencode(params)}"
