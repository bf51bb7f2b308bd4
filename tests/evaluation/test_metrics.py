from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from churnmodel.evaluation import (
    Prediction,
    brier_score,
    calibration_table,
    cumulative_gains,
    decile_mape,
    decile_table,
    log_loss,
    normalized_gini,
    pr_auc,
    revenue_totals,
    roc_auc,
    roc_auc_interval,
    scorecard,
    spearman,
    spearman_interval,
    top_decile_capture,
    top_decile_lift,
    value_risk_matrix,
)
from churnmodel.evaluation.metrics import _roc_auc_replicates, _spearman_replicates
from churnmodel.exceptions import ConfigError, DataValidationError


def _ids(n: int) -> pd.Index:
    return pd.Index([f"C{i:05d}" for i in range(n)], name="customer_id")


def _lapse(n: int, seed: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Label, a probability that carries signal, and a tie-heavy recency-like score."""
    rng = np.random.default_rng(seed)
    ids = _ids(n)
    y = pd.Series(rng.integers(0, 2, n), index=ids)
    prob = pd.Series(1 / (1 + np.exp(-(y * 1.5 - 0.75 + rng.normal(0, 1, n)))), index=ids)
    days = pd.Series((rng.integers(0, 40, n) + 15 * y).astype(float), index=ids)
    return y, prob, days


def _spend(n: int, seed: int) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = _ids(n)
    buys = rng.random(n) < 0.5
    actual = pd.Series(np.where(buys, rng.gamma(2.0, 30.0, n), 0.0), index=ids)
    predicted = pd.Series(actual.to_numpy() * rng.lognormal(0, 0.7, n) + 10 * rng.random(n), ids)
    return actual, predicted


def _kaggle_gini(actual: np.ndarray, pred: np.ndarray) -> float:
    """Kaggle's reference normalized Gini (ties broken by row order)."""

    def gini(a: np.ndarray, p: np.ndarray) -> float:
        order = np.lexsort((np.arange(len(a)), -p))
        cum = np.cumsum(a[order]) / a.sum()
        return float((cum.sum() - (len(a) + 1) / 2) / len(a))

    return gini(actual, pred) / gini(actual, actual)


# --- agreement with scikit-learn and SciPy ------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lapse_metrics_equal_sklearn(seed: int) -> None:
    y, prob, days = _lapse(800, seed)
    for score in (prob, days):
        assert roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
        assert pr_auc(y, score) == pytest.approx(skm.average_precision_score(y, score), abs=1e-12)
    assert brier_score(y, prob) == pytest.approx(skm.brier_score_loss(y, prob), abs=1e-12)
    assert log_loss(y, prob) == pytest.approx(skm.log_loss(y, prob), abs=1e-12)


def test_log_loss_clips_like_sklearn() -> None:
    y = np.array([1, 0, 1, 0])
    p = np.array([0.0, 1.0, 1.0, 0.0])
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)


def test_non_probability_scores_have_no_brier_or_log_loss() -> None:
    y, _, days = _lapse(200, 0)
    assert math.isnan(brier_score(y, days))
    assert math.isnan(log_loss(y, days))
    assert not math.isnan(roc_auc(y, days))


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_table_matches_sklearn(strategy: str) -> None:
    y, prob, _ = _lapse(1000, 3)
    table = calibration_table(y, prob, n_bins=8, strategy=strategy)  # type: ignore[arg-type]
    assert list(table["bin"]) == list(range(1, 9))
    assert table["count"].sum() == 1000
    prob_true, prob_pred = calibration_curve(y, prob, n_bins=8, strategy=strategy)
    full = table[table["count"] > 0]
    np.testing.assert_allclose(full["observed_rate"], prob_true, atol=1e-12)
    np.testing.assert_allclose(full["mean_predicted"], prob_pred, atol=1e-12)


