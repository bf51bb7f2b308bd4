"""Property-based tests of the purchase models, Gamma-Gamma and CLV (issue #8).

Random valid parameters (including BG/NBD ``a + b < 1``, Pareto/NBD ``s = 1`` exactly or
``alpha = beta``, and Gamma-Gamma ``q`` just above 1) and random valid RFM summaries (one-time
buyers, heavy buyers with hundreds to thousands of purchases, ``T = 0``, ``recency = 0`` or
``T``, repeat buyers with $0 mean spend): every prediction is finite and non-negative,
probabilities are in [0, 1], CLV grows with the horizon and shrinks with discounting, and no
result depends on the order of the summary's rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from churnmodel.models import PurchaseModel, customer_lifetime_value
from tests.models.helpers import fixed_model

PURCHASE_PARAM_NAMES = {
    "BetaGeoModel": ("r", "alpha", "a", "b"),
    "ModifiedBetaGeoModel": ("r", "alpha", "a", "b"),
    "ParetoNBDModel": ("r", "alpha", "s", "beta"),
}
# Scale parameters (alpha, Pareto's beta) are in days, like the summaries below.
SCALES = {"alpha": (0.5, 400.0), "beta": (0.5, 2000.0)}

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(math.log(low), math.log(high)).map(math.exp)


@st.composite
def purchase_models(draw: st.DrawFn) -> PurchaseModel:
    name = draw(st.sampled_from(sorted(PURCHASE_PARAM_NAMES)))
    params = {
        key: draw(log_uniform(*SCALES.get(key, (0.03, 20.0)))) for key in PURCHASE_PARAM_NAMES[name]
    }
    if name == "ParetoNBDModel":
        # s = 1 makes scipy's hyp2f1 infinite near z = 1; alpha = beta has H = 1 in closed form.
        special = draw(st.sampled_from(["none", "none", "s = 1", "alpha = beta"]))
        if special == "s = 1":
            params["s"] = 1.0
        elif special == "alpha = beta":
            params["beta"] = params["alpha"]
    # A small covariance of the log-parameters, so that CLV intervals can be drawn.
    covariance = (np.eye(4) * draw(st.sampled_from([1e-4, 1e-2]))).tolist()
    model: PurchaseModel = fixed_model(name, params, time_unit="D", covariance=covariance)
    return model


@st.composite
def spend_models(draw: st.DrawFn) -> Any:
    q = draw(st.one_of(st.just(1.0001), log_uniform(1.001, 30.0)))
    params = {"p": draw(log_uniform(0.1, 30.0)), "q": q, "v": draw(log_uniform(0.01, 500.0))}
    covariance = (np.eye(3) * draw(st.sampled_from([1e-4, 1e-2]))).tolist()
    return fixed_model("GammaGammaModel", params, covariance=covariance)


@st.composite
def customers(draw: st.DrawFn) -> tuple[int, float, float, float]:
    frequency = draw(
        st.one_of(st.integers(0, 12), st.sampled_from([0, 0, 150, 5000]), st.integers(100, 5000))
    )
    T = draw(st.one_of(st.sampled_from([0.0, 1.0, 365.0]), st.floats(0.0, 3000.0)))
    if frequency == 0:
        return 0, 0.0, T, 0.0
    recency = draw(st.one_of(st.sampled_from([0.0, T]), st.floats(0.0, T)))
    money = draw(st.one_of(st.just(0.0), log_uniform(0.01, 1e5)))
    return frequency, recency, T, money


summaries = st.lists(customers(), min_size=1, max_size=25).map(lambda rows: _frame(rows))


def _frame(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=["frequency", "recency", "T", "monetary_value"],
        index=pd.Index([f"c{i}" for i in range(len(rows))], name="customer_id"),
    )
    frame.attrs["time_unit"] = "D"
    return frame


def _noted(model: PurchaseModel, summary: pd.DataFrame) -> pd.DataFrame:
    """Note the parameters for hypothesis' report (the estimators' repr does not show them)."""
    note(f"{type(model).__name__} params: {model.params_}")
    return summary


def _check_range(name: str, values: np.ndarray, upper: float = np.inf) -> None:
    assert np.all(np.isfinite(values)), (name, values)
    assert np.all((values >= 0) & (values <= upper)), (name, values)


@SETTINGS
@given(
    model=purchase_models(),
    spend=spend_models(),
    summary=summaries,
    horizon=log_uniform(0.01, 5000.0),
)
def test_predictions_are_finite_non_negative_and_in_range(
    model: PurchaseModel, spend: Any, summary: pd.DataFrame, horizon: float
) -> None:
    summary = _noted(model, summary)
    _check_range("expected_purchases", model.expected_purchases(summary, horizon).to_numpy())
    _check_range("p_alive", model.probability_alive(summary).to_numpy(), 1.0)
    no_purchase = model.probability_no_purchase(summary, horizon).to_numpy()
    _check_range("p_no_purchase", no_purchase, 1.0)
    spend_values = spend.expected_spend(summary).to_numpy()
    _check_range("expected_spend", spend_values)
    assert np.all(spend_values > 0)


@SETTINGS
@given(
    model=purchase_models(),
    spend=spend_models(),
    summary=summaries,
    periods=st.tuples(st.integers(1, 30), st.integers(0, 30)),
    period_days=st.sampled_from([7.0, 30.0, 91.0]),
    rate=st.floats(0.001, 0.5),
)
def test_clv_is_finite_grows_with_the_horizon_and_shrinks_with_discounting(
    model: PurchaseModel,
    spend: Any,
    summary: pd.DataFrame,
    periods: tuple[int, int],
    period_days: float,
    rate: float,
) -> None:
    summary = _noted(model, summary)
    note(f"spend params: {spend.params_}")
    short, extra = periods
    horizon = short * period_days

    def clv(horizon_days: float, annual_rate: float, **kwargs: Any) -> pd.DataFrame:
        return customer_lifetime_value(
            model,
            spend,
            summary,
            horizon_days=horizon_days,
            period_days=period_days,
            annual_discount_rate=annual_rate,
            **kwargs,
        )

    base = clv(horizon, rate, interval=0.9, n_draws=20, seed=1)
    for column in base.columns:
        _check_range(column, base[column].to_numpy())
    assert np.all(base["clv_low"] <= base["clv_high"])
    # More periods add non-negative discounted cash flows.
    longer = clv(horizon + extra * period_days, rate, interval=None)
    assert np.all(longer["clv"] >= base["clv"] * (1 - 1e-12))
    assert np.all(longer["expected_purchases"] >= base["expected_purchases"] * (1 - 1e-12))
    # No discounting: every discount factor 1 instead of <= 1, and clv = purchases * spend.
    flat = clv(horizon, 0.0, interval=None)
    assert np.all(flat["clv"] >= base["clv"] * (1 - 1e-12))
    np.testing.assert_allclose(
        flat["clv"], flat["expected_purchases"] * flat["expected_spend"], rtol=1e-9
    )


@SETTINGS
@given(
    model=purchase_models(),
    spend=spend_models(),
    summary=summaries,
    horizon=log_uniform(1.0, 3000.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_results_do_not_depend_on_row_order(
    model: PurchaseModel, spend: Any, summary: pd.DataFrame, horizon: float, seed: int
) -> None:
    summary = _noted(model, summary)
    order = np.random.default_rng(seed).permutation(len(summary))
    shuffled = summary.iloc[order]
    shuffled.attrs["time_unit"] = "D"

    def everything(frame: pd.DataFrame) -> pd.DataFrame:
        out = customer_lifetime_value(model, spend, frame, horizon_days=horizon, n_draws=20, seed=3)
        out["p_alive"] = model.probability_alive(frame)
        out["p_no_purchase"] = model.probability_no_purchase(frame, horizon)
        return out

    expected = everything(summary)
    got = everything(shuffled)
    assert list(got.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(got.loc[expected.index], expected, rtol=1e-12)
