"""The champion's track record: what it forecast against what happened, and input drift.

``monitor_job(settings, data=...)``:

1. finds the model (``models:/churnmodel@champion`` by default) and reads what it is: the
   last day of data it was fitted on ``S`` and its horizon ``H`` (the served model forecasts
   ``(S, S + H]``), the run that trained it and what that run's evaluation promised (its
   season-aligned scorecard when it has one, the honest estimate of the served flow, else
   its holdout scorecard);
2. loads and validates the log, which must reach past ``S``;
3. takes the forecast: the scores written by ``churnmodel score`` at the as-of date (a file,
   ``scores=``; the model that wrote it must be this one), or the model's scores re-computed
   at ``S`` (``as_of`` may name a later forecast date; never an earlier one, whose outcomes
   the model saw);
4. once the window ``(as_of, as_of + H]`` has passed in the data, realises it: who bought and
   how much, per customer known at the as-of date; the realised lapse ROC AUC, Brier score
   and calibration, spend Spearman and total error, against the promise (the realised
   scorecard carries days-since-last and scaled past spend too, so a drop of the world is
   told from a drop of the model);
5. measures input drift: the population stability index of every feature between the
   customers at the model's training snapshot (``S``) and now (the log's last day)
   (:mod:`churnmodel.evaluation.drift`);
6. logs a monitoring run (experiment ``<experiment>-monitoring``), tags the registered version
   with its latest realised metrics, and lists every limit of ``[monitoring]`` that was
   exceeded (the command exits 3 on any, for a scheduled job to alert on).

A window that has not passed yet is reported (when it ends, how many days of data are
missing) and only the drift is measured and logged.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnmodel.config import Settings
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features.customer import to_date
from churnmodel.io import TransactionTable
from churnmodel.schemas import CUSTOMER_ID
from churnmodel.workflows.features import load_log
from churnmodel.workflows.score import SCORE_METADATA_KEY, default_model_uri, openmp_threads

if TYPE_CHECKING:
    from churnmodel.tracking import ResolvedModel

__all__ = ["MONITOR_VIEW_METRICS", "MonitorResult", "monitor_job"]

#: Metrics of a monitoring run shown first (and in the monitoring experiment's runs view).
MONITOR_VIEW_METRICS: tuple[str, ...] = (
    "realised_lapse_roc_auc",
    "lapse_roc_auc_drop",
    "realised_lapse_brier",
    "lapse_brier_rise",
    "lapse_calibration_gap",
    "realised_spend_spearman",
    "spend_spearman_drop",
    "realised_spend_total_relative_error",
    "max_psi",
)
#: Scorecard metrics whose promise is compared with what happened.
_PROMISED = (
    "lapse_roc_auc",
    "lapse_brier",
    "spend_spearman",
    "spend_total_relative_error",
    "baseline_recency_roc_auc",
)


@dataclass(frozen=True)
class MonitorResult:
    """What a monitoring run found (the CLI prints it; ``problems`` decide the exit code).

    Attributes
    ----------
    model
        The model monitored.
    as_of, horizon_days, window_end
        The forecast: made at ``as_of``, for ``(as_of, window_end]``.
    fitted_through
        The last day of data the model was fitted on (its training snapshot).
    data_end
        The last day of the monitored log.
    complete
        Whether the log covers the whole window (realised metrics exist only then).
    realised, promised
        Metric name (``lapse_roc_auc`` ...) -> value; ``promised_scorecard`` says which
        scorecard of the training run the promise came from (``aligned`` or ``holdout``).
    drift
        :func:`churnmodel.evaluation.drift_table`, with ``held_to_limit``.
    problems
        One sentence per exceeded limit; empty when all is well.
    metrics
        Everything the run logged.
    """

    model: ResolvedModel
    as_of: date
    horizon_days: int
    window_end: date
    fitted_through: date
    data_end: date
    complete: bool
    realised: dict[str, float]
    promised: dict[str, float]
    promised_scorecard: str
    drift: pd.DataFrame
    problems: list[str]
    metrics: dict[str, float]
    run_id: str
    run_name: str
    experiment_id: str
    tracking_uri: str
    scores_source: str
    version_tags: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every limit held."""
        return not self.problems

    @property
    def run_link(self) -> str:
        """A link to the monitoring run in the UI (model-training mode)."""
        from churnmodel.tracking.views import ui_link
        from churnmodel.workflows.train import ui_base

        return ui_link(ui_base(self.tracking_uri), self.experiment_id, run_id=self.run_id)


