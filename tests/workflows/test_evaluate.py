"""Holdout evaluation, backtests and the bundle: CDNOW against the published baselines, and the
simulator's seasonal buyers.

CDNOW: calibration 1997-01-01..1997-09-30, holdout the next 273 days, label = no purchase in the
holdout ($0 orders count, as in the papers). Reference numbers measured by the project lead:
days since last purchase AUC 0.759; BG/NBD P(no purchase) AUC 0.747, Brier 0.165;
BG/NBD x Gamma-Gamma Spearman 0.42, Gini 0.67, revenue -17 %; past spend scaled Spearman 0.40,
Gini 0.70. The fits are deterministic (fixed seeds), so the comparisons below are exact.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from churnmodel.config import Settings
from churnmodel.datasets import load_cdnow, simulate
from churnmodel.features import PurchaseRule
from churnmodel.models import FEATURE_COLUMNS, SCORE_COLUMNS, ChurnBundle
from churnmodel.models.training import until
from churnmodel.workflows import evaluate
from churnmodel.workflows.evaluate import (
    CDNOW_SETTINGS,
    BacktestResult,
    EvaluationResult,
    backtest,
    evaluate_holdout,
    train_and_evaluate,
)

CDNOW_RULE = PurchaseRule(zero_net_is_purchase=True)
CUTOFF = date(1997, 9, 30)
H = 273
SETTINGS = CDNOW_SETTINGS
# Backtests only compare ranks: a lighter model is enough and keeps the suite fast.
FAST = replace(
    SETTINGS,
    classifier_params={"learning_rate": 0.1, "max_iter": 100},
    spend_params={"learning_rate": 0.1, "max_iter": 100},
)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    tx = load_cdnow()
    assert isinstance(tx, pd.DataFrame)
    return tx


@pytest.fixture(scope="module")
def result(cdnow: pd.DataFrame) -> EvaluationResult:
    return evaluate_holdout(
        cdnow,
        cutoff=CUTOFF,
        horizon_days=H,
        time_unit="W",
        purchase=CDNOW_RULE,
        settings=SETTINGS,
        n_boot=100,
        importance_repeats=1,
        importance_max_samples=3000,
    )


@pytest.fixture(scope="module")
def backtests(cdnow: pd.DataFrame) -> BacktestResult:
    return backtest(
        cdnow,
        cutoffs=["1997-07-31", "1997-08-31"],
        horizon_days=H,
        time_unit="W",
        purchase=CDNOW_RULE,
        settings=FAST,
        alternative_classifiers=(),
        alternative_spend_models=(),
        n_boot=0,
        importance_repeats=0,
    )


def metric(result: EvaluationResult, task: str, name: str, column: str) -> float:
    return result.metric(task, name, column)


# ------------------------------------------------------------------------------ CDNOW
def test_baselines_reproduce_the_reference_numbers(result: EvaluationResult) -> None:
    assert metric(result, "lapse", "baseline_recency", "roc_auc") == pytest.approx(0.759, abs=0.002)
    assert metric(result, "lapse", "baseline_bgnbd", "roc_auc") == pytest.approx(0.747, abs=0.002)
    assert metric(result, "lapse", "baseline_bgnbd", "brier") == pytest.approx(0.165, abs=0.001)
    assert np.isnan(metric(result, "lapse", "baseline_recency", "brier"))  # not a probability
    gg = "baseline_bgnbd_gg"
    assert metric(result, "spend", gg, "spearman") == pytest.approx(0.42, abs=0.005)
    assert metric(result, "spend", gg, "normalized_gini") == pytest.approx(0.67, abs=0.005)
    assert metric(result, "spend", gg, "total_relative_error") == pytest.approx(-0.17, abs=0.01)
    scaled = "baseline_scaled_spend"
    assert metric(result, "spend", scaled, "spearman") == pytest.approx(0.40, abs=0.01)
    assert metric(result, "spend", scaled, "normalized_gini") == pytest.approx(0.70, abs=0.01)


def test_classifier_beats_both_lapse_baselines(result: EvaluationResult) -> None:
    auc = metric(result, "lapse", "classifier", "roc_auc")
    brier = metric(result, "lapse", "classifier", "brier")
    assert auc > metric(result, "lapse", "baseline_recency", "roc_auc")
    assert auc > metric(result, "lapse", "baseline_bgnbd", "roc_auc")
    assert brier < metric(result, "lapse", "baseline_bgnbd", "brier")
    # Calibration helps the probability, not the ranking.
    assert metric(result, "lapse", "classifier", "log_loss") < metric(
        result, "lapse", "baseline_bgnbd", "log_loss"
    )


def test_spend_model_beats_both_spend_baselines(result: EvaluationResult) -> None:
    for column in ("spearman", "normalized_gini"):
        model = metric(result, "spend", "spend_model", column)
        assert model > metric(result, "spend", "baseline_bgnbd_gg", column), column
        assert model > metric(result, "spend", "baseline_scaled_spend", column), column
    # Total holdout revenue: closer than BG/NBD x Gamma-Gamma's -17 %.
    assert abs(metric(result, "spend", "spend_model", "total_relative_error")) < 0.1


def test_scorecard_shows_every_model_beside_every_baseline(result: EvaluationResult) -> None:
    table = result.scorecard.table
    rows = set(zip(table["task"], table["name"], table["kind"], strict=True))
    assert rows == {
        ("lapse", "classifier", "model"),
        ("lapse", "classifier_uncalibrated", "model"),
        ("lapse", "classifier_logistic", "model"),
        ("lapse", "baseline_recency", "baseline"),
        ("lapse", "baseline_bgnbd", "baseline"),
        ("spend", "spend_model", "model"),
        ("spend", "spend_glm", "model"),
        ("spend", "baseline_bgnbd_gg", "baseline"),
        ("spend", "baseline_scaled_spend", "baseline"),
    }
    lapse = table[table["task"] == "lapse"]
    assert (lapse["roc_auc_ci_low"] < lapse["roc_auc"]).all()
    assert (lapse["roc_auc"] < lapse["roc_auc_ci_high"]).all()
    spend = table[table["task"] == "spend"]
    assert (spend["spearman_ci_low"] < spend["spearman"]).all()
    metrics = result.to_metrics_dict()
    for key in (
        "lapse_roc_auc",
        "lapse_brier",
        "baseline_recency_roc_auc",
        "baseline_bgnbd_brier",
        "spend_spearman",
        "spend_normalized_gini",
        "baseline_bgnbd_gg_spearman",
        "baseline_scaled_spend_normalized_gini",
    ):
        assert key in metrics


def test_scores_per_customer(result: EvaluationResult) -> None:
    scores = result.scores
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    assert len(scores) == 23_570
    assert scores.index.name == "customer_id"
    numeric = scores[["p_churn", "p_alive", "expected_purchases", "expected_spend", "clv"]]
    assert np.isfinite(numeric.to_numpy()).all()
    assert scores["p_churn"].between(0, 1).all()
    np.testing.assert_allclose(scores["value_at_risk"], scores["clv"] * scores["p_churn"])
    assert (scores["as_of"] == pd.Timestamp(CUTOFF)).all()
    assert scores["lifecycle_stage"].notna().all()
    # The rescaled CLV keeps BG/NBD x Gamma-Gamma's shape beyond H: same ranking of
    # customers with the same supervised short-term spend.
    assert (scores["clv"] >= 0).all()


def test_training_never_saw_the_holdout(result: EvaluationResult) -> None:
    assert result.label_horizon_days == 122
    assert (result.training["label_end"] <= pd.Timestamp(CUTOFF)).all()
    assert result.bundle.cutoff == CUTOFF
    assert pd.Timestamp(result.bundle.classifier.calibration_cutoff_) == pd.Timestamp("1997-05-31")


def test_plot_data(result: EvaluationResult) -> None:
    assert result.value_risk["n_customers"].sum() == len(result.scores)
    assert set(result.calibration["name"]) == {
        "classifier",
        "classifier_uncalibrated",
        "classifier_logistic",
        "baseline_bgnbd",
    }
    assert list(result.importances.index.sort_values()) == sorted(FEATURE_COLUMNS)
    assert result.importances["importance_mean"].iloc[0] > 0
    for plot in (
        result.plot_calibration,
        result.plot_roc,
        result.plot_revenue_gains,
        result.plot_value_risk,
        result.plot_importance,
    ):
        assert isinstance(plot(), Axes)


def test_bundle_pickles_small_and_scores_transactions(
    result: EvaluationResult, cdnow: pd.DataFrame
) -> None:
    bundle = result.bundle
    blob = pickle.dumps(bundle)
    assert len(blob) < 5_000_000
    restored: ChurnBundle = pickle.loads(blob)
    past = until(cdnow, CUTOFF)
    again = restored.predict(past, CUTOFF)
    pd.testing.assert_frame_equal(again, result.scores.loc[:, list(SCORE_COLUMNS)])
    assert _largest_frame(bundle) < 100  # no training rows inside


def test_a_customers_scores_do_not_depend_on_who_else_is_scored(
    result: EvaluationResult, cdnow: pd.DataFrame
) -> None:
    # One-time buyers are judged against the default gap fixed at the cut-off: scored alone
    # (a request of one customer, whose own median gap would be the 90-day fallback) they
    # get the same stage and scores as among everyone.
    bundle = result.bundle
    assert bundle.rules is not None and bundle.rules.default_gap_days is not None
    past = until(cdnow, CUTOFF)
    by_customer = past.groupby("customer_id")["timestamp"]
    days = by_customer.agg(lambda t: t.dt.normalize().nunique())
    # The latest one-time buyer (1997-03-25): 189 days since, 3.9 default gaps of 48.4 days
    # (lapsed_long), but 2.1 gaps of the 90-day fallback a lone customer would get.
    one_time = by_customer.max()[days == 1].idxmax()
    repeat = days.index[days >= 3][0]
    everyone = bundle.predict(past, CUTOFF)
    for customer in (one_time, repeat):
        alone = bundle.predict(past[past["customer_id"] == customer], CUTOFF)
        pd.testing.assert_frame_equal(alone, everyone.loc[[customer]], rtol=1e-12)
    assert everyone.loc[one_time, "lifecycle_stage"] == "lapsed_long"


class _PublicOnly:
    """A model seen only through its public predict methods and fitted level (no fast path)."""

    def __init__(self, model: object) -> None:
        self._model = model

    def __getattr__(self, name: str) -> object:
        if name in {"predict", "predict_proba", "predict_uncalibrated", "level_ratio_"}:
            return getattr(self._model, name)
        raise AttributeError(name)


def test_bundle_scores_are_its_models_public_predictions(
    result: EvaluationResult, cdnow: pd.DataFrame
) -> None:
    # predict works on columns, not frames: its scores must be what the models' public
    # DataFrame methods give when composed by hand, and what a bundle whose models offer
    # nothing but those methods gives.
    from churnmodel.models.spend import rescaled_clv

    bundle = result.bundle
    features = bundle.features(until(cdnow, CUTOFF), CUTOFF)
    scores = bundle.predict(features, include_baselines=True)
    prob = bundle.probabilistic.transform(features, bundle.horizon_days)
    p_churn = bundle.classifier.predict_proba(bundle.model_frame(features, bundle.horizon_days))
    X_h, factor = bundle.spend_inputs(features, prob)
    spend = pd.Series(bundle.spend_model.predict(X_h) * factor.to_numpy(), index=features.index)
    clv = rescaled_clv(
        spend,
        tail_spend=bundle.tail_spend(features, prob),
        horizon_days=bundle.horizon_days,
        clv_horizon_days=bundle.probabilistic.clv_horizon_days,
        annual_discount_rate=bundle.probabilistic.annual_discount_rate,
    )
    np.testing.assert_array_equal(scores["p_churn"], p_churn[:, 1])
    np.testing.assert_array_equal(scores["p_alive"], prob["prob_p_alive"])
    np.testing.assert_array_equal(scores["expected_purchases"], prob["prob_expected_purchases"])
    np.testing.assert_array_equal(scores["expected_spend"], spend)
    np.testing.assert_array_equal(scores["clv"], clv)
    np.testing.assert_array_equal(scores["value_at_risk"], clv * p_churn[:, 1])
    pd.testing.assert_series_equal(scores["lifecycle_stage"], features["lifecycle_stage"])
    public = replace(
        bundle,
        classifier=_PublicOnly(bundle.classifier),
        spend_model=_PublicOnly(bundle.spend_model),
    )
    pd.testing.assert_frame_equal(public.predict(features, include_baselines=True), scores)


def _largest_frame(obj: object, seen: set[int] | None = None) -> int:
    """Rows of the largest pandas object reachable from ``obj``."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, str | bytes | int | float | np.ndarray):
        return 0
    seen.add(id(obj))
    if isinstance(obj, pd.DataFrame | pd.Series):
        return len(obj)
    children: list[object] = []
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, list | tuple | set):
        children = list(obj)
    elif hasattr(obj, "__dict__"):
        children = list(vars(obj).values())
    return max([0, *(_largest_frame(c, seen) for c in children)])


