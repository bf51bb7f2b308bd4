"""The training job: evaluate, refit on everything, log it all, register, promote.

``train_job(settings, data=...)``:

1. loads and validates the log (every row accounted for) and profiles it (rows, customers,
   dates, load counts, a SHA-256 fingerprint of the input);
2. finds where the model goes: ``[tracking] registered_model`` (default ``churnmodel``) and
   its current champion. A run on other data than that champion's (another source or
   fingerprint) registers under ``churnmodel-<data name>`` instead, unless the registered
   model was named explicitly or ``promote_other_data`` (``--promote``) is set;
3. evaluates (:func:`churnmodel.workflows.evaluate.train_and_evaluate`): fits at the cut-off
   and scores the holdout that follows it (``[model] cutoff`` / ``horizon_days``; CDNOW:
   calibration to 1997-09-30, 273-day holdout); runs the same flow one year before the
   served window when the log is long enough (the season-aligned scorecard); scores the
   current champion on the same holdouts with the newest of its fits that has not seen them;
4. refits the same settings on every row up to the last day of the log ``S`` (``[model]
   refit``, default on): the served model forecasts ``(S, S + H]``;
5. logs one MLflow run: the resolved settings, the data profile, every metric (holdout,
   ``aligned_*``, ``champion_*``), the plots, the scorecards, which data each model saw (the
   run description), the evaluated fits (``fits/``: what a later run compares with) and the
   served pyfunc model with signature and input example;
6. registers the served model and moves the alias (``@champion``) to it only if every
   promotion rule holds (default: beat days-since-last and the current champion on lapse ROC
   AUC, on the season-aligned scorecard when there is one); otherwise the run and the
   version are tagged with the reason.

MLflow is imported only when the job runs (it takes seconds to import).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
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
from churnmodel.workflows.spark_features import is_local_path, local_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from churnmodel.evaluation import Scorecard
    from churnmodel.tracking import Champion, PromotionDecision, RegisteredVersion
    from churnmodel.workflows.evaluate import ChampionFits, RemoteLog
    from churnmodel.workflows.summary import RunMetrics

# Stage progress, shown by the churnmodel command while it trains (evaluate.py logs the fits).
_log = logging.getLogger(__name__)

__all__ = [
    "TrainResult",
    "TrainingOutcome",
    "data_fingerprint",
    "fit_and_evaluate",
    "resolve_split",
    "train_job",
    "ui_base",
    "ui_command",
    "ui_links",
]


@dataclass(frozen=True)
class TrainingOutcome:
    """What evaluating and refitting produce, for the run to log.

    Attributes
    ----------
    bundle
        The bundle to register and serve (:class:`churnmodel.serving.ScoringBundle`): fitted
        on every row up to the end of the log, or the evaluated one without refit. No
        training data.
    scorecard
        Holdout scorecard of every model and baseline (and the champion, when scored).
    figures
        Artifact path (``plots/<name>.png``) -> matplotlib Figure.
    tables
        Artifact path (without extension) -> table, logged as JSON and CSV.
    params
        Extra parameters worth logging (model choices, training cut-offs ...).
    aligned
        The season-aligned scorecard, when the log was long enough.
    aligned_cutoff
        Its cut-off (``S - 365``), or None.
    evaluated
        Role (``"holdout"``, ``"aligned"``) -> the bundle that was evaluated there.
    notes
        ``"aligned"``: what the season-aligned evaluation was or why it did not run;
        ``"champion"``, ``"aligned_champion"``: which champion fit was scored, or why none;
        ``"backtest"``: the backtest's cut-offs, or why there is none.
    backtest
        The scorecards of the backtest stacked, oldest cut-off first, the holdout last
        (column ``cutoff``; the rows every cut-off has), or None without earlier cut-offs.
    holdout
        The holdout's summary at the cut-off and purchases in the holdout, per customer
        (:attr:`churnmodel.workflows.evaluate.EvaluationResult.holdout`), or None.
    """

    bundle: Any
    scorecard: Scorecard
    figures: Mapping[str, Figure] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    aligned: Scorecard | None = None
    aligned_cutoff: date | None = None
    evaluated: Mapping[str, Any] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    backtest: pd.DataFrame | None = None
    holdout: pd.DataFrame | None = None


@dataclass(frozen=True)
class TrainResult:
    """What the training job did (the CLI prints it).

    ``registered`` is None with ``register_model = false``; ``registered_note`` says why the
    model went to another registered model than the one configured, if it did.
    """

    run_id: str
    run_name: str
    experiment_id: str
    tracking_uri: str
    model_uri: str
    registered: RegisteredVersion | None
    decision: PromotionDecision
    alias: str
    previous_champion: str | None
    metrics: dict[str, float]
    size_bytes: int
    cutoff: date
    horizon_days: int
    profile: dict[str, Any]
    plots: tuple[str, ...]
    served_through: date
    aligned_cutoff: date | None = None
    champion: str | None = None
    notes: Mapping[str, str] = field(default_factory=dict)
    registered_note: str | None = None
    report: LoadReport | None = None

    @property
    def promoted(self) -> bool:
        """Whether the new version took the alias."""
        return self.registered is not None and self.decision.promote

    @property
    def ui_base(self) -> str:
        """The UI's address: the team server's, or ``churnmodel ui``'s for a local store."""
        return ui_base(self.tracking_uri)

    @property
    def run_link(self) -> str:
        """A link to the run that opens the UI on training runs."""
        from churnmodel.tracking.views import ui_link

        return ui_link(self.ui_base, self.experiment_id, run_id=self.run_id)

    @property
    def runs_link(self) -> str:
        """A link to the experiment's runs with the headline metric columns."""
        from churnmodel.tracking.views import HEADLINE_VIEW, ui_link

        return ui_link(self.ui_base, self.experiment_id, view=HEADLINE_VIEW)


