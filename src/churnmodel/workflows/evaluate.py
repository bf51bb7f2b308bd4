"""Fit every model on data before a cut-off, score the holdout after it, and backtest.

Pure-ish functions with explicit arguments that return result objects; no MLflow, no files.

* :func:`fit_bundle`: build the training set (``churnmodel.models.build_training_set``), fit
  the lapse classifier (time-separated calibration) and the spend model, fit the probabilistic
  models at the cut-off, and return a :class:`~churnmodel.models.ChurnBundle`. Only rows on or
  before the cut-off are passed on, so nothing after it can reach a model.
* :func:`evaluate_holdout`: fit at a cut-off, score the customers known at it, compare with
  what they did in the next ``horizon_days``: one scorecard for every model and every
  baseline, calibration tables, the value x risk matrix, permutation importance, and per-segment
  AUCs when segments are given.
* :func:`backtest`: :func:`evaluate_holdout` at several cut-offs, with one long metrics table.

See ``docs/lapse-and-spend.md`` for the design and the numbers measured on CDNOW.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from churnmodel.evaluation import (
    Prediction,
    Scorecard,
    calibration_table,
    plot_backtest,
    plot_calibration,
    plot_cumulative_gains,
    plot_permutation_importance,
    plot_roc,
    plot_value_risk_matrix,
    roc_auc,
    scorecard,
    value_risk_matrix,
)
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import (
    LABEL_COLUMNS,
    FeatureWindows,
    LifecycleRules,
    PurchaseRule,
    build_snapshots,
    customer_features,
    rfm_summary,
)
from churnmodel.features.customer import to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.models import (
    CLV_METHODS,
    ChurnBundle,
    LapseClassifier,
    ProbabilisticFeatures,
    SpendRegressor,
    TrainingDesign,
    TrainingSet,
    build_training_set,
)
from churnmodel.models.estimators import thread_limit, usable_cores
from churnmodel.models.training import (
    SnapshotBuilder,
    SnapshotCache,
    as_frame,
    sample_customers,
    until,
)
from churnmodel.schemas import CUSTOMER_ID

# Stage progress ("fitting the lapse classifier"): the churnmodel command shows these lines
# while it trains; as a library nothing is printed unless the caller configures logging.
_log = logging.getLogger(__name__)

#: The alternative (comparison) classifier and spend model of an evaluation fit on a stratified
#: sample of at most this many training rows (``TrainingSet.sample``; every row below it).
COMPARISON_MAX_ROWS = 250_000

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from churnmodel.config import Settings
    from churnmodel.workflows.train import TrainingOutcome

__all__ = [
    "CDNOW_SETTINGS",
    "BacktestResult",
    "BundleSettings",
    "ChampionFits",
    "EvaluationResult",
    "RemoteLog",
    "ServedInputs",
    "aligned_cutoff",
    "backtest",
    "backtest_cutoffs",
    "bundle_settings_for",
    "evaluate_holdout",
    "fit_bundle",
    "train_and_evaluate",
]

#: How plots name the purchase models.
_PURCHASE_MODELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto": "Pareto/NBD"}

#: Scorecard names of the chosen models.
CLASSIFIER = "classifier"
SPEND_MODEL = "spend_model"


@dataclass(frozen=True)
class BundleSettings:
    """Every setting of the training design and the models (defaults are the documented ones).

    Attributes
    ----------
    label_horizon_days, n_cutoffs, step_days, same_window_years
        The training design (:class:`~churnmodel.models.TrainingDesign`).
    gap_days, min_history_days, fit_to_history
        The training design, continued.
    season_level
        Set the level of the lapse probabilities and of the spend on the training snapshot
        whose label window is the served window one year earlier, when the design has one
        (``LapseClassifier.fit(level_cutoff=...)``, ``SpendRegressor.fit(level_rows=...)``).
    season_days
        Length of the season window of the features (``purchases_season_last_year``,
        ``spend_season_last_year``, ``season_share``): the calendar window the model
        forecasts, one year earlier. Default ``None``: the horizon ``H`` (at most 365 days),
        so the features describe the window that is served.
    purchase_model
        ``"bgnbd"``, ``"mbgnbd"`` or ``"pareto"``.
    classifier, calibration
        ``LapseClassifier(model=..., calibration=...)``.
    spend_model
        ``SpendRegressor(model=...)``.
    clv_method
        ``"rescaled"`` (default) or ``"probabilistic"``.
    clv_horizon_days, clv_period_days, annual_discount_rate
        Discounted CLV settings.
    classifier_params, spend_params
        Extra hyperparameters of the two estimators (e.g. ``{"learning_rate": 0.1}``).
    random_state
        Seed of the estimators.
    n_threads
        OpenMP/BLAS thread cap of the estimators. Default 1: at the sizes met here (up to a
        few hundred thousand training rows) threads gain little, and on a machine shared with
        other jobs spinning OpenMP threads made fitting and prediction 10 times slower
        (measured); None uses every core.
    """

    label_horizon_days: int | None = None
    n_cutoffs: int = 3
    step_days: int | None = None
    same_window_years: int = 2
    gap_days: int = 0
    min_history_days: int = 90
    fit_to_history: bool = False
    season_level: bool = True
    season_days: int | None = None
    purchase_model: str = "bgnbd"
    classifier: str = "hgb"
    calibration: str | None = "isotonic"
    spend_model: str = "hgb"
    clv_method: str = "rescaled"
    clv_horizon_days: float = 365.0
    clv_period_days: float = 30.0
    annual_discount_rate: float = 0.1
    classifier_params: Mapping[str, Any] = field(default_factory=dict)
    spend_params: Mapping[str, Any] = field(default_factory=dict)
    random_state: int | None = 0
    n_threads: int | None = 1

    def design(self, horizon_days: int) -> TrainingDesign:
        """Return the :class:`~churnmodel.models.TrainingDesign` for ``horizon_days``."""
        return TrainingDesign(
            horizon_days=horizon_days,
            label_horizon_days=self.label_horizon_days,
            n_cutoffs=self.n_cutoffs,
            step_days=self.step_days,
            same_window_years=self.same_window_years,
            gap_days=self.gap_days,
            min_history_days=self.min_history_days,
            fit_to_history=self.fit_to_history,
        )

    def feature_windows(
        self, horizon_days: int, windows: FeatureWindows | None = None
    ) -> FeatureWindows:
        """Return ``windows`` with the season window for a model of horizon ``horizon_days``.

        ``windows`` defaults to :class:`~churnmodel.features.FeatureWindows`; the season is
        ``season_days``, or ``min(horizon_days, 365)`` when that is None.
        """
        season = self.season_days if self.season_days is not None else min(horizon_days, 365)
        if not isinstance(season, int) or isinstance(season, bool) or not 0 < season <= 365:
            raise ConfigError(f"'season_days' must be an integer in 1..365, got {season!r}")
        return replace(windows or FeatureWindows(), season=int(season))

    def probabilistic(self) -> ProbabilisticFeatures:
        """Return an unfitted :class:`~churnmodel.models.ProbabilisticFeatures`."""
        return ProbabilisticFeatures(
            purchase_model=self.purchase_model,
            clv_horizon_days=self.clv_horizon_days,
            clv_period_days=self.clv_period_days,
            annual_discount_rate=self.annual_discount_rate,
        )

    def lapse_classifier(self) -> LapseClassifier:
        """Return an unfitted :class:`~churnmodel.models.LapseClassifier`."""
        return LapseClassifier(
            model=self.classifier,
            calibration=self.calibration,
            random_state=self.random_state,
            n_threads=self.n_threads,
            **dict(self.classifier_params),
        )

    def spend_regressor(self) -> SpendRegressor:
        """Return an unfitted :class:`~churnmodel.models.SpendRegressor`."""
        return SpendRegressor(
            model=self.spend_model,
            random_state=self.random_state,
            n_threads=self.n_threads,
            **dict(self.spend_params),
        )


#: Settings for the bundled CDNOW log (calibration 1997-01-01..1997-09-30, H = 273 days):
#: nine months of history cannot hold 273-day label windows, so the label window is shortened
#: to the longest that fits three monthly cut-offs after 90 days of history (122 days at
#: 1997-09-30). See docs/lapse-and-spend.md.
CDNOW_SETTINGS = BundleSettings(n_cutoffs=3, step_days=30, fit_to_history=True)


# ---------------------------------------------------------------------------------- fit
def fit_bundle(
    transactions: TransactionsLike,
    *,
    cutoff: Any,
    horizon_days: int,
    time_unit: str = "D",
    purchase: PurchaseRule | None = None,
    rules: LifecycleRules | None = None,
    windows: FeatureWindows | None = None,
    settings: BundleSettings | None = None,
    training_set: TrainingSet | None = None,
    features: pd.DataFrame | None = None,
    training_transactions: TransactionsLike | None = None,
    snapshot_cache: SnapshotCache | None = None,
    fitted: tuple[ProbabilisticFeatures, LifecycleRules] | None = None,
) -> ChurnBundle:
    """Fit every model on data up to ``cutoff`` and return the bundle that scores customers.

    Parameters
    ----------
    transactions
        Canonical transactions; rows after ``cutoff`` are dropped before anything is fitted.
    cutoff
        The scoring date of the bundle: training label windows end on or before it, the
        probabilistic models are fitted on data up to it.
    horizon_days
        ``H``: horizon of ``p_churn`` and ``expected_spend``.
    time_unit, purchase, rules, windows
        Feature settings (:func:`churnmodel.features.customer_features`); the season window
        of ``windows`` is set by ``settings`` (:meth:`BundleSettings.feature_windows`). The
        bundle keeps ``rules`` with ``default_gap_days`` fixed at the cut-off
        (:meth:`~churnmodel.features.LifecycleRules.frozen_at`), so a customer's scores
        depend on that customer's transactions only.
    settings
        Training design and model settings (:class:`BundleSettings`).
    training_set
        A training set already built for the same cut-off and settings (reused, not rebuilt).
    features
        Customer features at ``cutoff`` with the same feature settings (computed if not given).
    training_transactions
        The transactions the training snapshots are built from, when not ``transactions``:
        e.g. a sample of the customers (:func:`~churnmodel.models.training.sample_customers`).
        The probabilistic models and the features at ``cutoff`` always use ``transactions``.
    snapshot_cache
        Passed to :func:`~churnmodel.models.training.build_training_set` (``cache``).
    fitted
        The probabilistic models already fitted at ``cutoff`` on every customer and the
        rules with the default gap fixed there, from a log that lives elsewhere
        (:class:`RemoteLog`): then the features at ``cutoff`` are not computed here.

    Returns
    -------
    ChurnBundle
    """
    settings = settings or BundleSettings()
    if settings.clv_method not in CLV_METHODS:
        raise ConfigError(
            f"'clv_method' must be one of {list(CLV_METHODS)}, got {settings.clv_method!r}"
        )
    day = to_date(cutoff, "cutoff")
    windows = settings.feature_windows(int(horizon_days), windows)
    past = until(as_frame(transactions), day)
    if training_set is None:
        _log.info("%s: training snapshots", day)
        training_set = build_training_set(
            past if training_transactions is None else until(as_frame(training_transactions), day),
            scoring_date=day,
            design=settings.design(horizon_days),
            time_unit=time_unit,
            purchase=purchase,
            rules=rules,
            windows=windows,
            probabilistic=settings.probabilistic(),
            cache=snapshot_cache,
        )
    elif training_set.cutoffs.label_end > day or training_set.horizon_days != horizon_days:
        raise ConfigError(
            f"the training set was built for horizon {training_set.horizon_days} with labels "
            f"up to {training_set.cutoffs.label_end}; it cannot serve a bundle at {day} with "
            f"horizon {horizon_days}"
        )
    if fitted is not None:
        probabilistic, rules = fitted
    else:
        if features is None:
            features = customer_features(
                past, day, time_unit=time_unit, purchase=purchase, rules=rules, windows=windows
            )
        elif features.attrs.get("as_of") != day.isoformat():
            raise ConfigError(
                f"the features were computed at {features.attrs.get('as_of')}, not at {day}"
            )
        _log.info("%s: fitting %s and Gamma-Gamma", day, settings.purchase_model)
        probabilistic = settings.probabilistic().fit(features)
        # One-time buyers' stages are judged by the default gap at the cut-off, not by the
        # median of whoever is scored with them (LifecycleRules.frozen_at).
        rules = (rules or LifecycleRules()).frozen_at(features)
    fit_warnings = dict(training_set.fit_warnings)
    if probabilistic.fit_warnings_:
        fit_warnings[day.isoformat()] = probabilistic.fit_warnings_
    classifier, spend_model = _fit_supervised(settings, training_set, day)
    return ChurnBundle(
        cutoff=day,
        horizon_days=int(horizon_days),
        label_horizon_days=training_set.label_horizon_days,
        time_unit=time_unit,
        purchase=purchase,
        rules=rules,
        windows=windows,
        probabilistic=probabilistic,
        classifier=classifier,
        spend_model=spend_model,
        clv_method=settings.clv_method,
        training_summary=training_set.summary(),
        fit_warnings=fit_warnings,
    )


_Fitted = TypeVar("_Fitted")


def _fit_supervised(
    settings: BundleSettings, training: TrainingSet, day: date
) -> tuple[LapseClassifier, SpendRegressor]:
    """Fit the lapse classifier and the spend model; side by side on two cores.

    With one OpenMP thread per model (``n_threads=1``, the default) and two cores, the two fits
    run in two Python threads: scikit-learn's boosting releases the interpreter lock, and two
    one-thread fits never spin-wait on a busy core as one two-thread fit does. Each fit is
    the same as alone.
    """

    def lapse() -> LapseClassifier:
        return _fit_classifier(
            settings.lapse_classifier(), training, season_level=settings.season_level
        )

    def spend() -> SpendRegressor:
        return _fit_spend(settings.spend_regressor(), training, season_level=settings.season_level)

    names = (
        f"the lapse classifier ({settings.classifier}) and the spend model ({settings.spend_model})"
    )
    if settings.n_threads != 1 or usable_cores() < 2:
        _log.info("%s: fitting %s", day, names)
        return lapse(), spend()
    _log.info("%s: fitting %s side by side", day, names)

    def alone(fit: Callable[[], _Fitted]) -> _Fitted:
        # OpenMP's thread count is per thread, and a new thread starts at every core: each
        # worker caps its own, for the predictions around the fit too.
        with thread_limit(1):
            return fit()

    with ThreadPoolExecutor(2) as pool:
        classifier, spend_model = pool.submit(alone, lapse), pool.submit(alone, spend)
        return classifier.result(), spend_model.result()


def _fit_classifier(
    model: LapseClassifier, training: TrainingSet, *, season_level: bool = True
) -> LapseClassifier:
    same = training.cutoffs.same_window if season_level else None
    return model.fit(
        training.features(),
        training.lapsed(),
        cutoff=training.cutoff(),
        level_cutoff=None if same is None else pd.Timestamp(same),
    )


def _fit_spend(
    model: SpendRegressor, training: TrainingSet, *, season_level: bool = True
) -> SpendRegressor:
    same = training.cutoffs.same_window if season_level else None
    rows = None if same is None else (training.cutoff() == pd.Timestamp(same)).to_numpy()
    return model.fit(training.features(), training.spend(), level_rows=rows)


# ----------------------------------------------------------------------------- evaluate
@dataclass(frozen=True)
class EvaluationResult:
    """Everything :func:`evaluate_holdout` measured at one cut-off.

    Attributes
    ----------
    cutoff, horizon_days, label_horizon_days
        The cut-off, the holdout horizon ``H`` and the training label window ``h``.
    scorecard
        Every model and baseline on the holdout (:class:`~churnmodel.evaluation.Scorecard`).
    scores
        Per customer known at the cut-off: the bundle's scores (``p_churn``, ``p_alive``,
        ``expected_purchases``, ``expected_spend``, ``clv``, ``value_at_risk``,
        ``lifecycle_stage``, ...), the baseline and alternative-model scores, and the holdout
        truth ``lapsed`` and ``spend_next``.
    calibration
        Calibration tables (``calibration_table``, 10 uniform bins) of every probability in the
        lapse scorecard, stacked with a ``name`` column.
    value_risk
        CLV decile x risk band matrix of ``clv`` and ``p_churn``.
    importances
        Permutation importance of the classifier's features on the holdout (drop in ROC AUC):
        ``importance_mean``, ``importance_std``, indexed by feature, largest first.
    segments
        Per segment (when ``segments`` were given): customers, lapse rate and ROC AUC of every
        lapse score (NaN where a segment has one class only).
    training
        One row per training cut-off (role, customers, lapse rate, mean spend).
    bundle
        The fitted :class:`~churnmodel.models.ChurnBundle`.
    columns
        Scorecard row name -> column of :attr:`scores` holding that prediction.
    holdout
        Per customer known at the cut-off: ``frequency``, ``recency``, ``T`` and
        ``monetary_value`` at the cut-off and ``purchases_next`` in the holdout (the purchase
        model's diagnostics read them).
    """

    cutoff: date
    horizon_days: int
    label_horizon_days: int
    scorecard: Scorecard
    scores: pd.DataFrame
    calibration: pd.DataFrame
    value_risk: pd.DataFrame
    importances: pd.DataFrame
    segments: pd.DataFrame | None
    training: pd.DataFrame
    bundle: ChurnBundle
    columns: Mapping[str, str] = field(default_factory=dict)
    holdout: pd.DataFrame | None = None

    @property
    def lapse_names(self) -> list[str]:
        """Names of the lapse rows of the scorecard (models, then baselines)."""
        table = self.scorecard.table
        return [str(n) for n in table.loc[table["task"] == "lapse", "name"]]

    @property
    def spend_names(self) -> list[str]:
        """Names of the spend rows of the scorecard."""
        table = self.scorecard.table
        return [str(n) for n in table.loc[table["task"] == "spend", "name"]]

    def metric(self, task: str, name: str, metric: str) -> float:
        """Return one number of the scorecard, e.g. ``metric("lapse", "classifier", "brier")``."""
        table = self.scorecard.table
        row = table[(table["task"] == task) & (table["name"] == name)]
        if row.empty:
            raise ConfigError(f"the scorecard has no {task} row named {name!r}")
        return float(row[metric].iloc[0])

    def to_metrics_dict(self) -> dict[str, float]:
        """Scorecard metrics with MLflow names (``lapse_roc_auc``, ...)."""
        return self.scorecard.to_metrics_dict()

    def plot_calibration(self, *, ax: Axes | None = None) -> Axes:
        """Reliability curves of every probability in the lapse scorecard."""
        probs = {n: self._values(n) for n in self._probability_names()}
        return plot_calibration(self.scores["lapsed"], probs, ax=ax)

    def plot_roc(self, *, ax: Axes | None = None) -> Axes:
        """ROC curves of every lapse score."""
        scores = {n: self._values(n) for n in self.lapse_names}
        return plot_roc(self.scores["lapsed"], scores, ax=ax)

    def plot_revenue_gains(self, *, ax: Axes | None = None) -> Axes:
        """Cumulative share of holdout revenue captured by each spend prediction."""
        preds = {n: self._values(n) for n in self.spend_names}
        return plot_cumulative_gains(self.scores["spend_next"], preds, ax=ax)

    def plot_value_risk(self, *, ax: Axes | None = None) -> Axes:
        """Plot the CLV decile x risk band matrix, coloured by value at risk."""
        return plot_value_risk_matrix(self.value_risk, ax=ax)

    def plot_importance(self, *, ax: Axes | None = None, top_n: int = 20) -> Axes:
        """Permutation importance of the classifier's features."""
        return plot_permutation_importance(
            self.importances["importance_mean"],
            std=self.importances["importance_std"],
            top_n=top_n,
            ax=ax,
        )

    def _values(self, name: str) -> pd.Series:
        return self.scores[self.columns.get(name, name)]

    def _probability_names(self) -> list[str]:
        table = self.scorecard.table
        lapse = table[(table["task"] == "lapse") & table["brier"].notna()]
        return [str(n) for n in lapse["name"]]


def evaluate_holdout(
    transactions: TransactionsLike,
    *,
    cutoff: Any,
    horizon_days: int,
    time_unit: str = "D",
    purchase: PurchaseRule | None = None,
    rules: LifecycleRules | None = None,
    windows: FeatureWindows | None = None,
    settings: BundleSettings | None = None,
    alternative_classifiers: Sequence[str] = ("logistic",),
    alternative_spend_models: Sequence[str] = ("glm",),
    segments: pd.Series | None = None,
    compare: Mapping[str, pd.DataFrame] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    importance_repeats: int = 5,
    importance_max_samples: float | int = 10_000,
    training_transactions: TransactionsLike | None = None,
    snapshot_cache: SnapshotCache | None = None,
    fitted: tuple[ProbabilisticFeatures, LifecycleRules] | None = None,
) -> EvaluationResult:
    """Fit on data up to ``cutoff``, score the next ``horizon_days``, and build the scorecard.

    Parameters
    ----------
    transactions
        Canonical transactions covering ``cutoff + horizon_days`` (the holdout).
    cutoff
        End of the calibration period (inclusive); the holdout is
        ``(cutoff, cutoff + horizon_days]``.
    horizon_days
        ``H``: the lapse label is "no purchase in the holdout"; spend is the holdout's net spend.
    time_unit, purchase, rules, windows, settings
        As for :func:`fit_bundle`.
    alternative_classifiers, alternative_spend_models
        Other models fitted on the same training set and scored beside the chosen ones
        (``"logistic"``; ``"glm"``; rows ``classifier_logistic``, ``spend_glm``). The
        uncalibrated classifier is always a row too (``classifier_uncalibrated``).
    segments
        Optional segment label per customer (e.g. the simulator's ``segment``); adds per-segment
        ROC AUCs in :attr:`EvaluationResult.segments`.
    compare
        Scores of other models on the same customers at ``cutoff`` (name -> frame indexed by
        ``customer_id`` with ``p_churn`` and ``expected_spend``, e.g. the current champion's
        :meth:`~churnmodel.models.ChurnBundle.predict`), scored beside the fitted model with
        the same bootstrap resamples: scorecard rows ``{name}_lapse`` and ``{name}_spend``
        (metrics ``champion_lapse_roc_auc``, ``champion_spend_spearman``, ...).
    n_boot, seed
        Bootstrap resamples and seed of the scorecard's 95 % intervals (AUC, Spearman).
    importance_repeats, importance_max_samples
        ``n_repeats`` and ``max_samples`` (rows drawn per repeat; at most the customers) of
        :func:`sklearn.inspection.permutation_importance` (0 repeats skips it).
    training_transactions, snapshot_cache
        As for :func:`fit_bundle`: the training snapshots come from ``training_transactions``
        (e.g. a sample of customers) when given; the holdout is scored on every customer of
        ``transactions``.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ConfigError
        If the holdout runs past the end of the log, or a setting is out of range.
    """
    settings = settings or BundleSettings()
    day = to_date(cutoff, "cutoff")
    windows = settings.feature_windows(int(horizon_days), windows)
    _log.info("%s: holdout labels, training snapshots and features", day)
    frame = as_frame(transactions)
    # Holdout truth from the full log (refused if the window runs past the data end). The
    # snapshot's feature columns are the customer features at the cut-off (the same queries
    # on the rows up to it), so they are not computed twice; of the rest only the truth and
    # the purchase model's summary are kept (a million customers' snapshot is 0.4 GB).
    snapshot = build_snapshots(
        frame,
        [day],
        horizon_days,
        time_unit=time_unit,
        purchase=purchase,
        rules=rules,
        windows=windows,
    ).set_index(CUSTOMER_ID)
    holdout = snapshot.loc[:, [*_HOLDOUT_SUMMARY, "lapsed", "spend_next"]]
    features = snapshot.drop(columns=["cutoff", *LABEL_COLUMNS])
    features.attrs = {"as_of": day.isoformat(), "time_unit": time_unit}
    del snapshot
    past = until(frame, day)
    training = build_training_set(
        past if training_transactions is None else until(as_frame(training_transactions), day),
        scoring_date=day,
        design=settings.design(horizon_days),
        time_unit=time_unit,
        purchase=purchase,
        rules=rules,
        windows=windows,
        probabilistic=settings.probabilistic(),
        cache=snapshot_cache,
    )
    bundle = fit_bundle(
        past,
        cutoff=day,
        horizon_days=horizon_days,
        time_unit=time_unit,
        purchase=purchase,
        rules=rules,
        windows=windows,
        settings=settings,
        training_set=training,
        features=features,
        fitted=fitted,
    )
    _log.info("%s: scoring the holdout", day)
    scores = bundle.predict(features, include_baselines=True)
    scores["lapsed"] = holdout["lapsed"].reindex(scores.index).astype("int64")
    scores["spend_next"] = holdout["spend_next"].reindex(scores.index).astype(np.float64)

    X_H = bundle.model_frame(features, horizon_days)
    name = settings.purchase_model
    columns = {
        CLASSIFIER: "p_churn",
        f"{CLASSIFIER}_uncalibrated": "p_churn_uncalibrated",
        SPEND_MODEL: "expected_spend",
    }
    lapse: dict[str, Any] = {key: scores[columns[key]] for key in list(columns)[:2]}
    spend: dict[str, Any] = {SPEND_MODEL: scores["expected_spend"]}
    # The comparison models are never served: they fit on a stratified sample of at most
    # COMPARISON_MAX_ROWS training rows (all rows below it), which bounds their time and the
    # memory of their dense design matrices whatever the number of customers.
    compared = training.sample(COMPARISON_MAX_ROWS, seed=seed)
    for model in alternative_classifiers:
        _log.info("%s: fitting the %s classifier for comparison", day, model)
        alt = _fit_classifier(
            replace(settings, classifier=model).lapse_classifier(),
            compared,
            season_level=settings.season_level,
        )
        column = f"{CLASSIFIER}_{model}"
        scores[column] = _in_chunks(alt.predict_proba, X_H)[:, 1]
        lapse[column] = scores[column]
    if alternative_spend_models:
        X_h, factor = bundle.spend_inputs(features)
    for model in alternative_spend_models:
        _log.info("%s: fitting the %s spend model for comparison", day, model)
        regressor = _fit_spend(
            replace(settings, spend_model=model).spend_regressor(),
            compared,
            season_level=settings.season_level,
        )
        column = f"spend_{model}"
        scores[column] = _in_chunks(regressor.predict, X_h) * factor.to_numpy()
        spend[column] = scores[column]
    for other, other_scores in (compare or {}).items():
        aligned = _compared_scores(other, other_scores, scores.index)
        scores[f"{other}_p_churn"] = aligned["p_churn"]
        scores[f"{other}_expected_spend"] = aligned["expected_spend"]
        lapse[f"{other}_lapse"] = Prediction(scores[f"{other}_p_churn"], kind="model")
        spend[f"{other}_spend"] = Prediction(scores[f"{other}_expected_spend"], kind="model")
        columns[f"{other}_lapse"] = f"{other}_p_churn"
        columns[f"{other}_spend"] = f"{other}_expected_spend"
    lapse_baselines = ["baseline_recency", f"baseline_{name}"]
    spend_baselines = [f"baseline_{name}_gg", "baseline_scaled_spend"]
    for column in lapse_baselines:
        lapse[column] = Prediction(scores[column], kind="baseline")
    for column in spend_baselines:
        spend[column] = Prediction(scores[column], kind="baseline")
    _log.info("%s: scorecard with bootstrap intervals", day)
    card = scorecard(
        lapse_label=scores["lapsed"],
        lapse_scores=lapse,
        spend_actual=scores["spend_next"],
        spend_predictions=spend,
        lapse_model=CLASSIFIER,
        spend_model=SPEND_MODEL,
        n_boot=n_boot,
        seed=seed,
    )
    table = card.table
    probs = table[(table["task"] == "lapse") & table["brier"].notna()]["name"]
    calibration = pd.concat(
        [
            calibration_table(scores["lapsed"], scores[columns.get(str(n), str(n))]).assign(
                name=str(n)
            )
            for n in probs
        ],
        ignore_index=True,
    )
    _log.info("%s: permutation importances", day)
    importances = _importances(
        bundle.classifier, X_H, scores["lapsed"], importance_repeats, importance_max_samples, seed
    )
    return EvaluationResult(
        cutoff=day,
        horizon_days=int(horizon_days),
        label_horizon_days=bundle.label_horizon_days,
        scorecard=card,
        scores=scores,
        calibration=calibration,
        value_risk=value_risk_matrix(scores["clv"], scores["p_churn"]),
        importances=importances,
        segments=None
        if segments is None
        else _segment_table(scores, segments, {n: columns.get(n, n) for n in lapse}),
        training=training.summary(),
        bundle=bundle,
        columns=columns,
        holdout=holdout.loc[:, list(_HOLDOUT_SUMMARY)],
    )


#: Columns of the holdout snapshot an evaluation keeps for the purchase model's diagnostics.
_HOLDOUT_SUMMARY = ("frequency", "recency", "T", "monetary_value", "purchases_next")
#: Rows per call when a comparison model predicts: its linear pipeline makes dense copies.
_PREDICT_CHUNK_ROWS = 200_000


def _in_chunks(predict: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame) -> np.ndarray:
    """``predict(frame)`` in blocks of rows, so that its intermediate copies stay small."""
    if len(frame) <= _PREDICT_CHUNK_ROWS:
        return np.asarray(predict(frame))
    return np.concatenate(
        [
            np.asarray(predict(frame.iloc[start : start + _PREDICT_CHUNK_ROWS]))
            for start in range(0, len(frame), _PREDICT_CHUNK_ROWS)
        ]
    )


def _compared_scores(name: str, other: pd.DataFrame, customers: pd.Index) -> pd.DataFrame:
    """Return another model's ``p_churn`` and ``expected_spend`` for exactly ``customers``."""
    if not isinstance(other, pd.DataFrame):
        raise ConfigError(
            f"'compare' scores of {name!r} must be a DataFrame, got {type(other).__name__}"
        )
    frame = other.set_index(CUSTOMER_ID) if CUSTOMER_ID in other.columns else other
    missing_columns = [c for c in ("p_churn", "expected_spend") if c not in frame.columns]
    if missing_columns:
        raise DataValidationError(
            f"the {name} scores have no column {missing_columns[0]!r}", column=missing_columns[0]
        )
    frame = frame.loc[:, ["p_churn", "expected_spend"]]
    frame.index = frame.index.astype(str)
    aligned = frame.reindex(customers)
    absent = aligned["p_churn"].isna() | aligned["expected_spend"].isna()
    if absent.any():
        raise DataValidationError(
            f"the {name} model scores {int((~absent).sum()):,} of the {len(customers):,} "
            f"customers known at the cut-off (first missing: {customers[absent.to_numpy()][0]!r})",
            hint="it reads the log with other settings (purchase rule, time zone); compare "
            "models that read the data the same way",
        )
    return aligned.astype(np.float64)


def _importances(
    classifier: LapseClassifier,
    X: pd.DataFrame,
    y: pd.Series,
    n_repeats: int,
    max_samples: float | int,
    seed: int,
) -> pd.DataFrame:
    if n_repeats == 0:
        columns = ["importance_mean", "importance_std"]
        return pd.DataFrame(columns=columns, index=pd.Index([], name="feature"), dtype=float)
    return classifier.permutation_importance(
        X, y.to_numpy(), n_repeats=n_repeats, max_samples=max_samples, random_state=seed
    )


def _segment_table(
    scores: pd.DataFrame, segments: pd.Series, names: Mapping[str, str]
) -> pd.DataFrame:
    if not isinstance(segments, pd.Series):
        raise ConfigError(
            f"'segments' must be a Series indexed by customer_id, got {type(segments).__name__}"
        )
    labels = segments.reindex(scores.index)
    if labels.isna().any():
        missing = scores.index[labels.isna().to_numpy()]
        raise DataValidationError(
            f"{len(missing)} scored customers have no segment (first: {missing[0]!r})",
            hint="pass a segment for every customer known at the cut-off",
        )
    rows = []
    for segment, members in scores.groupby(labels.astype(str), sort=True):
        y = members["lapsed"]
        row: dict[str, Any] = {
            "segment": segment,
            "n_customers": len(members),
            "lapse_rate": float(y.mean()),
        }
        for n, column in names.items():
            row[f"{n}_roc_auc"] = roc_auc(y, members[column]) if 0 < y.sum() < len(y) else math.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("segment")


# ----------------------------------------------------------------------------- backtest
@dataclass(frozen=True)
class BacktestResult:
    """:func:`evaluate_holdout` at several cut-offs.

    Attributes
    ----------
    results
        One :class:`EvaluationResult` per cut-off, oldest first.
    table
        The scorecards stacked, with a ``cutoff`` column first.
    """

    results: tuple[EvaluationResult, ...]
    table: pd.DataFrame

    def metric_table(self, task: str, metric: str) -> pd.DataFrame:
        """Return one metric with cut-offs as rows and models/baselines as columns."""
        rows = self.table[self.table["task"] == task]
        if metric not in rows.columns:
            raise ConfigError(f"the scorecard has no metric {metric!r}")
        return rows.pivot_table(index="cutoff", columns="name", values=metric, sort=False)


def backtest(
    transactions: TransactionsLike,
    *,
    cutoffs: Sequence[Any],
    horizon_days: int,
    **kwargs: Any,
) -> BacktestResult:
    """Repeat :func:`evaluate_holdout` at each of ``cutoffs`` (same settings each time).

    Parameters
    ----------
    transactions
        Canonical transactions covering every ``cutoff + horizon_days``.
    cutoffs
        Cut-offs to evaluate at (at least one).
    horizon_days
        Holdout horizon ``H``.
    **kwargs
        Passed to :func:`evaluate_holdout` (``settings``, ``purchase``, ``n_boot``, ...).

    Returns
    -------
    BacktestResult
    """
    days = sorted({to_date(c, "cutoff") for c in cutoffs})
    if not days:
        raise ConfigError("'cutoffs' must name at least one date")
    frame = as_frame(transactions)
    results = tuple(
        evaluate_holdout(frame, cutoff=d, horizon_days=horizon_days, **kwargs) for d in days
    )
    table = pd.concat(
        [r.scorecard.table.assign(cutoff=pd.Timestamp(r.cutoff)) for r in results],
        ignore_index=True,
    )
    table = table.loc[:, ["cutoff", *[c for c in table.columns if c != "cutoff"]]]
    return BacktestResult(results=results, table=table)


# ------------------------------------------------------------------- the training job's hook
class ChampionFits(Protocol):
    """The current champion's fitted bundles, as the training job found them in the registry."""

    def bundle_for(self, cutoff: date) -> tuple[Any | None, str]:
        """Return the champion's newest fit that saw no data after ``cutoff``, and a note.

        ``(None, reason)`` when there is no champion or none of its fits can score the
        holdout that starts after ``cutoff`` without having seen it.
        """
        ...


def bundle_settings_for(
    settings: Settings,
    transactions: pd.DataFrame,
    *,
    cutoff: date,
    horizon_days: int,
    cdnow: bool,
    first: date | None = None,
) -> BundleSettings:
    """Map the layered :class:`~churnmodel.config.Settings` onto :class:`BundleSettings`.

    :data:`CDNOW_SETTINGS` for the bundled CDNOW log, else the defaults; ``[model]`` CLV
    terms, seed, season window, same-window years and the monotone constraints. A log whose
    history before ``cutoff`` is too short for ``horizon_days``-day label windows gets
    shortened ones, as :data:`CDNOW_SETTINGS` does. ``first``: the log's first day, when
    ``transactions`` are a sample of it.
    """
    base = CDNOW_SETTINGS if cdnow else BundleSettings()
    model = settings.model
    bundle_settings = replace(
        base,
        clv_horizon_days=float(model.clv_horizon_days),
        annual_discount_rate=float(model.annual_discount_rate),
        random_state=int(model.seed),
        season_days=model.season_days,
        same_window_years=int(model.same_window_years),
        season_level=bool(model.season_level),
        classifier_params={**base.classifier_params, "monotonic": bool(model.monotonic)},
        spend_params={**base.spend_params, "monotonic": bool(model.monotonic)},
    )
    first = _first_day(transactions) if first is None else first
    try:
        bundle_settings.design(horizon_days).cutoffs(cutoff, data_start=first)
    except ConfigError:
        if bundle_settings.fit_to_history:
            raise
        # Too little history for horizon_days-day label windows: shorten them (CDNOW's way).
        bundle_settings = replace(bundle_settings, step_days=30, fit_to_history=True)
    return bundle_settings


def aligned_cutoff(
    settings: BundleSettings, *, first: date, last: date, horizon_days: int
) -> tuple[date | None, str]:
    """Return the cut-off of the season-aligned evaluation, or None, and why.

    The served model forecasts ``(S, S + H]`` with ``S = last``. The season-aligned
    evaluation runs the same flow one year earlier: fit with data up to ``S - 365`` and
    forecast ``(S - 365, S - 365 + H]``, the served window's calendar window. It exists when
    ``H <= 365`` and the log before ``S - 365`` holds the training design the served model
    uses, with label windows as long as the served model's (otherwise it would evaluate
    another flow).
    """
    if horizon_days > 365:
        return None, f"the horizon ({horizon_days} days) is longer than a year"
    day = last - timedelta(days=365)
    design = settings.design(horizon_days)
    try:
        served = design.cutoffs(last, data_start=first)
    except ConfigError as exc:  # pragma: no cover - the refit would fail the same way
        return None, f"the served model's training design does not fit the log: {exc}"
    try:
        earlier = design.cutoffs(day, data_start=first)
    except ConfigError:
        return None, (
            f"the log before {day.isoformat()} (from {first.isoformat()}) is too short for the "
            "training design of the served model"
        )
    if earlier.label_horizon_days != served.label_horizon_days:
        return None, (
            f"the log before {day.isoformat()} (from {first.isoformat()}) holds label windows "
            f"of {earlier.label_horizon_days} days, the served model trains on "
            f"{served.label_horizon_days}"
        )
    return day, (
        f"fitted with data to {day.isoformat()}, scored on {(day + timedelta(days=1)).isoformat()}"
        f" .. {(day + timedelta(days=horizon_days)).isoformat()}, the served window one year "
        "earlier"
    )


def backtest_cutoffs(
    settings: BundleSettings,
    *,
    first: date,
    cutoff: date,
    horizon_days: int,
    count: int,
    step_days: int,
) -> tuple[list[date], str]:
    """Return the earlier cut-offs of the training run's backtest (oldest first) and a note.

    ``count`` cut-offs ``step_days`` apart before ``cutoff`` (the holdout's, which is the
    backtest's last point); a cut-off whose history from ``first`` is too short for the
    training design is left out, and the note says so.
    """
    if count <= 0:
        return [], "turned off ([model] backtest_cutoffs = 0)"
    design = settings.design(horizon_days)
    days: list[date] = []
    skipped: list[date] = []
    for k in range(1, count + 1):
        day = cutoff - timedelta(days=k * step_days)
        try:
            if day <= first:
                raise ConfigError("before the log")
            design.cutoffs(day, data_start=first)
        except ConfigError:
            skipped.append(day)
            continue
        days.append(day)
    days.sort()
    shown = ", ".join(d.isoformat() for d in [*days, cutoff])
    note = (
        f"the same settings fitted at {shown} (the holdout), each scored on its next "
        f"{horizon_days} days"
    )
    if skipped:
        note += (
            f"; left out {', '.join(d.isoformat() for d in sorted(skipped))} (too little history "
            "before it for the training design)"
        )
    return days, note


def _backtest_table(results: Sequence[EvaluationResult]) -> pd.DataFrame:
    """Stack the scorecards of several cut-offs (rows every cut-off has), oldest first."""
    common = set.intersection(*(set(r.scorecard.table["name"]) for r in results))
    frames = [
        r.scorecard.table[r.scorecard.table["name"].isin(common)].assign(
            cutoff=pd.Timestamp(r.cutoff)
        )
        for r in sorted(results, key=lambda r: r.cutoff)
    ]
    table = pd.concat(frames, ignore_index=True)
    return table.loc[:, ["cutoff", *[c for c in table.columns if c != "cutoff"]]]


class ServedInputs(Protocol):
    """Fits the probabilistic models at a cut-off on every customer of a remote log.

    Returns the fitted copy of ``template`` and the life-cycle rules with the default gap
    fixed at that cut-off (what :func:`fit_bundle` takes as ``fitted``).
    """

    def __call__(
        self,
        day: date,
        *,
        template: ProbabilisticFeatures,
        time_unit: str,
        purchase: PurchaseRule | None,
        windows: FeatureWindows | None,
    ) -> tuple[ProbabilisticFeatures, LifecycleRules]:
        """Return ``template`` fitted at ``day`` and the rules fixed there."""
        ...


@dataclass(frozen=True)
class RemoteLog:
    """A log that lives on another engine (``churnmodel train --engine spark``).

    :func:`train_and_evaluate` then receives a sample of its customers' transactions
    (all of them when they fit): the evaluations score those customers; the training snapshots
    come from ``snapshots`` (built there, for the same customers); the served model's
    probabilistic models and life-cycle rules come from ``served`` (every customer).

    Attributes
    ----------
    first, last
        The log's first and last day (the design's data start; the served model's cut-off).
    customers
        Customers in the log.
    snapshots
        Builds the training snapshots of the sampled customers
        (:class:`~churnmodel.models.training.SnapshotBuilder`).
    served
        Fits the served model's probabilistic models on every customer (:class:`ServedInputs`).
    """

    first: date
    last: date
    customers: int
    snapshots: SnapshotBuilder
    served: ServedInputs


def train_and_evaluate(
    transactions: pd.DataFrame,
    *,
    cutoff: date,
    horizon_days: int,
    settings: Settings,
    cdnow: bool = False,
    champion: ChampionFits | None = None,
    remote: RemoteLog | None = None,
) -> TrainingOutcome:
    """Evaluate at ``cutoff`` and one year before the served window, then refit to the end.

    The trainer of ``churnmodel train``:

    1. **holdout**: :func:`evaluate_holdout` at ``cutoff`` (the latest ``horizon_days``
       by default), with the champion's scores beside the model's when ``champion`` has a
       fit that has not seen the holdout;
    2. **season-aligned** (``[model] aligned_evaluation``): the same flow one year before the
       window the served model forecasts (:func:`aligned_cutoff`), when the log is long
       enough, again with the champion beside it;
    3. **backtest** (``[model] backtest_cutoffs``): the same flow at earlier cut-offs
       (:func:`backtest_cutoffs`), without the champion, the alternative models, the
       importances or the intervals; with the holdout as the last point, a metric per cut-off;
    4. **refit** (``[model] refit``): the same settings fitted on everything up to the last
       day of the log, ``S``: the bundle that is registered and served. Without refit the
       holdout's bundle is served (fitted at ``cutoff``).

    Settings are mapped by :func:`bundle_settings_for`. Returns the scorecards, plots,
    tables, parameters and every fitted bundle for the tracking layer
    (:class:`churnmodel.workflows.train.TrainingOutcome`). With ``remote`` (a log on Spark),
    ``transactions`` are its sampled customers' rows (:class:`RemoteLog`).
    """
    from churnmodel.workflows.features import purchase_rule
    from churnmodel.workflows.train import TrainingOutcome

    frame = as_frame(transactions)
    first, last = (
        (_first_day(frame), _last_day(frame)) if remote is None else (remote.first, remote.last)
    )
    if rfm_summary(frame, last, purchase=purchase_rule(settings, cdnow=cdnow)).empty:
        raise DataValidationError(
            f"no customer to train on at the as-of date {last}: the log's {len(frame):,} rows "
            f"(from {first} to {last}) hold no purchase, only returns or amounts that net to zero",
            hint="check --amount-col (purchases are positive amounts)",
        )
    bundle_settings = bundle_settings_for(
        settings, frame, cutoff=cutoff, horizon_days=horizon_days, cdnow=cdnow, first=first
    )
    model = settings.model
    # The lapse and spend models learn from the snapshots of at most [model]
    # training_customers customers (a sample stratified by first month, the same in every
    # training set of the run); everything is scored on every customer. One cache holds the
    # snapshots the run's training sets share.
    sample = sample_customers(frame, int(model.training_customers) or None, seed=int(model.seed))
    training_log = frame if sample is None else frame[frame[CUSTOMER_ID].isin(sample)]
    kwargs: dict[str, Any] = {
        "horizon_days": horizon_days,
        "time_unit": settings.features.time_unit,
        "purchase": purchase_rule(settings, cdnow=cdnow),
        "seed": int(model.seed),
        "settings": bundle_settings,
        "snapshot_cache": SnapshotCache(None if remote is None else remote.snapshots),
    }
    notes: dict[str, str] = {}
    sampled = 0  # customers the supervised models learn from, when they are a sample
    if remote is not None and (in_frame := frame[CUSTOMER_ID].nunique()) < remote.customers:
        sampled = in_frame
        notes["training_sample"] = (
            f"the log is on Spark: the lapse and spend models learned from the training "
            f"snapshots of {sampled:,} of its {remote.customers:,} customers (a sample stratified "
            "by month of first purchase, [model] training_customers) and every evaluation "
            "scored those customers; the purchase and spend models fitted on every customer"
        )
    if sample is not None:
        sampled = len(sample)
        total = frame[CUSTOMER_ID].nunique()
        notes["training_sample"] = (
            f"the lapse and spend models learned from the training snapshots of {len(sample):,} "
            f"of the {total:,} customers (a sample stratified by month of first purchase, "
            "[model] training_customers); every evaluation but the backtest scored every customer"
        )
        _log.info(
            "training snapshots of %s of %s customers (a sample)", f"{len(sample):,}", f"{total:,}"
        )

    def champion_scores(day: date, key: str) -> dict[str, pd.DataFrame]:
        if champion is None:
            return {}
        bundle, note = champion.bundle_for(day)
        notes[key] = note
        if bundle is None:
            return {}
        _log.info("%s: scoring the champion, %s", day, note)
        past = until(frame, day)
        try:
            scores = bundle.predict(past, as_of=day)
            known = rfm_summary(past, day, purchase=kwargs["purchase"]).index
            _compared_scores("champion", scores, known.astype(str))
        except Exception as exc:  # a champion that cannot score this data is reported
            notes[key] = f"{note}; it cannot score this data: {_first_line(exc)}"
            return {}
        return {"champion": scores}

    def fitted_on_all(day: date) -> tuple[ProbabilisticFeatures, LifecycleRules] | None:
        # A remote log: the purchase and spend models at ``day`` fit on every customer, as
        # they do in process; only the supervised models see the sample.
        if remote is None:
            return None
        _log.info(
            "%s: fitting %s and Gamma-Gamma on every customer", day, bundle_settings.purchase_model
        )
        return remote.served(
            day,
            template=bundle_settings.probabilistic(),
            time_unit=kwargs["time_unit"],
            purchase=kwargs["purchase"],
            windows=bundle_settings.feature_windows(horizon_days, None),
        )

    def evaluate(day: date, key: str, **extra: Any) -> EvaluationResult:
        return evaluate_holdout(
            frame,
            cutoff=day,
            compare=champion_scores(day, key),
            training_transactions=training_log,
            fitted=fitted_on_all(day),
            **kwargs,
            **extra,
        )

    _log.info("holdout evaluation: calibration to %s, %d-day holdout", cutoff, horizon_days)
    result = evaluate(cutoff, "champion")
    aligned: EvaluationResult | None = None
    day, why = (
        aligned_cutoff(bundle_settings, first=first, last=last, horizon_days=horizon_days)
        if model.aligned_evaluation
        else (None, "turned off ([model] aligned_evaluation = false)")
    )
    notes["aligned"] = why
    if day is not None and day == cutoff:
        aligned = result  # the holdout is the served window one year earlier (H = 365)
        if "champion" in notes:
            notes["aligned_champion"] = notes["champion"]
    elif day is not None:
        _log.info("season-aligned evaluation: the same flow at %s", day)
        aligned = evaluate(
            day,
            "aligned_champion",
            alternative_classifiers=(),
            alternative_spend_models=(),
            importance_repeats=0,
        )
    backtest_days, notes["backtest"] = backtest_cutoffs(
        bundle_settings,
        first=first,
        cutoff=cutoff,
        horizon_days=horizon_days,
        count=int(model.backtest_cutoffs),
        step_days=int(model.backtest_step_days),
    )
    if sampled and backtest_days:
        notes["backtest"] += f"; on the {sampled:,} sampled customers only"
    earlier = [
        evaluate_holdout(
            training_log,  # all of the backtest runs on the sample
            cutoff=day,
            alternative_classifiers=(),
            alternative_spend_models=(),
            importance_repeats=0,
            n_boot=0,
            **kwargs,
        )
        for day in backtest_days
    ]
    backtest_table = _backtest_table([*earlier, result]) if earlier else None
    _log.info("plots and tables")
    figures = {
        "plots/roc.png": _figure(result.plot_roc()),
        "plots/calibration.png": _figure(result.plot_calibration()),
        "plots/revenue_gains.png": _figure(result.plot_revenue_gains()),
        "plots/value_risk_matrix.png": _figure(result.plot_value_risk()),
        "plots/permutation_importance.png": _figure(result.plot_importance()),
    }
    tables = {
        "evaluation/calibration": result.calibration,
        "evaluation/value_risk_matrix": result.value_risk.assign(
            risk_band=result.value_risk["risk_band"].astype(str)
        ),
        "evaluation/permutation_importance": result.importances.reset_index(),
        "evaluation/training_cutoffs": _plain(result.training.reset_index()),
    }
    if backtest_table is not None:
        tables["evaluation/backtest"] = _plain(backtest_table)
        figures["plots/backtest.png"] = _figure(
            plot_backtest(
                backtest_table,
                task="lapse",
                metric="roc_auc",
                names={
                    CLASSIFIER: "model",
                    "baseline_recency": "days since last purchase",
                    f"baseline_{bundle_settings.purchase_model}": (
                        f"{_PURCHASE_MODELS.get(bundle_settings.purchase_model, 'purchase model')}"
                        " P(no purchase)"
                    ),
                },
            )
        )
    if aligned is not None and aligned is not result:
        figures["plots/aligned_roc.png"] = _figure(aligned.plot_roc())
        tables["evaluation/aligned_scorecard"] = aligned.scorecard.to_frame()
        tables["evaluation/aligned_training_cutoffs"] = _plain(aligned.training.reset_index())
    # The per-customer scores are drawn; let them go before the refit holds its own frames
    # (at a million customers each evaluation's scores are 0.3 GB).
    del earlier
    same = aligned is result
    result = replace(result, scores=result.scores.iloc[:0])
    if aligned is not None:
        aligned = result if same else replace(aligned, scores=aligned.scores.iloc[:0])
    if model.refit and last > cutoff:
        _log.info("refit on every row to %s: the served model", last)
        # Only the refit's cut-offs can still be reused: the other snapshots are let go.
        cache = kwargs["snapshot_cache"]
        try:
            keep = set(bundle_settings.design(horizon_days).cutoffs(last, data_start=first).all)
        except ConfigError:  # the refit reports it below
            keep = set()
        for key in [key for key in cache if key[0] not in keep]:
            del cache[key]
        served = fit_bundle(
            frame,
            cutoff=last,
            horizon_days=horizon_days,
            time_unit=kwargs["time_unit"],
            purchase=kwargs["purchase"],
            settings=bundle_settings,
            training_transactions=training_log,
            snapshot_cache=kwargs["snapshot_cache"],
            fitted=fitted_on_all(last),
        )
    else:
        served = result.bundle
    served_training = (
        served.training_summary if served.training_summary is not None else result.training
    )
    if served is not result.bundle:
        tables["served/training_cutoffs"] = _plain(served_training.reset_index())
    params = {
        "label_horizon_days": result.label_horizon_days,
        "training_cutoffs": _dates(result.training.index),
        "calibration_cutoff": pd.Timestamp(result.bundle.classifier.calibration_cutoff_)
        .date()
        .isoformat(),
        "served_fitted_through": served.cutoff.isoformat(),
        "served_label_horizon_days": served.label_horizon_days,
        "served_training_cutoffs": _dates(served_training.index),
        "season_days": served.windows.season if served.windows is not None else None,
        "same_window_years": bundle_settings.same_window_years,
        "purchase_model": bundle_settings.purchase_model,
        "classifier": bundle_settings.classifier,
        "calibration": str(bundle_settings.calibration),
        "spend_model": bundle_settings.spend_model,
        "clv_method": bundle_settings.clv_method,
    }
    evaluated = {"holdout": result.bundle}
    if aligned is not None and aligned is not result:
        evaluated["aligned"] = aligned.bundle
    return TrainingOutcome(
        bundle=served,
        scorecard=result.scorecard,
        figures=figures,
        tables=tables,
        params=params,
        aligned=None if aligned is None else aligned.scorecard,
        aligned_cutoff=day if aligned is not None else None,
        evaluated=evaluated,
        notes=notes,
        backtest=backtest_table,
        holdout=result.holdout,
    )


def _first_day(frame: pd.DataFrame) -> date:
    return pd.Timestamp(frame["timestamp"].min()).date()


def _last_day(frame: pd.DataFrame) -> date:
    return pd.Timestamp(frame["timestamp"].max()).date()


def _dates(index: pd.Index) -> str:
    return ",".join(d.date().isoformat() for d in pd.DatetimeIndex(index))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _figure(ax: Axes) -> Figure:
    """Return the top-level figure an Axes is drawn on."""
    from matplotlib.figure import Figure

    figure = ax.get_figure(root=True)
    if not isinstance(figure, Figure):  # pragma: no cover - plots always draw on a Figure
        raise TypeError("the plot is not drawn on a matplotlib Figure")
    return figure


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with dates as ISO strings (JSON-friendly tables)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    return out