# -------------------------------------------------------------------------- backtests
def test_backtests_at_earlier_cutoffs(backtests: BacktestResult) -> None:
    assert [r.cutoff for r in backtests.results] == [date(1997, 7, 31), date(1997, 8, 31)]
    auc = backtests.metric_table("lapse", "roc_auc")
    assert (auc["classifier"] > auc["baseline_recency"]).all()
    assert (auc["classifier"] > auc["baseline_bgnbd"]).all()
    gini = backtests.metric_table("spend", "normalized_gini")
    assert (gini["spend_model"] > gini["baseline_bgnbd_gg"]).all()
    spearman = backtests.metric_table("spend", "spearman")
    assert (spearman["spend_model"] > spearman["baseline_bgnbd_gg"]).all()
    for r in backtests.results:  # label windows shrink with the history before the cut-off
        assert (r.training["label_end"] <= pd.Timestamp(r.cutoff)).all()
    assert [r.label_horizon_days for r in backtests.results] == [61, 92]


# -------------------------------------------------------------------------- simulator
def test_classifier_learns_seasonal_buyers_that_bgnbd_calls_lapsed() -> None:
    # 20 % seasonal buyers; scored on 2023-09-30, between the summer season (06-10..07-31)
    # and the winter one (11-10..12-31) that the 90-day holdout reaches.
    log = simulate(20_000, 1, segment_shares={"regular": 0.7, "seasonal": 0.2, "promo": 0.1})
    result = evaluate_holdout(
        log.transactions,
        cutoff="2023-09-30",
        horizon_days=90,
        settings=replace(CDNOW_SETTINGS, step_days=None, fit_to_history=False),
        segments=log.customers["segment"],
        alternative_classifiers=(),
        alternative_spend_models=(),
        n_boot=0,
        importance_repeats=0,
    )
    auc = metric(result, "lapse", "classifier", "roc_auc")
    assert auc >= metric(result, "lapse", "baseline_bgnbd", "roc_auc") + 0.02
    assert date(2022, 9, 30) in {c.date() for c in result.training.index}  # a year before
    segments = result.segments
    assert segments is not None
    seasonal = segments.loc["seasonal"]
    assert seasonal["classifier_roc_auc"] > seasonal["baseline_bgnbd_roc_auc"] + 0.2
    assert seasonal["classifier_roc_auc"] > 0.7