def ui_base(tracking_uri: str, *, host: str = "127.0.0.1", port: int = 5000) -> str:
    """Return where the UI of a store is read: the server itself, or ``churnmodel ui``'s."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return f"http://{host}:{port}"


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

    ``None`` (CDNOW) hashes lifetimes' CDNOW file; a DataFrame hashes its canonical columns; a
    remote URI that Spark reads (``s3a://...``) is not read here: ``uri:<uri>``.
    """
    digest = hashlib.sha256()
    if isinstance(data, pd.DataFrame):
        cols = [c for c in (CUSTOMER_ID, TIMESTAMP, AMOUNT) if c in data.columns]
        digest.update(pd.util.hash_pandas_object(data[cols], index=False).to_numpy().tobytes())
        return f"sha256:{digest.hexdigest()}"
    if data is not None and str(data) != CDNOW:
        if not is_local_path(str(data)):
            # A log Spark reads remotely (s3a://, hdfs://, ...) is named, not read here.
            return f"uri:{data}"
        data = local_path(str(data))
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
    report: LoadReport, data: str | Path | None, cutoff: date, horizon: int, *, served: date
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
        "holdout": _window(cutoff, horizon),
        "served": {"fitted_through": served.isoformat(), "forecast": _window(served, horizon)},
    }