def test_calibration_table_keeps_empty_bins_and_refuses_raw_scores() -> None:
    y = pd.Series([0, 1, 0, 1])
    table = calibration_table(y, pd.Series([0.05, 0.06, 0.91, 0.99]), n_bins=10)
    assert len(table) == 10
    assert list(table["count"]) == [2, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table["observed_rate"].isna().sum() == 8
    with pytest.raises(DataValidationError, match="probabilities"):
        calibration_table(y, pd.Series([1.0, 20.0, 3.0, 4.0]))


@pytest.mark.parametrize("seed", [0, 1])
def test_spearman_equals_scipy_with_ties(seed: int) -> None:
    actual, predicted = _spend(700, seed)
    assert spearman(actual, predicted) == pytest.approx(
        stats.spearmanr(actual, predicted).statistic, abs=1e-12
    )
    rounded = predicted.round(-1)  # many ties on both sides (actual has ~50 % zeros)
    assert spearman(actual, rounded) == pytest.approx(
        stats.spearmanr(actual, rounded).statistic, abs=1e-12
    )


def test_spearman_of_constant_prediction_is_nan() -> None:
    actual, _ = _spend(50, 0)
    assert math.isnan(spearman(actual, pd.Series(3.0, index=actual.index)))


# --- hand-computed cases ------------------------------------------------------------------------


def test_top_decile_lift_hand_case() -> None:
    y = np.array([1, 1] + [0] * 18)
    score = np.arange(20, 0, -1, dtype=float)  # the two lapsers score highest
    assert top_decile_lift(y, score) == pytest.approx(10.0)  # rate 1 in top 2, 0.1 overall
    assert top_decile_lift(y, -score) == pytest.approx(0.0)


def test_top_decile_lift_spreads_ties_and_ignores_row_order() -> None:
    # top 10 % of 20 = 2 customers, all inside a tie group of 4 holding 2 lapsers:
    # expected lapsers in the top 2 = 2 * 2 / 4 = 1, rate 0.5 over overall 0.1 -> lift 5
    y = np.array([1, 0, 1, 0] + [0] * 16)
    score = np.array([3.0, 3.0, 3.0, 3.0] + [1.0] * 16)
    assert top_decile_lift(y, score) == pytest.approx(5.0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(20)
        assert top_decile_lift(y[order], score[order]) == pytest.approx(5.0)


def test_top_decile_capture_hand_cases() -> None:
    actual = np.array([100.0] + [0.0] * 9)
    assert top_decile_capture(actual, actual) == pytest.approx(1.0)
    assert top_decile_capture(actual, np.full(10, 7.0)) == pytest.approx(0.1)
    assert top_decile_capture(actual, np.arange(10.0)) == pytest.approx(0.0)
    # fractional cut: top 10 % of 15 customers = 1.5 customers
    actual15 = np.array([30.0, 20.0] + [10.0] * 13)
    assert top_decile_capture(actual15, actual15) == pytest.approx((30 + 10) / 180)


def test_normalized_gini_perfect_reversed_random_constant() -> None:
    actual, _ = _spend(5000, 4)
    a = actual.to_numpy()
    assert normalized_gini(a, a) == pytest.approx(1.0)
    assert normalized_gini(a, a.max() - a) == pytest.approx(-1.0)
    assert normalized_gini(a, np.full(a.size, 2.0)) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(1)
    assert abs(normalized_gini(a, rng.random(a.size))) < 0.05


def test_normalized_gini_equals_kaggle_reference_without_ties() -> None:
    rng = np.random.default_rng(5)
    a = rng.gamma(1.0, 10.0, 500)
    p = a * rng.lognormal(0, 1, 500)
    assert normalized_gini(a, p) == pytest.approx(_kaggle_gini(a, p), abs=1e-12)


def test_normalized_gini_hand_case() -> None:
    # actual [0, 0, 10], predicted puts the spender second:
    # shares 0, 1, 1 -> Gini = (2 - 2) / 3 = 0; perfect: 1, 1, 1 -> (3 - 2) / 3 = 1/3
    assert normalized_gini([0.0, 0.0, 10.0], [3.0, 1.0, 2.0]) == pytest.approx(0.0)
    # spender first: perfect -> 1; ties between the other two do not matter
    assert normalized_gini([0.0, 0.0, 10.0], [1.0, 1.0, 2.0]) == pytest.approx(1.0)
    assert math.isnan(normalized_gini([5.0, 5.0, 5.0], [1.0, 2.0, 3.0]))


def test_decile_mape_hand_cases() -> None:
    actual = np.arange(10.0, 110.0, 10.0)  # one customer per decile
    assert decile_mape(actual, actual * 1.1) == pytest.approx(0.1)
    off = actual.copy()
    off[-1] *= 1.5  # the top decile is 50 % over, the rest exact
    assert decile_mape(actual, off) == pytest.approx(0.05)
    table = decile_table(actual, actual * 1.1)
    assert list(table["decile"]) == list(range(1, 11))
    np.testing.assert_allclose(table["actual"], actual)  # decile 10 = highest prediction
    np.testing.assert_allclose(table["n_customers"], np.ones(10))


def test_decile_mape_skips_deciles_without_revenue() -> None:
    actual = np.array([0.0] * 5 + [10.0] * 5)
    predicted = np.array([1.0] * 5 + [12.0] * 5)
    table = decile_table(actual, predicted)
    assert table["ape"].isna().sum() == 5
    assert decile_mape(actual, predicted) == pytest.approx(0.2)


def test_revenue_totals_signed_relative_error() -> None:
    totals = revenue_totals([50.0, 50.0], [40.0, 43.0])
    assert totals.predicted == pytest.approx(83.0)
    assert totals.actual == pytest.approx(100.0)
    assert totals.relative_error == pytest.approx(-0.17)


def test_cumulative_gains_ends_and_top_decile() -> None:
    actual, predicted = _spend(1000, 2)
    gains = cumulative_gains(actual, predicted)
    assert gains["fraction_targeted"].iloc[0] == 0 and gains["fraction_captured"].iloc[0] == 0
    assert gains["fraction_targeted"].iloc[-1] == pytest.approx(1.0)
    assert gains["fraction_captured"].iloc[-1] == pytest.approx(1.0)
    assert np.all(np.diff(gains["fraction_captured"]) >= 0)
    at_tenth = np.interp(0.1, gains["fraction_targeted"], gains["fraction_captured"])
    assert at_tenth == pytest.approx(top_decile_capture(actual, predicted))


def test_metrics_do_not_depend_on_row_order() -> None:
    y, _, days = _lapse(300, 7)
    actual, predicted = _spend(300, 7)
    predicted = predicted.round(-1)
    shuffled = np.random.default_rng(0).permutation(300)
    for fn in (roc_auc, pr_auc, top_decile_lift):
        assert fn(y, days) == pytest.approx(fn(y, days.iloc[shuffled]), abs=1e-12)
    for fn in (spearman, normalized_gini, top_decile_capture, decile_mape):
        assert fn(actual, predicted) == pytest.approx(
            fn(actual.iloc[shuffled], predicted), abs=1e-12
        )


# --- bootstrap ----------------------------------------------------------------------------------


def test_bootstrap_replicates_equal_sklearn_and_scipy_on_the_resamples() -> None:
    y, _, days = _lapse(150, 8)
    actual, predicted = _spend(150, 8)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 150, size=(4, 150))
    weights = np.stack([np.bincount(row, minlength=150) for row in idx]).astype(float)
    aucs = _roc_auc_replicates(y.to_numpy(float), days.to_numpy(), weights)
    rhos = _spearman_replicates(actual.to_numpy(), predicted.round(-1).to_numpy(), weights)
    for k, row in enumerate(idx):
        assert aucs[k] == pytest.approx(skm.roc_auc_score(y.iloc[row], days.iloc[row]), abs=1e-12)
        expected = stats.spearmanr(actual.iloc[row], predicted.round(-1).iloc[row]).statistic
        assert rhos[k] == pytest.approx(expected, abs=1e-12)


def test_bootstrap_intervals_contain_estimate_narrow_with_n_and_are_seeded() -> None:
    widths = {}
    for n in (200, 5000):
        y, prob, _ = _lapse(n, 9)
        actual, predicted = _spend(n, 9)
        low, high = roc_auc_interval(y, prob, n_boot=200, seed=1)
        assert low < roc_auc(y, prob) < high
        s_low, s_high = spearman_interval(actual, predicted, n_boot=200, seed=1)
        assert s_low < spearman(actual, predicted) < s_high
        widths[n] = (high - low, s_high - s_low)
    assert widths[5000][0] < widths[200][0] / 2
    assert widths[5000][1] < widths[200][1] / 2
    y, prob, _ = _lapse(300, 10)
    assert roc_auc_interval(y, prob, seed=3) == roc_auc_interval(y, prob, seed=3)
    assert roc_auc_interval(y, prob, seed=3) != roc_auc_interval(y, prob, seed=4)


def test_bootstrap_rejects_bad_settings() -> None:
    y, prob, _ = _lapse(50, 0)
    with pytest.raises(ConfigError, match="n_boot"):
        roc_auc_interval(y, prob, n_boot=0)
    with pytest.raises(ConfigError, match="level"):
        roc_auc_interval(y, prob, level=1.5)


# --- input validation ---------------------------------------------------------------------------


def test_same_customers_in_another_order_are_aligned() -> None:
    y, prob, _ = _lapse(100, 11)
    assert roc_auc(y, prob.iloc[::-1]) == pytest.approx(roc_auc(y, prob))


def test_misaligned_input_raises_with_count_and_ids() -> None:
    y, prob, _ = _lapse(100, 12)
    shifted = prob.iloc[3:]
    with pytest.raises(DataValidationError) as info:
        roc_auc(y, shifted)
    message = str(info.value)
    assert "3 customer(s)" in message and "'C00000'" in message
    assert set(info.value.rows["customer_id"]) == {"C00000", "C00001", "C00002"}
    extra = pd.concat([prob, pd.Series([0.5], index=pd.Index(["ZZZ"], name="customer_id"))])
    with pytest.raises(DataValidationError, match="'ZZZ'"):
        roc_auc(y, extra)
    with pytest.raises(DataValidationError, match="values but"):
        roc_auc(y.to_numpy(), prob.to_numpy()[:-1])


def test_nan_duplicates_bad_labels_and_negative_spend_raise() -> None:
    y, prob, _ = _lapse(20, 13)
    holed = prob.copy()
    holed.iloc[[2, 5]] = np.nan
    with pytest.raises(DataValidationError, match="2 missing") as info:
        brier_score(y, holed)
    assert list(info.value.rows["customer_id"]) == ["C00002", "C00005"]
    dup = pd.concat([prob, prob.iloc[:1]])
    with pytest.raises(DataValidationError, match="more than once"):
        roc_auc(y, dup)
    with pytest.raises(DataValidationError, match="0/1"):
        roc_auc(y * 2, prob)
    actual, predicted = _spend(20, 13)
    with pytest.raises(DataValidationError, match="negative"):
        spearman(actual - 100, predicted)


# --- value x risk matrix ------------------------------------------------------------------------


def test_value_risk_matrix_hand_case() -> None:
    ids = _ids(4)
    clv = pd.Series([10.0, 20.0, 30.0, 40.0], index=ids)
    p = pd.Series([0.1, 0.3, 0.6, 0.9], index=ids)
    cells = value_risk_matrix(clv, p, n_deciles=2)
    assert len(cells) == 8
    assert list(cells["risk_band"].cat.categories) == ["low", "medium", "high", "very high"]
    filled = cells[cells["n_customers"] > 0].set_index(["clv_decile", "risk_band"], drop=True)
    assert filled["n_customers"].to_dict() == {
        (1, "low"): 1,
        (1, "medium"): 1,
        (2, "high"): 1,
        (2, "very high"): 1,
    }
    assert filled.loc[(2, "very high"), "value_at_risk"] == pytest.approx(36.0)
    assert cells["total_clv"].sum() == pytest.approx(100.0)


def test_value_risk_matrix_ties_share_a_decile_and_edges_are_left_closed() -> None:
    ids = _ids(10)
    clv = pd.Series([0.0] * 4 + list(range(1, 7)), index=ids, dtype=float)
    p = pd.Series([0.25, 0.5, 0.75, 1.0, 0, 0, 0, 0, 0, 0], index=ids, dtype=float)
    cells = value_risk_matrix(clv, p)
    zero = cells[(cells["n_customers"] > 0) & (cells["total_clv"] == 0)]
    assert set(zero["clv_decile"]) == {
        3
    }  # the four zero-CLV customers (avg rank 2.5) stay together
    assert list(zero["risk_band"]) == ["medium", "high", "very high"]
    assert list(zero["n_customers"]) == [1, 1, 2]
    assert cells["n_customers"].sum() == 10
    with pytest.raises(DataValidationError, match=r"\[0, 1\]"):
        value_risk_matrix(clv, p + 1)
    with pytest.raises(ConfigError, match="risk_labels"):
        value_risk_matrix(clv, p, risk_labels=("a", "b"))


# --- scorecard ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def holdout() -> dict[str, pd.Series]:
    y, prob, days = _lapse(600, 20)
    actual, predicted = _spend(600, 20)
    rng = np.random.default_rng(21)
    return {
        "y": y,
        "prob": prob,
        "days": days,
        "bgnbd": pd.Series(rng.random(600), index=y.index),
        "actual": actual,
        "predicted": predicted,
        "flat": pd.Series(actual.mean(), index=actual.index),
    }


def test_scorecard_table_lists_models_beside_baselines(holdout: dict[str, pd.Series]) -> None:
    card = scorecard(
        lapse_label=holdout["y"],
        lapse_scores={
            "classifier": holdout["prob"],
            "baseline_recency": holdout["days"],
            "baseline_bgnbd": holdout["bgnbd"],
        },
        spend_actual=holdout["actual"],
        spend_predictions={"spend_model": holdout["predicted"], "baseline_flat": holdout["flat"]},
        n_boot=50,
    )
    table = card.table
    assert list(zip(table["task"], table["name"], table["kind"], strict=True)) == [
        ("lapse", "classifier", "model"),
        ("lapse", "baseline_recency", "baseline"),
        ("lapse", "baseline_bgnbd", "baseline"),
        ("spend", "spend_model", "model"),
        ("spend", "baseline_flat", "baseline"),
    ]
    assert list(table["chosen"]) == [True, False, False, True, False]
    lapse = table.set_index("name")
    assert lapse.loc["classifier", "roc_auc"] == pytest.approx(
        roc_auc(holdout["y"], holdout["prob"])
    )
    assert math.isnan(lapse.loc["baseline_recency", "brier"])  # days are not a probability
    assert not math.isnan(lapse.loc["baseline_bgnbd", "brier"])
    assert lapse.loc["classifier", "roc_auc_ci_low"] < lapse.loc["classifier", "roc_auc"]
    assert lapse.loc["spend_model", "normalized_gini"] == pytest.approx(
        normalized_gini(holdout["actual"], holdout["predicted"])
    )
    assert math.isnan(lapse.loc["spend_model", "roc_auc"])
    assert table["n_customers"].tolist() == [600] * 5

    names = card.to_metrics_dict()
    for key in (
        "lapse_roc_auc",
        "lapse_brier",
        "lapse_roc_auc_ci_low",
        "baseline_recency_roc_auc",
        "baseline_bgnbd_roc_auc",
        "baseline_bgnbd_brier",
        "spend_spearman",
        "spend_normalized_gini",
        "spend_spearman_ci_high",
        "baseline_flat_top_decile_capture",
        "lapse_n_customers",
        "lapse_base_rate",
        "spend_actual_total",
    ):
        assert key in names, key
    assert "baseline_recency_brier" not in names
    assert "baseline_flat_spearman" not in names  # constant prediction: undefined, so absent
    assert names["lapse_roc_auc"] == lapse.loc["classifier", "roc_auc"]
    assert all(isinstance(v, float) for v in names.values())
    with_nan = card.to_metrics_dict(include_nan=True)
    assert math.isnan(with_nan["baseline_recency_brier"])


def test_scorecard_naming_with_explicit_kinds(holdout: dict[str, pd.Series]) -> None:
    card = scorecard(
        lapse_label=holdout["y"],
        lapse_scores={
            "gbm": holdout["prob"],
            "logit": holdout["bgnbd"],
            "recency": Prediction(holdout["days"], kind="baseline"),
            "rank": Prediction(
                holdout["days"].rank(pct=True), kind="baseline", is_probability=False
            ),
        },
        lapse_model="logit",
        n_boot=0,
    )
    assert list(card.table["name"]) == ["logit", "gbm", "recency", "rank"]
    names = card.to_metrics_dict()
    assert "lapse_roc_auc" in names and "gbm_roc_auc" in names
    assert "baseline_recency_roc_auc" in names and "baseline_rank_roc_auc" in names
    assert "baseline_rank_brier" not in names
    assert "lapse_roc_auc_ci_low" not in names  # n_boot=0: no interval


def test_scorecard_refuses_ambiguous_or_baseline_free_input(
    holdout: dict[str, pd.Series],
) -> None:
    y, prob = holdout["y"], holdout["prob"]
    with pytest.raises(ConfigError, match="lapse_model"):
        scorecard(lapse_label=y, lapse_scores={"a": prob, "b": prob, "baseline_x": prob})
    with pytest.raises(ConfigError, match="no baseline"):
        scorecard(lapse_label=y, lapse_scores={"a": prob})
    assert (
        len(
            scorecard(
                lapse_label=y, lapse_scores={"a": prob}, require_baseline=False, n_boot=0
            ).table
        )
        == 1
    )
    with pytest.raises(ConfigError, match="neither"):
        scorecard(lapse_label=y)
    with pytest.raises(ConfigError, match="nothing to score"):
        scorecard()
    with pytest.raises(ConfigError, match="MLflow"):
        scorecard(lapse_label=y, lapse_scores={"my model!": prob, "baseline_x": prob})


def test_scorecard_validates_data(holdout: dict[str, pd.Series]) -> None:
    y, prob, days = holdout["y"], holdout["prob"], holdout["days"]
    with pytest.raises(DataValidationError, match="baseline_recency") as info:
        scorecard(lapse_label=y, lapse_scores={"m": prob, "baseline_recency": days.iloc[:-2]})
    assert "2 customer(s)" in str(info.value)
    with pytest.raises(DataValidationError, match="single class"):
        scorecard(
            lapse_label=pd.Series(1, index=y.index), lapse_scores={"m": prob, "baseline_r": days}
        )
    with pytest.raises(DataValidationError, match="marked as a probability"):
        scorecard(
            lapse_label=y,
            lapse_scores={
                "m": prob,
                "baseline_r": Prediction(days, is_probability=True, kind="baseline"),
            },
        )
    with pytest.raises(DataValidationError, match="negative"):
        scorecard(
            spend_actual=holdout["actual"],
            spend_predictions={"m": holdout["predicted"] - 1000, "baseline_flat": holdout["flat"]},
        )


def test_bootstrap_intervals_sort_once_whatever_the_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocks of resamples share one sort per score; the interval does not depend on blocks."""
    from churnmodel.evaluation import metrics

    y, prob, _ = _lapse(3000, 4)
    actual, predicted = _spend(3000, 4)
    whole = (
        roc_auc_interval(y, prob, n_boot=60, seed=2),
        spearman_interval(actual, predicted, n_boot=60, seed=2),
    )
    sorts = []
    original = metrics._Ties.__init__

    def counting(self: metrics._Ties, values: np.ndarray) -> None:
        sorts.append(values.size)
        original(self, values)

    monkeypatch.setattr(metrics._Ties, "__init__", counting)
    monkeypatch.setattr(metrics, "_BLOCK_CELLS", 3000 * 2)  # 2 resamples a block, 30 blocks
    blocked = (
        roc_auc_interval(y, prob, n_boot=60, seed=2),
        spearman_interval(actual, predicted, n_boot=60, seed=2),
    )
    assert blocked == whole
    assert sorts == [3000, 3000, 3000]  # the AUC's score; Spearman's actual and predicted


@pytest.mark.parametrize("which", ["roc_auc", "spearman"])
def test_large_holdouts_resample_a_subset_and_rescale_to_the_full_bootstrap(which: str) -> None:
    """Above max_customers the m-out-of-n interval matches the full bootstrap's spread."""
    n = 40_000
    if which == "roc_auc":
        y, prob, _ = _lapse(n, 7)
        point, interval = roc_auc(y, prob), lambda **kw: roc_auc_interval(y, prob, **kw)
    else:
        actual, predicted = _spend(n, 7)
        point = spearman(actual, predicted)
        interval = lambda **kw: spearman_interval(actual, predicted, **kw)  # noqa: E731
    full_low, full_high = interval(n_boot=400, max_customers=None)
    low, high = interval(n_boot=400, max_customers=5_000)
    assert low < point < high and full_low < point < full_high
    # Same spread (Monte Carlo error of 400 resamples' 2.5 % and 97.5 % points: about 10 %),
    # and centred on the value on all customers, not on the subset's.
    assert (high - low) / (full_high - full_low) == pytest.approx(1.0, abs=0.2)
    assert (low + high) / 2 == pytest.approx((full_low + full_high) / 2, abs=0.2 * (high - low))
    # Below the threshold nothing changes: the default resamples all 40,000 customers.
    assert interval(n_boot=50) == interval(n_boot=50, max_customers=None)