def _model_facts(payload: Any) -> tuple[date, int]:
    """Return (last day of data the model saw, horizon in days) from the model itself."""
    bundle = payload.bundle
    info = dict(payload.info or {})
    through = info.get("fitted_through") or getattr(bundle, "cutoff", None)
    horizon = getattr(bundle, "horizon_days", None) or info.get("horizon_days")
    if through is None or horizon is None:
        raise ConfigError(
            "the model does not say when it was fitted or for which horizon; monitor a model "
            "logged by `churnmodel train`"
        )
    return to_date(through, "fitted_through"), int(horizon)


def _load_payload(model: ResolvedModel, workdir: Path) -> Any:
    """Download the model's bundle file and unpickle it (without MLflow's pyfunc loader)."""
    from churnmodel import serving, tracking

    name = f"{serving.BUNDLE_ARTIFACT}.pkl"
    if model.uri.startswith(("models:/", "runs:/")):
        path = tracking.download_artifact(workdir, artifact_uri=f"{model.uri}/artifacts/{name}")
    else:
        local = Path(model.uri) / "artifacts" / name
        path = local if local.is_file() else None
    if path is None:
        raise ConfigError(f"{model.label} has no {name}: it is not a churnmodel model")
    return serving.load_payload(path)


def _promise(run_id: str | None) -> tuple[dict[str, float], str]:
    """Return what the training run's evaluation promised and which scorecard it was."""
    from churnmodel import tracking

    if not run_id:
        return {}, "none"
    try:
        metrics = tracking.run_metrics(run_id)
    except Exception:  # a deleted run: nothing was promised that can still be read
        return {}, "none"
    scope = "aligned" if "aligned_lapse_roc_auc" in metrics else "holdout"
    prefix = "aligned_" if scope == "aligned" else ""
    promised = {k: metrics[f"{prefix}{k}"] for k in _PROMISED if f"{prefix}{k}" in metrics}
    return promised, scope


def _earlier_scores(path: str | Path, model_version: str) -> tuple[pd.DataFrame, date]:
    """Read a score file of ``churnmodel score``; return its rows and as-of date."""
    import pyarrow.parquet as pq

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"scores file not found: {file}")
    if file.suffix.lower() != ".parquet":
        raise ConfigError(
            f"--scores must be a Parquet file written by `churnmodel score` (it says which "
            f"model wrote it and when), got {file.name}"
        )
    meta = (pq.read_schema(file).metadata or {}).get(SCORE_METADATA_KEY.encode())
    if meta is None:
        raise ConfigError(f"{file} has no churnmodel metadata: write it with `churnmodel score`")
    info = json.loads(meta)
    if info.get("model_version") != model_version:
        raise ConfigError(
            f"{file} was scored by the model of run {info.get('model_version')}, not by the "
            f"model monitored (run {model_version}); pass --model with the model that wrote it"
        )
    frame = pd.read_parquet(file)
    frame[CUSTOMER_ID] = frame[CUSTOMER_ID].astype(str)
    return frame, to_date(info["as_of"], "as_of")


def _realised(
    scores: pd.DataFrame, outcomes: pd.DataFrame, horizon_days: int
) -> tuple[dict[str, float], pd.DataFrame, Any, pd.DataFrame]:
    """Score the forecast against what happened.

    Returns the metrics, the calibration table, the scorecard and the forecast joined with
    the outcomes (one row per customer known at the forecast date).
    """
    from churnmodel.evaluation import Prediction, calibration_table, scorecard

    joined = scores.set_index(CUSTOMER_ID).join(
        outcomes.loc[:, ["lapsed", "spend_next", "days_since_last", "spend_365d"]], how="inner"
    )
    if joined.empty:
        raise DataValidationError("no customer of the forecast is in the monitored log")
    lapsed = joined["lapsed"].astype("int64")
    card = scorecard(
        lapse_label=lapsed,
        lapse_scores={
            "champion": Prediction(joined["p_churn"], kind="model"),
            "baseline_recency": joined["days_since_last"].astype(float),
        },
        spend_actual=joined["spend_next"].clip(lower=0.0).astype(float),
        spend_predictions={
            "champion": Prediction(joined["expected_spend"].astype(float), kind="model"),
            "baseline_scaled_spend": joined["spend_365d"].clip(lower=0.0).astype(float)
            * horizon_days
            / 365.0,
        },
        lapse_model="champion",
        spend_model="champion",
    )
    metrics = card.to_metrics_dict()
    metrics["lapse_mean_p_churn"] = float(joined["p_churn"].mean())
    metrics["lapse_calibration_gap"] = metrics["lapse_mean_p_churn"] - metrics["lapse_base_rate"]
    calibration = calibration_table(lapsed, joined["p_churn"].astype(float))
    return metrics, calibration, card, joined


