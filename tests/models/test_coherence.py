"""The scores agree with each other and with the passage of time (docs/lapse-and-spend.md).

A small bundle is fitted once on the CDNOW 1/10 sample; random purchase histories are scored
at random dates up to decades after their last purchase:

* staleness: as the scoring date moves later with no purchase, ``p_churn`` never falls and
  ``expected_spend`` and ``clv`` never rise, beyond the training range (more than 730 days
  since the last purchase: the season features are 0 there, and no training snapshot is that
  stale) and wherever only the features with a known direction moved;
* coherence: ``expected_spend`` and ``clv`` are bounded by multiples of the purchase model's
  expected purchases, so they go to 0 with them;
* ranking: customers with different (frequency, recency, T) get different ``p_churn``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from churnmodel.datasets import load_cdnow
from churnmodel.features import PurchaseRule
from churnmodel.models import ChurnBundle, ProbabilisticFeatures
from churnmodel.models.estimators import STALENESS_DIRECTIONS, staleness_direction
from churnmodel.models.training import FEATURE_COLUMNS
from churnmodel.workflows.evaluate import CDNOW_SETTINGS, fit_bundle

CUTOFF = date(1997, 9, 30)
H = 273
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Beyond every training snapshot (the log starts 1997-01-01) and two years of season windows.
BEYOND_TRAINING_DAYS = 730
# Relative slack for rounding in comparisons of the same formula at two dates.
SLACK = 1e-9


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    tx = load_cdnow(sample=True)
    assert isinstance(tx, pd.DataFrame)
    return tx


@pytest.fixture(scope="module")
def bundle(sample: pd.DataFrame) -> ChurnBundle:
    """The churnmodel train settings on the CDNOW sample, with fewer boosting iterations."""
    fast = {"learning_rate": 0.1, "max_iter": 40, "min_samples_leaf": 40}
    return fit_bundle(
        sample,
        cutoff=CUTOFF,
        horizon_days=H,
        time_unit="D",
        purchase=PurchaseRule(zero_net_is_purchase=True),
        settings=replace(CDNOW_SETTINGS, classifier_params=fast, spend_params=fast),
    )


@st.composite
def histories(draw: st.DrawFn) -> pd.DataFrame:
    """One customer's transactions: 1-8 purchase days from 1995 on, some with a return."""
    first = date(1995, 1, 1) + timedelta(days=draw(st.integers(0, 1500)))
    gaps = draw(st.lists(st.integers(1, 400), min_size=0, max_size=7))
    days = [first]
    for gap in gaps:
        days.append(days[-1] + timedelta(days=gap))
    rows = []
    for day in days:
        amount = draw(st.floats(0.5, 300.0))
        rows.append((day, round(amount, 2)))
        if draw(st.integers(0, 5)) == 0:  # a partial return the same day
            rows.append((day, -round(amount * draw(st.floats(0.1, 0.9)), 2)))
    return pd.DataFrame(
        {
            "customer_id": "c1",
            "timestamp": pd.to_datetime([r[0] for r in rows]),
            "amount": [r[1] for r in rows],
        }
    )


stalenesses = st.lists(
    st.one_of(st.integers(0, 120), st.integers(0, 800), st.integers(731, 20_000)),
    min_size=3,
    max_size=7,
    unique=True,
).map(lambda values: sorted({*values, 1_000, 15_000}))