def _window(start: date, days: int) -> dict[str, Any]:
    """Return the ``days`` days after ``start`` as ``{"start", "end", "days"}`` (ISO dates)."""
    return {
        "start": (start + timedelta(days=1)).isoformat(),
        "end": (start + timedelta(days=days)).isoformat(),
        "days": days,
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
    champion: ChampionFits | None = None,
    remote: RemoteLog | None = None,
) -> TrainingOutcome:
    """Evaluate, refit and add the purchase-model diagnostics (what ``train_job`` logs).

    :func:`churnmodel.workflows.evaluate.train_and_evaluate` evaluates (holdout, season-aligned,
    champion) and refits; this adds the diagnostics of the purchase model evaluated at the
    holdout (frequency, calibration vs holdout, P(alive) matrix) and logs the life-cycle
    default gap the served bundle fixed.
    """
    from churnmodel.evaluation import (
        plot_calibration_vs_holdout,
        plot_frequency,
        plot_probability_alive_matrix,
        plot_transaction_tracking,
        transaction_tracking,
    )
    from churnmodel.features import build_snapshots
    from churnmodel.workflows.evaluate import train_and_evaluate

    outcome = train_and_evaluate(
        transactions,
        cutoff=cutoff,
        horizon_days=horizon_days,
        settings=settings,
        cdnow=cdnow,
        champion=champion,
        remote=remote,
    )
    time_unit = settings.features.time_unit
    evaluated = outcome.evaluated.get("holdout", outcome.bundle)
    figures = dict(outcome.figures)
    purchase_model = getattr(getattr(evaluated, "probabilistic", None), "purchase_model_", None)
    if purchase_model is not None:
        snap = outcome.holdout
        if snap is None:  # the holdout evaluation keeps it; built here only without one
            snap = build_snapshots(
                transactions,
                [cutoff],
                horizon_days,
                time_unit=time_unit,
                purchase=purchase_rule(settings, cdnow=cdnow),
            ).set_index(CUSTOMER_ID)
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
            "plots/purchase_model_tracking.png": plot_transaction_tracking(
                transaction_tracking(
                    purchase_model,
                    transactions,
                    cutoff,
                    cutoff + timedelta(days=horizon_days),
                    purchase=purchase_rule(settings, cdnow=cdnow),
                )
            ),
        }
        figures.update({path: _figure(ax) for path, ax in diagnostics.items()})
    params = dict(outcome.params)
    served_model = getattr(getattr(outcome.bundle, "probabilistic", None), "purchase_model_", None)
    for key, model in (("purchase_model_params", purchase_model), ("served", served_model)):
        if model is not None:
            name = key if key != "served" else "served_purchase_model_params"
            params[name] = ", ".join(f"{k}={v:.4g}" for k, v in model.params_.items())
    gap = getattr(getattr(outcome.bundle, "rules", None), "default_gap_days", None)
    if gap is not None:
        params["lifecycle_default_gap_days"] = round(gap, 3)
    return replace(outcome, figures=figures, params=params)


def _figure(ax: Axes) -> Figure:
    figure = ax.get_figure(root=True)
    if figure is None:  # pragma: no cover - the plot functions always draw on a Figure
        raise RuntimeError("a plot function returned Axes without a Figure")
    return figure


# ------------------------------------------------------------------- the champion's fits
#: Folder of a run's evaluated fits, and the index that lists them.
FITS_FOLDER = "fits"
FITS_INDEX = f"{FITS_FOLDER}/index.json"


class RegistryChampion:
    """The current champion's fits, found through the registry (a :class:`ChampionFits`).

    A champion version comes from a run that logged its served model and the fits it
    evaluated (``fits/index.json``: role, last day of data, file). To score a holdout that
    starts after ``cutoff`` without letting the champion see it, the newest fit whose data
    ends on or before ``cutoff`` stands for the champion: its served model when that is old
    enough (the usual case when the log has grown by a horizon since), else the model its run
    evaluated at its own holdout or one year earlier, which is the same recipe and code
    fitted on less data. Fits are downloaded and unpickled only when needed, once.
    """

    def __init__(self, champion: Champion, workdir: Path) -> None:
        self.champion = champion
        self._workdir = workdir
        self._fits: list[tuple[str, date, str]] | None = None
        self._loaded: dict[str, Any] = {}

    def _list(self) -> list[tuple[str, date, str]]:
        """Return (role, last day of data, location) of every fit, newest first."""
        if self._fits is not None:
            return self._fits
        from churnmodel import tracking

        tags = self.champion.tags
        fits: list[tuple[str, date, str]] = []
        through = tags.get("fitted_through") or tags.get("cutoff")
        if through:
            fits.append(("served", date.fromisoformat(through), f"{self.champion.uri}/artifacts/"))
        if self.champion.run_id:
            index = tracking.download_artifact(
                self._workdir / "index", run_id=self.champion.run_id, artifact_path=FITS_INDEX
            )
            if index is not None:
                for entry in json.loads(index.read_text()):
                    fits.append(
                        (
                            str(entry["role"]),
                            date.fromisoformat(entry["fitted_through"]),
                            str(entry["path"]),
                        )
                    )
        self._fits = sorted(fits, key=lambda fit: fit[1], reverse=True)
        return self._fits

    def bundle_for(self, cutoff: date) -> tuple[Any | None, str]:
        """Return the newest fit whose data end on or before ``cutoff``, and a note."""
        from churnmodel import serving, tracking

        label = self.champion.label
        try:
            fits = self._list()
        except Exception as exc:  # a broken champion run is reported, not fatal
            return None, f"{label}'s fits could not be read: {_first_line(exc)}"
        usable = [fit for fit in fits if fit[1] <= cutoff]
        if not usable:
            newest = ", ".join(f"{role} to {day.isoformat()}" for role, day, _ in fits) or "none"
            return None, (
                f"every fit of {label} saw data after {cutoff.isoformat()} (fits: {newest}), "
                "so it cannot be scored fairly on this holdout"
            )
        role, through, where = usable[0]
        note = f"{label} ({role} fit, data to {through.isoformat()})"
        if where not in self._loaded:
            target = self._workdir / f"{role}-{through.isoformat()}"
            try:
                if role == "served":
                    path = tracking.download_artifact(
                        target, artifact_uri=f"{where}{serving.BUNDLE_ARTIFACT}.pkl"
                    )
                else:
                    path = tracking.download_artifact(
                        target, run_id=self.champion.run_id, artifact_path=where
                    )
                if path is None:
                    return None, f"{note} has no bundle file"
                self._loaded[where] = serving.load_payload(path).bundle
            except Exception as exc:  # an unreadable champion is reported, not fatal
                return None, f"{note} could not be loaded: {_first_line(exc)}"
        return self._loaded[where], note


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------- where it registers
@dataclass(frozen=True)
class _Target:
    name: str
    champion: Champion | None
    note: str | None = None