def _checks(
    settings: Settings,
    realised: Mapping[str, float],
    promised: Mapping[str, float],
    drift: pd.DataFrame,
) -> tuple[dict[str, float], list[str]]:
    """Return the differences to the promise and the limits they (or the drift) exceed."""
    m = settings.monitoring
    diffs: dict[str, float] = {}
    problems: list[str] = []

    def over(name: str, value: float, limit: float, what: str) -> None:
        diffs[name] = value
        if math.isfinite(value) and value > limit:
            problems.append(f"{what} {value:+.3f} exceeds {limit:g} ({name})")

    if realised:
        if "lapse_roc_auc" in promised:
            over(
                "lapse_roc_auc_drop",
                promised["lapse_roc_auc"] - realised["lapse_roc_auc"],
                m.max_auc_drop,
                f"lapse ROC AUC fell from {promised['lapse_roc_auc']:.3f} promised to "
                f"{realised['lapse_roc_auc']:.3f}:",
            )
        if "lapse_brier" in promised and "lapse_brier" in realised:
            over(
                "lapse_brier_rise",
                realised["lapse_brier"] - promised["lapse_brier"],
                m.max_brier_rise,
                f"lapse Brier score rose from {promised['lapse_brier']:.3f} promised to "
                f"{realised['lapse_brier']:.3f}:",
            )
        gap = realised["lapse_calibration_gap"]
        diffs["lapse_calibration_gap"] = gap
        if abs(gap) > m.max_calibration_gap:
            problems.append(
                f"calibration: mean p_churn {realised['lapse_mean_p_churn']:.3f} against a "
                f"realised lapse rate of {realised['lapse_base_rate']:.3f} ({gap:+.3f}, limit "
                f"{m.max_calibration_gap:g})"
            )
        if "spend_spearman" in promised:
            over(
                "spend_spearman_drop",
                promised["spend_spearman"] - realised["spend_spearman"],
                m.max_spearman_drop,
                f"spend Spearman fell from {promised['spend_spearman']:.3f} promised to "
                f"{realised['spend_spearman']:.3f}:",
            )
        error = realised.get("spend_total_relative_error", math.nan)
        if math.isfinite(error) and abs(error) > m.max_spend_error:
            problems.append(
                f"total spend forecast off by {error:+.1%} (limit {m.max_spend_error:.0%})"
            )
    held = drift[drift["held_to_limit"]]
    drifted = held[held["psi"] > m.max_psi]
    if not drifted.empty:
        shown = ", ".join(f"{r.feature} {r.psi:.2f}" for r in drifted.itertuples())
        problems.append(f"input drift: PSI above {m.max_psi:g} for {shown}")
    return diffs, problems


