"""The training job: fit at a cut-off, evaluate on the holdout, log it all, register, promote.

``train_job(settings, data=...)``:

1. loads and validates the log (every row accounted for) and profiles it (rows, customers,
   dates, load counts, a SHA-256 fingerprint of the input);
2. fits the bundle on data up to the cut-off and scores the holdout that follows it
   (``[model] cutoff`` / ``horizon_days``; CDNOW: calibration to 1997-09-30, 273-day holdout);
3. logs one MLflow run: the resolved settings (params and ``config/settings.json``), the data
   profile (``data/profile.json``), every scorecard metric, the plots (``plots/*.png``), the
   scorecard table (``evaluation/scorecard.json`` and ``.csv``), git commit and package
   version tags, and the pyfunc model with signature and input example;
4. registers the model (``[tracking] registered_model``) and moves the alias
   (``@champion``) to the new version only if every promotion rule holds; otherwise the
   run and the version are tagged with the reason.

MLflow is imported only when the job runs (it takes seconds to import).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

import churnmodel
from churnmodel.config import DEFAULT_HORIZON_DAYS, Settings
from churnmodel.datasets.cdnow import CDNOW_CALIBRATION_END, cdnow_path
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.io import LoadReport, TransactionTable
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP, days_per_unit
from churnmodel.workflows.features import CDNOW, load_log, purchase_rule
from churnmodel.workflows.score import openmp_threads

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from churnmodel.evaluation import Scorecard
    from churnmodel.tracking import PromotionDecision, RegisteredVersion

__all__ = [
    "TrainResult",
    "Trainer",
    "TrainingOutcome",
    "data_fingerprint",
    "fit_and_evaluate",
    "resolve_split",
    "train_job",
    "ui_command",
]


@dataclass(frozen=True)
class TrainingOutcome:
    """What fitting and holdout evaluation produce, for the run to log.

    Attributes
    ----------
    bundle
        The fitted bundle (:class:`churnmodel.serving.ScoringBundle`): no training data.
    scorecard
        Holdout scorecard of every model and baseline.
    figures
        Artifact path (``plots/<name>.png``) -> matplotlib Figure.
    tables
        Artifact path (without extension) -> table, logged as JSON and CSV.
    params
        Extra parameters worth logging (model choices, training cut-offs ...).
    """

    bundle: Any
    scorecard: Scorecard
    figures: Mapping[str, Figure] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


#: Fits the bundle on ``transactions`` up to ``cutoff`` and evaluates it on the
#: ``horizon_days`` after; ``cdnow`` says the log is the bundled CDNOW one.
Trainer = Callable[..., TrainingOutcome]


@dataclass(frozen=True)
class TrainResult:
    """What the training job did (the CLI prints it)."""

    run_id: str
    run_name: str
    experiment_id: str
    tracking_uri: str
    model_uri: str
    registered: RegisteredVersion
    decision: PromotionDecision
    alias: str
    previous_champion: str | None
    metrics: dict[str, float]
    size_bytes: int
    cutoff: date
    horizon_days: int
    profile: dict[str, Any]
    plots: tuple[str, ...]

    @property
    def promoted(self) -> bool:
        """Whether the new version took the alias."""
        return self.decision.promote


def resolve_split(settings: Settings, *, first: date, last: date, cdnow: bool) -> tuple[date, int]:
    """Return the calibration cut-off and the holdout length in days (see ModelSettings).

    Raises
    ------
    ConfigError
        If the holdout would run past the last transaction date or the cut-off lies outside
        the log.
    """
    cutoff, horizon = settings.model.cutoff, settings.model.horizon_days
    if cutoff is None and horizon is None:
        if cdnow:
            cutoff = date.fromisoformat(CDNOW_CALIBRATION_END)
        else:
            horizon = DEFAULT_HORIZON_DAYS
    if cutoff is None:
        assert horizon is not None
        cutoff = last - timedelta(days=horizon)
    if horizon is None:
        horizon = (last - cutoff).days
    if not first <= cutoff < last:
        raise ConfigError(
            f"'cutoff' {cutoff.isoformat()} must fall within the log, on or after "
            f"{first.isoformat()} and before {last.isoformat()}"
        )
    end = cutoff + timedelta(days=horizon)
    if end > last:
        raise ConfigError(
            f"the holdout {cutoff.isoformat()} + {horizon} days ends on {end.isoformat()}, after "
            f"the last transaction date {last.isoformat()}; use --horizon-days "
            f"{(last - cutoff).days} or an earlier --cutoff"
        )
    return cutoff, int(horizon)


def data_fingerprint(data: str | Path | pd.DataFrame | None) -> str:
    """Return ``sha256:<hex>`` of the input: file bytes, or every Parquet file of a folder.

    ``None`` (CDNOW) hashes lifetimes' CDNOW file; a DataFrame hashes its canonical columns.
    """
    digest = hashlib.sha256()
    if isinstance(data, pd.DataFrame):
        cols = [c for c in (CUSTOMER_ID, TIMESTAMP, AMOUNT) if c in data.columns]
        digest.update(pd.util.hash_pandas_object(data[cols], index=False).to_numpy().tobytes())
        return f"sha256:{digest.hexdigest()}"
    path = cdnow_path(sample=False) if data is None or str(data) == CDNOW else Path(data)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _git_commit() -> tuple[str, bool] | None:
    """Return the commit of the checkout the package runs from and whether it has changes."""
    src = Path(churnmodel.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=src,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit, bool(status)


def _profile(
    report: LoadReport, data: str | Path | None, cutoff: date, horizon: int
) -> dict[str, Any]:
    counts = report.to_dict()
    return {
        "source": counts["source"],
        "fingerprint": data_fingerprint(data),
        "rows": {
            k: counts[k]
            for k in (
                "rows_read",
                "rows_used",
                "rows_quarantined",
                "duplicates_removed",
                "rows_after_as_of",
                "identical_rows_kept",
            )
        },
        "quarantine_by_reason": counts["quarantine_by_reason"],
        "customers": counts["customers"],
        "first_date": counts["first_date"],
        "last_date": counts["last_date"],
        "timezone": counts["timezone"],
        "reconciles": counts["reconciles"],
        "calibration": {"start": counts["first_date"], "end": cutoff.isoformat()},
        "holdout": {
            "start": (cutoff + timedelta(days=1)).isoformat(),
            "end": (cutoff + timedelta(days=horizon)).isoformat(),
            "days": horizon,
        },
    }


def _dataset_label(data: str | Path | None) -> str:
    return "CDNOW" if data is None or str(data) == CDNOW else Path(data).name


def fit_and_evaluate(
    transactions: pd.DataFrame,
    *,
    cutoff: date,
    horizon_days: int,
    settings: Settings,
    cdnow: bool,
) -> TrainingOutcome:
    """Fit the bundle up to ``cutoff`` and evaluate it on the holdout (the default trainer).

    :func:`churnmodel.workflows.evaluate.train_and_evaluate` fits and scores (scorecard,
    evaluation plots, aggregate tables); this adds the purchase-model diagnostics (frequency,
    calibration vs holdout, P(alive) matrix) and logs the life-cycle default gap the bundle
    fixed at the cut-off.
    """
    from churnmodel.evaluation import (
        plot_calibration_vs_holdout,
        plot_frequency,
        plot_probability_alive_matrix,
    )
    from churnmodel.features import build_snapshots
    from churnmodel.workflows.evaluate import train_and_evaluate

    outcome = train_and_evaluate(
        transactions, cutoff=cutoff, horizon_days=horizon_days, settings=settings, cdnow=cdnow
    )
    time_unit = settings.features.time_unit
    snap = build_snapshots(
        transactions,
        [cutoff],
        horizon_days,
        time_unit=time_unit,
        purchase=purchase_rule(settings, cdnow=cdnow),
    ).set_index(CUSTOMER_ID)
    bundle = outcome.bundle
    gap = getattr(getattr(bundle, "rules", None), "default_gap_days", None)
    figures = dict(outcome.figures)
    purchase_model = getattr(getattr(bundle, "probabilistic", None), "purchase_model_", None)
    if purchase_model is not None:
        summary = snap.loc[:, ["frequency", "recency", "T", "monetary_value"]]
        summary.attrs = {"time_unit": time_unit}
        holdout = pd.DataFrame(
            {
                "frequency_holdout": snap["purchases_next"],
                "duration_holdout": horizon_days / days_per_unit(time_unit),
            },
            index=snap.index,
        )
        diagnostics = {
            "plots/purchase_model_frequency.png": plot_frequency(purchase_model, summary),
            "plots/purchase_model_calibration_vs_holdout.png": plot_calibration_vs_holdout(
                purchase_model, summary, holdout
            ),
            "plots/purchase_model_p_alive_matrix.png": plot_probability_alive_matrix(
                purchase_model, T=float(summary["T"].max())
            ),
        }
        figures.update({path: _figure(ax) for path, ax in diagnostics.items()})
    params = dict(outcome.params)
    if purchase_model is not None:
        params["purchase_model_params"] = ", ".join(
            f"{k}={v:.4g}" for k, v in purchase_model.params_.items()
        )
    if gap is not None:
        params["lifecycle_default_gap_days"] = round(gap, 3)
    return TrainingOutcome(
        bundle=bundle,
        scorecard=outcome.scorecard,
        figures=figures,
        tables=outcome.tables,
        params=params,
    )


def _figure(ax: Axes) -> Figure:
    figure = ax.get_figure(root=True)
    if figure is None:  # pragma: no cover - the plot functions always draw on a Figure
        raise RuntimeError("a plot function returned Axes without a Figure")
    return figure


def train_job(
    settings: Settings,
    *,
    data: str | Path | None = None,
    trainer: Trainer | None = None,
) -> TrainResult:
    """Run the training job (module docstring) and return what it did.

    Parameters
    ----------
    settings
        ``[data]`` and ``[features]``: how to read the log; ``[model]``: cut-off, horizon, CLV
        terms; ``[tracking]``: store, experiment, registered model, alias, promotion rules.
    data
        CSV or Parquet file or folder; ``None`` or ``"cdnow"`` for the bundled CDNOW log.
    trainer
        Fits and evaluates (default :func:`fit_and_evaluate`).

    Raises
    ------
    ChurnModelError
        Bad data, settings or promotion rules, before anything is logged.
    """
    from churnmodel import serving, tracking

    started = time.perf_counter()
    rules = settings.tracking.promotion_rules
    for rule in rules:  # fail before minutes of training, not after
        tracking.parse_rule(rule)
    if not rules:
        raise ConfigError("'tracking.promotion_rules' is empty; give at least one rule")
    cdnow = data is None or str(data) == CDNOW
    table, report = load_log(data, settings, materialize=False)
    if report.first_date is None or report.last_date is None:
        raise DataValidationError("no usable transactions: nothing to train on")
    cutoff, horizon = resolve_split(
        settings, first=report.first_date, last=report.last_date, cdnow=cdnow
    )
    transactions = table.to_pandas() if isinstance(table, TransactionTable) else table
    profile = _profile(report, data, cutoff, horizon)
    with openmp_threads(settings.model.threads):
        outcome = (trainer or fit_and_evaluate)(
            transactions, cutoff=cutoff, horizon_days=horizon, settings=settings, cdnow=cdnow
        )
    metrics = outcome.scorecard.to_metrics_dict()
    store = tracking.open_store(
        settings.tracking.uri,
        experiment=settings.tracking.experiment,
        artifact_root=settings.tracking.artifact_root,
    )
    label = _dataset_label(data)
    run_name = f"{label} cutoff {cutoff.isoformat()} holdout {horizon}d"
    git = _git_commit()
    tags: dict[str, str] = {
        "churnmodel_version": churnmodel.__version__,
        "dataset": label,
        "data_fingerprint": profile["fingerprint"],
        "cutoff": cutoff.isoformat(),
        "horizon_days": str(horizon),
    }
    if git is not None:
        tags["git_commit"] = git[0]
        tags["git_dirty"] = str(git[1]).lower()
        tags["mlflow.source.git.commit"] = git[0]
    with tracking.run(run_name, tags=tags) as run_id, tempfile.TemporaryDirectory() as tmp:
        # The settings as used: the split, CDNOW's purchase rule and the store filled in.
        resolved = settings.model_dump(mode="json")
        resolved["model"].update(cutoff=cutoff.isoformat(), horizon_days=horizon)
        resolved["features"]["zero_net_is_purchase"] = purchase_rule(
            settings, cdnow=cdnow
        ).zero_net_is_purchase
        resolved["tracking"]["uri"] = store.uri
        tracking.log_params({**resolved, "data": {**resolved["data"], "source": profile["source"]}})
        if outcome.params:
            tracking.log_params({"bundle": dict(outcome.params)})
        tracking.log_dict(resolved, "config/settings.json")
        tracking.log_dict(profile, "data/profile.json")
        tracking.log_params(
            {
                "profile": {
                    "rows_read": report.rows_read,
                    "customers": report.customers,
                    "first_date": profile["first_date"],
                    "last_date": profile["last_date"],
                    "fingerprint": profile["fingerprint"],
                }
            }
        )
        logged_metrics = tracking.log_metrics(metrics)
        tracking.log_table(outcome.scorecard.to_frame(), "evaluation/scorecard.json")
        for path, frame in outcome.tables.items():
            tracking.log_table(frame, f"{path}.json")
        plots = tuple(tracking.log_figures(outcome.figures))

        payload = serving.ModelPayload(
            bundle=outcome.bundle,
            timezone=settings.data.timezone,
            model_version=run_id,
            info={"cutoff": cutoff.isoformat(), "horizon_days": horizon, "dataset": label},
        )
        bundle_file = serving.save_payload(payload, Path(tmp) / "bundle.pkl")
        files = serving.model_files(Path(tmp) / "code")
        logged = tracking.log_pyfunc_model(
            name="model",
            python_model=files.python_model,
            artifacts={serving.BUNDLE_ARTIFACT: str(bundle_file)},
            code_paths=[files.code_path],
            signature=serving.model_signature(),
            input_example=(serving.input_example(cutoff), {"as_of": cutoff.isoformat()}),
            pip_requirements=files.pip_requirements,
            metadata={
                "churnmodel_version": churnmodel.__version__,
                "cutoff": cutoff.isoformat(),
                "horizon_days": horizon,
                "training_run_id": run_id,
            },
        )
        size_mb = round(logged.size_mb, 3)
        tracking.log_metrics({"model_size_mb": size_mb})
        registered = tracking.register_version(
            logged.uri,
            settings.tracking.registered_model,
            tags={"training_run_id": run_id, "cutoff": cutoff.isoformat()},
            description=f"Trained by run {run_name!r} ({run_id}).",
        )
        decision = tracking.decide_promotion(logged_metrics, rules)
        alias = settings.tracking.alias
        previous = tracking.apply_promotion(registered, decision, alias=alias)
        outcome_text = (
            f"promoted to @{alias} (v{registered.version})"
            if decision.promote
            else f"not promoted: @{alias} stays on "
            + (f"v{previous}" if previous else "no version")
        )
        tracking.set_tags(
            {
                "model_size_bytes": logged.size_bytes,
                "registered_model": registered.name,
                "registered_version": registered.version,
                "promotion": "promoted" if decision.promote else "not promoted",
                "promotion_reason": decision.summary,
                "mlflow.note.content": (
                    f"{run_name}. Model {registered.name} v{registered.version}: {outcome_text}."
                    f"\n\nPromotion rules: {decision.summary}."
                ),
            }
        )
        tracking.log_metrics({"train_seconds": round(time.perf_counter() - started, 2)})
    return TrainResult(
        run_id=run_id,
        run_name=run_name,
        experiment_id=store.experiment_id,
        tracking_uri=store.uri,
        model_uri=logged.uri,
        registered=registered,
        decision=decision,
        alias=alias,
        previous_champion=previous,
        metrics=logged_metrics,
        size_bytes=logged.size_bytes,
        cutoff=cutoff,
        horizon_days=horizon,
        profile=profile,
        plots=plots,
    )


def ui_command(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 5000
) -> tuple[str, list[str], dict[str, str]]:
    """Return the store URI and the command (and environment) of the MLflow UI on it.

    One worker, no job runner, bound to ``host`` (:func:`churnmodel.tracking.ui_command`).
    Run the command with :func:`churnmodel.workflows.score.run_foreground`.
    """
    from churnmodel import tracking

    command, env = tracking.ui_command(
        settings.tracking.uri, host=host, port=port, artifact_root=settings.tracking.artifact_root
    )
    return env["MLFLOW_TRACKING_URI"], command, env