def _slug(label: str) -> str:
    stem = Path(label).stem if label != "CDNOW" else "cdnow"
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "data"


def _short(fingerprint: str | None) -> str:
    return "no fingerprint" if not fingerprint else fingerprint[:19]


def _target(settings: Settings, label: str, fingerprint: str) -> _Target:
    """Return the registered model this run goes to and its champion (module docstring)."""
    from churnmodel import tracking

    t = settings.tracking
    name = t.registered_model
    champion = tracking.find_champion(name, t.alias)
    explicit = "registered_model" in t.model_fields_set
    if champion is None or explicit or t.promote_other_data:
        return _Target(name, champion)
    theirs = (champion.tags.get("dataset"), champion.tags.get("data_fingerprint"))
    if theirs == (label, fingerprint):
        return _Target(name, champion)
    own = f"{name}-{_slug(label)}"
    note = (
        f"{name}@{t.alias} ({champion.label}) was trained on {theirs[0] or 'unknown data'} "
        f"({_short(theirs[1])}), this run on {label} ({_short(fingerprint)}): registered as "
        f"{own} instead; pass --registered-model {name} or --promote to compete for "
        f"{name}@{t.alias}"
    )
    return _Target(own, tracking.find_champion(own, t.alias), note)


# ------------------------------------------------------------------------------ the job
def train_job(
    settings: Settings,
    *,
    data: str | Path | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> TrainResult:
    """Run the training job (module docstring) and return what it did.

    Parameters
    ----------
    settings
        ``[data]`` and ``[features]``: how to read the log; ``[model]``: cut-off, horizon, CLV
        terms, refit, season-aligned evaluation; ``[tracking]``: store, experiment, registered
        model, alias, promotion rules and scorecard.
    data
        CSV or Parquet file or folder; ``None`` or ``"cdnow"`` for the bundled CDNOW log.
    engine
        ``"duckdb"`` (the log in this process) or ``"spark"``: a Parquet log read and
        summarised on Spark (:mod:`churnmodel.workflows.spark_train`, ``docs/spark.md``).
    spark_master
        Spark master URL for ``engine="spark"`` (default ``local[*]``, or spark-submit's).

    Raises
    ------
    ChurnModelError
        Bad data, settings or promotion rules, before anything is logged.
    """
    from churnmodel import tracking
    from churnmodel.workflows.features import check_engine

    started = time.perf_counter()
    check_engine(engine)
    t = settings.tracking
    rules = t.promotion_rules
    for rule in rules:  # fail before minutes of training, not after
        tracking.parse_rule(rule)
    if not rules:
        raise ConfigError("'tracking.promotion_rules' is empty; give at least one rule")
    cdnow = data is None or str(data) == CDNOW
    with contextlib.ExitStack() as stack:
        remote: RemoteLog | None = None
        if engine == "spark":
            from churnmodel.workflows.spark_train import spark_training_log

            _log.info("loading %s on Spark", _dataset_label(data))
            transactions, report, remote = stack.enter_context(
                spark_training_log(settings, data, master=spark_master)
            )
        else:
            _log.info("loading %s", _dataset_label(data))
            table, report = load_log(data, settings, materialize=False)
            if report.first_date is None or report.last_date is None:
                raise DataValidationError("no usable transactions: nothing to train on")
            transactions = table.to_pandas() if isinstance(table, TransactionTable) else table
        assert report.first_date is not None and report.last_date is not None
        _log.info(
            "loaded %s rows (%s quarantined), %s customers, %s .. %s",
            f"{report.rows_used:,}",
            f"{report.rows_quarantined:,}",
            f"{report.customers or 0:,}",
            report.first_date,
            report.last_date,
        )
        cutoff, horizon = resolve_split(
            settings, first=report.first_date, last=report.last_date, cdnow=cdnow
        )
        served_through = report.last_date if settings.model.refit else cutoff
        profile = {
            **_profile(report, data, cutoff, horizon, served=served_through),
            "engine": engine,
        }
        _log.info("opening the MLflow store and finding the champion")
        store = tracking.open_store(t.uri, experiment=t.experiment, artifact_root=t.artifact_root)
        label = _dataset_label(data)
        # Without registering, the run is still compared with the champion it would compete with.
        target = _target(settings, label, profile["fingerprint"])
        with tempfile.TemporaryDirectory() as tmp:
            champion = (
                RegistryChampion(target.champion, Path(tmp) / "champion")
                if target.champion is not None
                else None
            )
            with openmp_threads(settings.model.threads):
                outcome = fit_and_evaluate(
                    transactions,
                    cutoff=cutoff,
                    horizon_days=horizon,
                    settings=settings,
                    cdnow=cdnow,
                    champion=champion,
                    remote=remote,
                )
            return _log_and_register(
                settings,
                outcome,
                data=data,
                label=label,
                profile=profile,
                report=report,
                store=store,
                target=target,
                cutoff=cutoff,
                horizon=horizon,
                started=started,
                workdir=Path(tmp),
            )


def _promotion(
    settings: Settings, metrics: Mapping[str, float], outcome: TrainingOutcome, target: _Target
) -> PromotionDecision:
    """Decide on the scorecard ``[tracking] promotion_scorecard`` names (class docstring)."""
    from churnmodel import tracking
    from churnmodel.tracking import PromotionDecision

    t = settings.tracking
    champion = target.champion.label if target.champion is not None else None
    on_aligned = "aligned_champion_lapse_roc_auc" in metrics
    on_holdout = "champion_lapse_roc_auc" in metrics
    scope = t.promotion_scorecard
    if scope == "auto":
        aligned = outcome.aligned is not None and (champion is None or on_aligned or not on_holdout)
        scope = "aligned" if aligned else "holdout"
    if scope == "aligned" and outcome.aligned is None:
        why = outcome.notes.get("aligned", "it did not run")
        return PromotionDecision(
            promote=False,
            reasons=(
                f"promotion_scorecard = 'aligned' fails: no season-aligned scorecard ({why})",
            ),
            scorecard="aligned",
        )
    note_key = "aligned_champion" if scope == "aligned" else "champion"
    return tracking.decide_promotion(
        metrics,
        t.promotion_rules,
        prefix="aligned_" if scope == "aligned" else "",
        champion=champion,
        champion_note=outcome.notes.get(note_key),
    )


def _provenance(
    profile: Mapping[str, Any],
    outcome: TrainingOutcome,
    metrics: Mapping[str, float],
    *,
    cutoff: date,
    horizon: int,
    served: date,
) -> list[str]:
    """Return the Markdown table of which data each model saw and where it was scored."""

    def auc(prefix: str) -> str:
        value = metrics.get(f"{prefix}lapse_roc_auc")
        return "" if value is None else f"lapse ROC AUC {value:.3f}"

    first = profile["first_date"]
    rows = [
        "| model | fitted on data | scored on | result |",
        "|---|---|---|---|",
        f"| evaluated at the holdout | {first} .. {cutoff.isoformat()} | "
        f"{profile['holdout']['start']} .. {profile['holdout']['end']} | {auc('')} |",
    ]
    if outcome.aligned_cutoff is not None:
        window = _window(outcome.aligned_cutoff, horizon)
        rows.append(
            f"| season-aligned (the served window one year earlier) | {first} .. "
            f"{outcome.aligned_cutoff.isoformat()} | {window['start']} .. {window['end']} | "
            f"{auc('aligned_')} |"
        )
    forecast = _window(served, horizon)
    rows.append(
        f"| **served** (registered) | {first} .. {served.isoformat()} | forecasts "
        f"{forecast['start']} .. {forecast['end']} | |"
    )
    for key, prefix in (("champion", "champion_"), ("aligned_champion", "aligned_champion_")):
        if key in outcome.notes and f"{prefix}lapse_roc_auc" in metrics:
            where = "the holdout" if key == "champion" else "the season-aligned window"
            rows.append(f"| current champion: {outcome.notes[key]} | | {where} | {auc(prefix)} |")
    return rows


def _description(
    run_name: str,
    profile: Mapping[str, Any],
    outcome: TrainingOutcome,
    metrics: RunMetrics,
    *,
    cutoff: date,
    horizon: int,
    served: date,
    target: _Target,
    outcome_text: str,
    decision: PromotionDecision,
) -> str:
    """Return the run's Markdown description (:func:`churnmodel.workflows.summary.describe_run`).

    The headline (model, best baseline, champion), the scorecards with intervals, the
    backtest, which data each model saw, and what was decided.
    """
    from churnmodel.workflows import summary

    logged = metrics.all
    notes = []
    if outcome.aligned_cutoff is None:
        notes.append(f"No season-aligned evaluation: {outcome.notes.get('aligned', '')}.")
    for key in ("champion", "aligned_champion"):
        note = outcome.notes.get(key)
        prefix = "champion_" if key == "champion" else "aligned_champion_"
        if note and f"{prefix}lapse_roc_auc" not in logged:
            notes.append(f"Champion not scored on the {key.replace('_', ' ')} window: {note}.")
    if outcome.notes.get("training_sample"):
        notes.append(f"Training sample: {outcome.notes['training_sample']}.")
    if outcome.notes.get("backtest"):
        notes.append(f"Backtest: {outcome.notes['backtest']}.")
    if target.note:
        notes.append(f"Registry: {target.note}.")
    windows = {"holdout": summary.window_text(cutoff, horizon)}
    if outcome.aligned_cutoff is not None:
        windows["aligned"] = summary.window_text(outcome.aligned_cutoff, horizon)
    champion = target.champion.label if target.champion is not None else None
    scored = "champion_lapse_roc_auc" in logged or "aligned_champion_lapse_roc_auc" in logged
    return summary.describe_run(
        title=run_name,
        data_line=(
            f"{profile['source']}: {profile['rows']['rows_read']:,} rows, "
            f"{profile['customers']:,} customers, {profile['first_date']} .. "
            f"{profile['last_date']} ({_short(profile['fingerprint'])})"
        ),
        outcome=outcome,
        metrics=metrics,
        champion=champion if scored else None,
        decision_line=f"{outcome_text}.",
        rules_line=f"Promotion rules ({decision.scorecard} scorecard): {decision.summary}.",
        provenance=_provenance(
            profile, outcome, logged, cutoff=cutoff, horizon=horizon, served=served
        ),
        notes=notes,
        windows=windows,
    )


def _log_and_register(
    settings: Settings,
    outcome: TrainingOutcome,
    *,
    data: str | Path | None,
    label: str,
    profile: dict[str, Any],
    report: LoadReport,
    store: Any,
    target: _Target,
    cutoff: date,
    horizon: int,
    started: float,
    workdir: Path,
) -> TrainResult:
    """Log the run, register the served model and apply the promotion decision."""
    from churnmodel import serving, tracking
    from churnmodel.evaluation import scorecard_tables
    from churnmodel.workflows import summary

    t = settings.tracking
    cdnow = data is None or str(data) == CDNOW
    served = outcome.bundle.cutoff if hasattr(outcome.bundle, "cutoff") else cutoff
    metrics = summary.run_metrics(outcome)
    tracking.mark_training_experiment(store.experiment_id, primary_metric="lapse_roc_auc")
    tracking.save_runs_view(
        store.experiment_id,
        name="churnmodel: headline metrics",
        metrics=summary.VIEW_METRICS,
        tags=summary.VIEW_TAGS,
        widths={m: 200 if "_vs_" in m else 140 for m in summary.VIEW_METRICS},
    )
    # The job started before training: the run shows how long all of it took.
    started_at = time.time() - (time.perf_counter() - started)
    run_name = tracking.unique_run_name(
        summary.run_name(_slug(label), cutoff, horizon, datetime.fromtimestamp(started_at)),
        store.experiment_id,
    )
    _log.info("logging the run to MLflow (%s)", store.uri)
    git = _git_commit()
    tags: dict[str, str] = {
        "churnmodel_version": churnmodel.__version__,
        "dataset": label,
        "data_fingerprint": profile["fingerprint"],
        "cutoff": cutoff.isoformat(),
        "horizon_days": str(horizon),
        "fitted_through": served.isoformat(),
        "engine": str(profile.get("engine", "duckdb")),
    }
    if git is not None:
        tags["git_commit"] = git[0]
        tags["git_dirty"] = str(git[1]).lower()
        tags["mlflow.source.git.commit"] = git[0]
    with tracking.run(
        run_name, tags=tags, started=started_at, experiment_id=store.experiment_id
    ) as run_id:
        # The settings as used: the split, CDNOW's purchase rule and the store filled in.
        resolved = settings.model_dump(mode="json")
        resolved["model"].update(cutoff=cutoff.isoformat(), horizon_days=horizon)
        resolved["features"]["zero_net_is_purchase"] = purchase_rule(
            settings, cdnow=cdnow
        ).zero_net_is_purchase
        resolved["tracking"]["uri"] = store.uri
        resolved["tracking"]["registered_model"] = target.name
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
        _log_dataset(data, label, profile)
        # The headline first: the UI lists a run's metrics in the order they were logged.
        logged_metrics = tracking.log_metrics(metrics.headline)
        logged_metrics.update(tracking.log_metrics(metrics.rest))
        if outcome.backtest is not None:
            first_day = date.fromisoformat(profile["first_date"])
            for name, points in summary.backtest_series(
                outcome.backtest, outcome.scorecard.chosen, first_day=first_day
            ).items():
                tracking.log_metric_series(name, points)
        tracking.log_table(outcome.scorecard.to_frame(), "evaluation/scorecard.json")
        champion_label = target.champion.label if target.champion is not None else None
        labels = summary.row_labels(outcome.params, champion_label)
        for task, frame in scorecard_tables(outcome.scorecard, labels=labels).items():
            tracking.log_table(frame, f"evaluation/scorecard_{task}.json")
        for path, frame in outcome.tables.items():
            tracking.log_table(frame, f"{path}.json")
        plots = tuple(tracking.log_figures(outcome.figures))
        _log_fits(outcome, settings, run_id, workdir)

        payload = serving.ModelPayload(
            bundle=outcome.bundle,
            timezone=settings.data.timezone,
            model_version=run_id,
            info={
                "cutoff": cutoff.isoformat(),
                "fitted_through": served.isoformat(),
                "horizon_days": horizon,
                "dataset": label,
            },
        )
        _log.info("logging the served model")
        bundle_file = serving.save_payload(payload, workdir / f"{serving.BUNDLE_ARTIFACT}.pkl")
        files = serving.model_files(workdir / "code")
        logged = tracking.log_pyfunc_model(
            name="model",
            python_model=files.python_model,
            artifacts={serving.BUNDLE_ARTIFACT: str(bundle_file)},
            code_paths=[files.code_path],
            signature=serving.model_signature(),
            input_example=(serving.input_example(served), {"as_of": served.isoformat()}),
            pip_requirements=files.pip_requirements,
            metadata={
                "churnmodel_version": churnmodel.__version__,
                "cutoff": cutoff.isoformat(),
                "fitted_through": served.isoformat(),
                "horizon_days": horizon,
                "training_run_id": run_id,
            },
        )
        size_mb = round(logged.size_mb, 3)
        tracking.log_metrics({"model_size_mb": size_mb})
        decision = _promotion(settings, logged_metrics, outcome, target)
        alias = t.alias
        registered: RegisteredVersion | None = None
        previous = target.champion.version if target.champion is not None else None
        if t.register_model:
            _log.info("registering it as %s", target.name)
            registered = tracking.register_version(
                logged.uri,
                target.name,
                tags={
                    "training_run_id": run_id,
                    "evaluation_run_id": run_id,
                    "cutoff": cutoff.isoformat(),
                    "fitted_through": served.isoformat(),
                    "horizon_days": str(horizon),
                    "dataset": label,
                    "data_fingerprint": profile["fingerprint"],
                },
                description=(
                    f"Trained by run {run_name!r} ({run_id}): fitted on data to "
                    f"{served.isoformat()}, evaluated on the holdout after {cutoff.isoformat()}."
                ),
            )
            previous = tracking.apply_promotion(registered, decision, alias=alias)
            outcome_text = f"Model {registered.name} v{registered.version}: " + (
                f"promoted to @{alias}"
                if decision.promote
                else f"not promoted, @{alias} stays on "
                + (f"v{previous}" if previous else "no version")
            )
        else:
            outcome_text = "Model logged, not registered (register_model = false)"
        tracking.set_tags(
            {
                "model_size_bytes": logged.size_bytes,
                "registered_model": registered.name if registered else "",
                "registered_version": registered.version if registered else "",
                "promotion": (
                    "not registered"
                    if registered is None
                    else "promoted"
                    if decision.promote
                    else "not promoted"
                ),
                "promotion_reason": decision.summary,
                "promotion_scorecard": decision.scorecard,
                "promotion_rules": "; ".join(t.promotion_rules),
                "mlflow.note.content": _description(
                    run_name,
                    profile,
                    outcome,
                    metrics,
                    cutoff=cutoff,
                    horizon=horizon,
                    served=served,
                    target=target if registered is not None else replace(target, note=None),
                    outcome_text=outcome_text,
                    decision=decision,
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
        served_through=served,
        aligned_cutoff=outcome.aligned_cutoff,
        champion=target.champion.label if target.champion is not None else None,
        notes=dict(outcome.notes),
        registered_note=target.note if registered is not None else None,
        report=report,
    )


def _log_dataset(data: str | Path | None, label: str, profile: Mapping[str, Any]) -> None:
    """Log the input log as the run's MLflow dataset: source, digest, schema, profile."""
    from churnmodel import tracking

    cdnow = data is None or str(data) == CDNOW
    source = cdnow_path(sample=False) if cdnow else Path(str(data)).resolve()
    fingerprint = str(profile["fingerprint"])
    tracking.log_dataset(
        name=label,
        source=str(source),
        digest=fingerprint.removeprefix("sha256:")[:12],
        schema={CUSTOMER_ID: "string", TIMESTAMP: "datetime", AMOUNT: "double"},
        profile={
            **profile["rows"],
            "customers": profile["customers"],
            "first_date": profile["first_date"],
            "last_date": profile["last_date"],
            "timezone": profile["timezone"],
            "fingerprint": fingerprint,
        },
    )


def _log_fits(outcome: TrainingOutcome, settings: Settings, run_id: str, workdir: Path) -> None:
    """Log the evaluated fits and their index (what a later run compares its champion by)."""
    from churnmodel import serving, tracking

    folder = workdir / FITS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for role, bundle in outcome.evaluated.items():
        through = bundle.cutoff.isoformat()
        name = f"{role}-{through}.pkl"
        payload = serving.ModelPayload(
            bundle=bundle,
            timezone=settings.data.timezone,
            model_version=run_id,
            info={"role": role, "fitted_through": through},
        )
        tracking.log_file(serving.save_payload(payload, folder / name), FITS_FOLDER)
        index.append({"role": role, "fitted_through": through, "path": f"{FITS_FOLDER}/{name}"})
    (folder / "index.json").write_text(json.dumps(index, indent=2))
    tracking.log_file(folder / "index.json", FITS_FOLDER)


def ui_links(settings: Settings, *, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """Return links that open the UI on the experiment's training runs (none if it is new).

    The runs table with the headline metric columns, and the registered model; both in the
    UI's model-training mode (:mod:`churnmodel.tracking.views`).
    """
    from churnmodel import tracking

    t = settings.tracking
    store = tracking.open_store(t.uri, experiment=None)
    experiment_id = tracking.find_experiment(t.experiment)
    if experiment_id is None:
        return []
    base = ui_base(store.uri, host=host, port=port)
    return [
        tracking.ui_link(base, experiment_id, view=tracking.HEADLINE_VIEW),
        tracking.ui_link(base, experiment_id, model=t.registered_model),
    ]


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