def monitor_job(
    settings: Settings,
    *,
    data: str | Path | None,
    model_uri: str | None = None,
    scores: str | Path | None = None,
    as_of: str | date | None = None,
) -> MonitorResult:
    """Run the monitoring job (module docstring) and return what it found.

    Parameters
    ----------
    settings
        ``[data]``: how to read the log; ``[tracking]``: the store and the default model;
        ``[monitoring]``: the limits and the experiment of the monitoring runs.
    data
        The log as it is now (CSV, Parquet file or folder; ``None`` for CDNOW): the model's
        training data and what came after.
    model_uri
        The model to monitor (default ``models:/<registered_model>@<alias>``).
    scores
        A Parquet file written by ``churnmodel score`` with this model: the forecast as it was
        sent; default: the model's scores re-computed at ``as_of``.
    as_of
        The forecast date (default: the last day of the model's training data); ignored with
        ``scores``, whose file says it.

    Raises
    ------
    ChurnModelError
        A wrong model, a log that ends before the forecast, a forecast date before the
        model's training data ends, a scores file of another model.
    """
    from churnmodel import serving, tracking
    from churnmodel.evaluation import drift_table
    from churnmodel.features import build_snapshots
    from churnmodel.models.training import until

    started = time.perf_counter()
    t, m = settings.tracking, settings.monitoring
    store = tracking.open_store(t.uri, experiment=None)
    model = tracking.resolve_model(model_uri or default_model_uri(settings))
    with tempfile.TemporaryDirectory() as tmp:
        payload = _load_payload(model, Path(tmp))
    through, horizon = _model_facts(payload)
    table, report = load_log(data, settings, materialize=False)
    if report.last_date is None:
        raise DataValidationError("no usable transactions: nothing to monitor")
    data_end = report.last_date
    if data_end <= through:
        raise ConfigError(
            f"the log ends on {data_end.isoformat()}, but {model.label} was fitted on data to "
            f"{through.isoformat()}: monitoring needs the log as it is now, the model's "
            "training data and what came after"
        )
    transactions = table.to_pandas() if isinstance(table, TransactionTable) else table
    bundle = payload.bundle
    if scores is not None:
        forecast, day = _earlier_scores(scores, payload.model_version)
        source = str(scores)
    else:
        day = to_date(as_of, "as_of") if as_of is not None else through
        forecast, source = pd.DataFrame(), f"re-scored with {model.label}"
    if day < through:
        raise ConfigError(
            f"a forecast at {day.isoformat()} cannot be judged fairly: {model.label} was fitted "
            f"on data to {through.isoformat()}, which include that forecast's window"
        )
    if day >= data_end:
        raise ConfigError(
            f"the log ends on {data_end.isoformat()}, on or before the forecast date "
            f"{day.isoformat()}: nothing happened after it yet"
        )
    window_end = day + timedelta(days=horizon)
    complete = data_end >= window_end
    with openmp_threads(settings.model.threads):
        if scores is None:
            forecast = serving.ChurnPyfuncModel(payload).score(until(transactions, day), day)
        reference = bundle.features(transactions, through)
        current = bundle.features(transactions, data_end)
    drift = drift_table(reference, current, bins=m.psi_bins)
    drift["held_to_limit"] = ~drift["feature"].isin(m.drift_exclude)
    promised, scope = _promise(payload.model_version or model.run_id)
    realised: dict[str, float] = {}
    calibration = card = joined = None
    if complete:
        outcomes = build_snapshots(
            transactions,
            [day],
            horizon,
            time_unit=bundle.time_unit,
            purchase=bundle.purchase,
            rules=bundle.rules,
            windows=bundle.windows,
        ).set_index(CUSTOMER_ID)
        realised, calibration, card, joined = _realised(forecast, outcomes, horizon)
    diffs, problems = _checks(settings, realised, promised, drift)
    held = drift[drift["held_to_limit"]]
    max_psi = float(held["psi"].max()) if not held.empty else math.nan
    metrics = _monitor_metrics(realised, promised, diffs, max_psi)
    label = _label(data)
    experiment = m.experiment or f"{t.experiment}-monitoring"
    monitor_store = tracking.open_store(
        store.uri, experiment=experiment, artifact_root=t.artifact_root
    )
    tracking.mark_training_experiment(
        monitor_store.experiment_id, primary_metric="realised_lapse_roc_auc"
    )
    tracking.save_runs_view(
        monitor_store.experiment_id,
        name="churnmodel: realised against promised",
        metrics=MONITOR_VIEW_METRICS,
        tags=("model", "monitor_status", "window"),
        widths={"model": 180},
    )
    started_at = time.time() - (time.perf_counter() - started)
    run_name = tracking.unique_run_name(
        f"monitor {model.label.split(' (@')[0]} {day.isoformat()} +{horizon}d "
        f"{datetime.fromtimestamp(started_at):%Y-%m-%dT%H:%M}",
        monitor_store.experiment_id,
    )
    status = "ok" if not problems else "problem"
    tags = {
        "model": model.label,
        "model_uri": model.uri,
        "training_run_id": payload.model_version or (model.run_id or ""),
        "registered_model": model.name or "",
        "registered_version": model.version or "",
        "as_of": day.isoformat(),
        "window_end": window_end.isoformat(),
        "fitted_through": through.isoformat(),
        "data_end": data_end.isoformat(),
        "window": "complete" if complete else "open",
        "promised_scorecard": scope,
        "scores": source,
        "monitor_status": status,
        "dataset": label,
    }
    with tracking.run(
        run_name, tags=tags, started=started_at, experiment_id=monitor_store.experiment_id
    ) as run_id:
        from churnmodel.evaluation import plot_calibration, plot_psi
        from churnmodel.workflows.train import data_fingerprint

        fingerprint = data_fingerprint(data)
        tracking.log_dataset(
            name=label,
            source=str(_source(data)),
            digest=fingerprint.removeprefix("sha256:")[:12],
            schema={"customer_id": "string", "timestamp": "datetime", "amount": "double"},
            profile={
                "rows_read": report.rows_read,
                "rows_used": report.rows_used,
                "customers": report.customers,
                "first_date": str(report.first_date),
                "last_date": data_end.isoformat(),
                "fingerprint": fingerprint,
            },
            context="monitoring",
        )
        first = {k: metrics[k] for k in MONITOR_VIEW_METRICS if k in metrics}
        logged = tracking.log_metrics(first)
        logged.update(tracking.log_metrics({k: v for k, v in metrics.items() if k not in first}))
        tracking.log_metrics(
            {
                f"psi/{feature}": round(float(psi), 4)
                for feature, psi in zip(drift["feature"], drift["psi"], strict=True)
            }
        )
        tracking.log_table(_rounded(drift), "monitoring/drift.json")
        figures = {
            "plots/drift_psi.png": plot_psi(
                drift, limit=m.max_psi, excluded=list(m.drift_exclude)
            ).get_figure(root=True)
        }
        if calibration is not None and card is not None and joined is not None:
            tracking.log_table(_rounded(calibration), "monitoring/calibration.json")
            tracking.log_table(card.to_frame(), "monitoring/realised_scorecard.json")
            figures["plots/realised_calibration.png"] = plot_calibration(
                joined["lapsed"].astype("int64"), {"p_churn": joined["p_churn"].astype(float)}
            ).get_figure(root=True)
        tracking.log_figures({k: v for k, v in figures.items() if v is not None})
        tracking.set_tags(
            {
                "mlflow.note.content": _description(
                    run_name,
                    model=model,
                    day=day,
                    window_end=window_end,
                    through=through,
                    data_end=data_end,
                    complete=complete,
                    realised=realised,
                    promised=promised,
                    scope=scope,
                    drift=drift,
                    problems=problems,
                    limit=m.max_psi,
                    source=source,
                )
            }
        )
    version_tags = _version_tags(model, run_id, day, window_end, realised, max_psi, status)
    return MonitorResult(
        model=model,
        as_of=day,
        horizon_days=horizon,
        window_end=window_end,
        fitted_through=through,
        data_end=data_end,
        complete=complete,
        realised=realised,
        promised=promised,
        promised_scorecard=scope,
        drift=drift,
        problems=problems,
        metrics=logged,
        run_id=run_id,
        run_name=run_name,
        experiment_id=monitor_store.experiment_id,
        tracking_uri=store.uri,
        scores_source=source,
        version_tags=version_tags,
    )