def _scores_over_time(
    bundle: ChurnBundle, tx: pd.DataFrame, staleness: list[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    last = pd.Timestamp(tx["timestamp"].max()).date()
    feats, scores = [], []
    for days in staleness:
        features = bundle.features(tx, last + timedelta(days=days))
        feats.append(features)
        scores.append(bundle.predict(features))
    index = pd.Index(staleness, name="staleness")
    return (
        pd.concat(feats).set_axis(index),
        pd.concat(scores).set_axis(index),
    )


def _moved_both_ways(before: pd.Series, after: pd.Series) -> list[str]:
    """Features of the models that changed although they have no direction in staleness."""
    out = []
    for column in FEATURE_COLUMNS:
        if column not in before.index or staleness_direction(column) != 0:
            continue
        a, b = before[column], after[column]
        if not (a == b or (pd.isna(a) and pd.isna(b))):
            out.append(column)
    return out


@SETTINGS
@given(tx=histories(), staleness=stalenesses)
def test_scores_move_one_way_as_the_customer_grows_stale(
    bundle: ChurnBundle, tx: pd.DataFrame, staleness: list[int]
) -> None:
    features, scores = _scores_over_time(bundle, tx, staleness)
    note(scores[["p_churn", "expected_spend", "clv", "lifecycle_stage"]].to_string())
    for (s0, row0), (s1, row1) in zip(scores.iterrows(), scores.iloc[1:].iterrows(), strict=False):
        moved = _moved_both_ways(features.loc[s0], features.loc[s1])
        if s0 <= BEYOND_TRAINING_DAYS and moved:
            continue  # a season feature, spend_trend or the stage changed: either way is fair
        where = f"staleness {s0} -> {s1} days (undirected features moved: {moved})"
        assert row1["p_churn"] >= row0["p_churn"] * (1 - SLACK), where
        assert row1["expected_spend"] <= row0["expected_spend"] * (1 + SLACK) + 1e-12, where
        assert row1["clv"] <= row0["clv"] * (1 + SLACK) + 1e-12, where
        assert row1["expected_purchases"] <= row0["expected_purchases"] * (1 + SLACK), where


@SETTINGS
@given(tx=histories(), staleness=stalenesses)
def test_no_value_where_the_purchase_model_expects_no_purchase(
    bundle: ChurnBundle, tx: pd.DataFrame, staleness: list[int]
) -> None:
    _, scores = _scores_over_time(bundle, tx, staleness)
    prob = bundle.probabilistic
    per_purchase = float(
        bundle.probabilistic.transform(bundle.features(tx, CUTOFF + timedelta(days=99_999)), H)[
            "prob_spend_per_purchase"
        ].iloc[0]
    )
    cap = bundle.spend_model.cap_ratio * H / bundle.label_horizon_days
    tail = bundle.spend_level * (prob.clv_horizon_days / H - 1.0)
    purchases = scores["expected_purchases"]
    note(scores[["expected_purchases", "expected_spend", "clv"]].to_string())
    # expected_spend <= cap_ratio * E[X(h)] * spend per purchase * E[X(H)] / E[X(h)] read at
    # the reference date <= cap_ratio * H / h * E[X(H)] * spend per purchase; the CLV adds at
    # most the purchase model's spend in (H, L], at most (L / H - 1) E[X(H)] (concave curve).
    bound_spend = cap * per_purchase * purchases
    assert (scores["expected_spend"] <= bound_spend * (1 + SLACK) + 1e-12).all()
    assert (
        scores["clv"] <= scores["expected_spend"] + tail * per_purchase * purchases + 1e-9
    ).all()
    # Decades later the purchase model expects (almost) nothing, and so do the scores.
    last = scores.iloc[-1]
    assert last["expected_purchases"] < 0.05
    assert last["clv"] <= (cap + tail) * per_purchase * last["expected_purchases"] + 1e-9


def test_customers_with_different_histories_get_different_p_churn(
    bundle: ChurnBundle, sample: pd.DataFrame
) -> None:
    for as_of in (CUTOFF, date(1998, 6, 30)):
        features = bundle.features(sample, as_of)
        p = bundle.predict(features)["p_churn"]
        triples = features[["frequency", "recency", "T"]]
        first = ~triples.duplicated().to_numpy()
        distinct = p[first]
        unique_share = float((distinct.map(distinct.value_counts()) == 1).mean())
        assert unique_share >= 0.99, (as_of, unique_share)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd", "pareto"])
def test_purchase_model_columns_move_as_the_constraints_assume(
    name: str, sample: pd.DataFrame
) -> None:
    # The monotone constraints rest on how each probabilistic column moves with T at a fixed
    # history: check it for every purchase model, far beyond the data.
    from churnmodel.features import customer_features

    features = customer_features(
        sample, CUTOFF, time_unit="D", purchase=PurchaseRule(zero_net_is_purchase=True)
    )
    model = ProbabilisticFeatures(purchase_model=name).fit(features)
    rows = [(x, tx) for x in (0, 1, 3, 12) for tx in ((0.0,) if x == 0 else (5.0, 150.0))]
    stale = np.array([0.0, 10, 50, 200, 700, 2_000, 8_000, 30_000])
    for x, tx in rows:
        summary = pd.DataFrame(
            {
                "frequency": float(x),
                "recency": tx,
                "T": tx + stale,
                "monetary_value": 30.0 if x else 0.0,
            }
        )
        summary.attrs["time_unit"] = "D"
        for horizon in (122.0, 273.0):
            prob = model.transform(summary, horizon)
            for column, direction in STALENESS_DIRECTIONS.items():
                if column not in prob.columns:
                    continue
                steps = np.diff(prob[column].to_numpy()) * direction
                assert (steps >= -1e-12).all(), (name, x, tx, horizon, column, prob[column])