# ---------------------------------------------------------------- the training job's hook
def _quick_evaluations(monkeypatch: pytest.MonkeyPatch, n_boot: int) -> None:
    """Evaluations without comparison models and with one short importance repeat."""
    monkeypatch.setattr(
        evaluate,
        "evaluate_holdout",
        functools.partial(
            evaluate.evaluate_holdout,
            importance_repeats=1,
            n_boot=n_boot,
            alternative_classifiers=(),
            alternative_spend_models=(),
        ),
    )


def test_train_and_evaluate_packs_the_outcome(
    cdnow_sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The packing is under test here, not the importances: one short repeat keeps it quick.
    _quick_evaluations(monkeypatch, n_boot=20)
    outcome = train_and_evaluate(
        cdnow_sample, cutoff=CUTOFF, horizon_days=H, settings=Settings(), cdnow=True
    )
    assert isinstance(outcome.bundle, ChurnBundle)
    assert "lapse_roc_auc" in outcome.scorecard.to_metrics_dict()
    assert set(outcome.figures) >= {"plots/roc.png", "plots/value_risk_matrix.png"}
    assert outcome.params["label_horizon_days"] == 122
    scores = outcome.bundle.predict(until(cdnow_sample, CUTOFF), as_of=CUTOFF)
    assert list(scores.columns) == list(SCORE_COLUMNS)


def test_large_logs_train_on_a_customer_sample_and_score_everyone(
    cdnow_sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # [model] training_customers = 1,000 of CDNOW's 2,357: the lapse and spend models learn
    # from 1,000 customers' snapshots, the backtest runs on them, and the holdout still scores
    # all 2,357; the run says so.
    _quick_evaluations(monkeypatch, n_boot=0)
    settings = Settings(model={"training_customers": 1_000, "backtest_cutoffs": 1})
    outcome = train_and_evaluate(
        cdnow_sample, cutoff=CUTOFF, horizon_days=H, settings=settings, cdnow=True
    )
    assert "1,000 of the 2,357 customers" in outcome.notes["training_sample"]
    assert "sampled customers only" in outcome.notes["backtest"]
    known = until(cdnow_sample, CUTOFF)["customer_id"].nunique()
    assert set(outcome.scorecard.table["n_customers"]) == {known}  # everyone is scored
    for bundle in (outcome.evaluated["holdout"], outcome.bundle):
        counts = bundle.training_summary["n_customers"]
        assert counts.max() <= 1_000 and counts.iloc[-1] > 900  # the sample, at every cut-off
    assert outcome.backtest is not None
    earlier = outcome.backtest[outcome.backtest["cutoff"] < pd.Timestamp(CUTOFF)]
    assert (earlier["n_customers"] <= 1_000).all()