def _monitor_metrics(
    realised: Mapping[str, float],
    promised: Mapping[str, float],
    diffs: Mapping[str, float],
    max_psi: float,
) -> dict[str, float]:
    """Return the run's metrics: realised_*, promised_*, the differences, the largest PSI."""
    out: dict[str, float] = {}
    for key, value in realised.items():
        out[f"realised_{key}"] = value
    for key, value in promised.items():
        out[f"promised_{key}"] = value
    out.update(diffs)
    out["max_psi"] = max_psi
    return {k: round(float(v), 4) for k, v in out.items() if math.isfinite(float(v))}


def _version_tags(
    model: ResolvedModel,
    run_id: str,
    day: date,
    window_end: date,
    realised: Mapping[str, float],
    max_psi: float,
    status: str,
) -> dict[str, str]:
    """Tag the registered version with its latest record; return the tags (none if unregistered)."""
    from churnmodel import tracking
    from churnmodel.tracking import RegisteredVersion

    if model.name is None or model.version is None:
        return {}
    tags = {
        "monitor_run_id": run_id,
        "monitor_status": status,
        "monitored_at": datetime.now().isoformat(timespec="seconds"),
        "monitor_max_psi": f"{max_psi:.4f}",
    }
    if realised:
        tags["realised_window"] = f"{(day + timedelta(days=1)).isoformat()}..{window_end}"
        for key in (
            "lapse_roc_auc",
            "lapse_brier",
            "lapse_calibration_gap",
            "spend_spearman",
            "spend_total_relative_error",
        ):
            if key in realised:
                tags[f"realised_{key}"] = f"{realised[key]:.4f}"
    tracking.set_version_tags(RegisteredVersion(model.name, model.version, model.uri), tags)
    return tags


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(4)
    return out


def _label(data: str | Path | None) -> str:
    from churnmodel.workflows.features import CDNOW

    return "CDNOW" if data is None or str(data) == CDNOW else Path(data).name


def _source(data: str | Path | None) -> str:
    from churnmodel.datasets.cdnow import cdnow_path
    from churnmodel.workflows.features import CDNOW

    if data is None or str(data) == CDNOW:
        return str(cdnow_path(sample=False))
    return str(Path(data).resolve())


def _description(
    run_name: str,
    *,
    model: ResolvedModel,
    day: date,
    window_end: date,
    through: date,
    data_end: date,
    complete: bool,
    realised: Mapping[str, float],
    promised: Mapping[str, float],
    scope: str,
    drift: pd.DataFrame,
    problems: list[str],
    limit: float,
    source: str,
) -> str:
    """Return the monitoring run's Markdown description."""
    from churnmodel.evaluation import markdown_table

    window = f"{(day + timedelta(days=1)).isoformat()} .. {window_end.isoformat()}"
    lines = [
        f"**{run_name}** · {model.label}, fitted on data to {through.isoformat()}; forecast made "
        f"at {day.isoformat()} for {window} ({source}); log to {data_end.isoformat()}.",
        "",
        "**Status: all limits hold.**"
        if not problems
        else "**Status: " + "; ".join(problems) + ".**",
        "",
    ]
    if complete:
        rows = []
        for key, title in (
            ("lapse_roc_auc", "lapse ROC AUC"),
            ("lapse_brier", "lapse Brier score"),
            ("spend_spearman", "spend Spearman"),
            ("spend_total_relative_error", "total spend error"),
            ("baseline_recency_roc_auc", "days since last purchase, ROC AUC"),
        ):
            if key not in realised:
                continue
            rows.append(
                {
                    "": title,
                    f"promised ({scope})": f"{promised[key]:.3f}" if key in promised else "–",
                    "realised": f"{realised[key]:.3f}",
                }
            )
        rows.append(
            {
                "": "lapse rate (forecast: the mean p_churn)",
                f"promised ({scope})": f"{realised['lapse_mean_p_churn']:.3f}",
                "realised": f"{realised['lapse_base_rate']:.3f}",
            }
        )
        lines += [f"**Realised** in {window}:", "", markdown_table(pd.DataFrame(rows), pad=True)]
    else:
        missing = (window_end - data_end).days
        lines.append(
            f"The forecast window ends on {window_end.isoformat()}; the log ends {missing} "
            "days earlier: no realised metrics yet, drift only."
        )
    top = drift.head(8)
    table = pd.DataFrame(
        {
            "feature": top["feature"],
            "PSI": [f"{v:.3f}" for v in top["psi"]],
            "mean then": [f"{v:.3g}" for v in top["reference_mean"]],
            "mean now": [f"{v:.3g}" for v in top["current_mean"]],
            "held to the limit": ["yes" if v else "no" for v in top["held_to_limit"]],
        }
    )
    lines += [
        "",
        f"**Input drift**, training snapshot {through.isoformat()} -> {data_end.isoformat()} "
        f"(limit {limit:g}):",
        "",
        markdown_table(table, pad=True),
    ]
    return "\n".join(lines) + "\n"
