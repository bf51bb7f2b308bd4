"""Robust fitting: compression, fallbacks, clear failures, and finite predictions everywhere."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ModelFitError
from churnmodel.models import (
    BetaGeoModel,
    DegenerateFitWarning,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    PurchaseModel,
    customer_lifetime_value,
)
from tests.models.helpers import summary_frame

PURCHASE_FIXTURES = ["bgnbd_cdnow", "mbgnbd_cdnow", "pareto_cdnow"]


def test_identical_rows_are_fitted_once_with_a_weight(cdnow: pd.DataFrame) -> None:
    doubled = pd.concat([cdnow, cdnow])
    doubled.attrs["time_unit"] = "W"
    once = BetaGeoModel().fit(cdnow)
    twice = BetaGeoModel().fit(doubled)
    assert twice.n_customers_ == 2 * once.n_customers_
    assert twice.log_likelihood_ == pytest.approx(2 * once.log_likelihood_, rel=1e-9)
    assert twice.params_ == pytest.approx(once.params_, rel=1e-4)


def test_second_strategy_runs_when_lifetimes_fails(
    monkeypatch: pytest.MonkeyPatch, cdnow: pd.DataFrame, bgnbd_cdnow: BetaGeoModel
) -> None:
    def broken(*args: object, **kwargs: object) -> np.ndarray:
        raise ValueError("The model did not converge. Try adding a larger penalizer")

    monkeypatch.setattr(BetaGeoModel, "_lifetimes_fit", broken)
    model = BetaGeoModel().fit(cdnow)
    assert model.fit_strategy_ == "nelder-mead"
    assert model.params_ == pytest.approx(bgnbd_cdnow.params_, rel=1e-3)
    assert model.log_likelihood_ == pytest.approx(bgnbd_cdnow.log_likelihood_, abs=1e-3)


def test_penalized_strategy_warns(monkeypatch: pytest.MonkeyPatch, cdnow: pd.DataFrame) -> None:
    real = BetaGeoModel._lifetimes_fit

    def only_penalized(
        self: BetaGeoModel, problem: object, start: np.ndarray, pen: float
    ) -> np.ndarray:
        if pen == 0:
            raise ValueError("did not converge")
        return real(self, problem, start, pen)  # type: ignore[arg-type]

    monkeypatch.setattr(BetaGeoModel, "_lifetimes_fit", only_penalized)
    monkeypatch.setattr(BetaGeoModel, "_own_fit", lambda *a, **k: np.full(4, np.nan))
    with pytest.warns(DegenerateFitWarning, match="penalizer=0.001"):
        model = BetaGeoModel().fit(cdnow)
    assert model.fit_strategy_ == "penalized"


def test_all_strategies_failing_names_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> np.ndarray:
        raise ValueError("did not converge")

    monkeypatch.setattr(BetaGeoModel, "_lifetimes_fit", broken)
    monkeypatch.setattr(BetaGeoModel, "_own_fit", broken)
    frame = summary_frame([(1, 3.0, 10.0)] * 5 + [(0, 0.0, 10.0)] * 50)
    with pytest.raises(ModelFitError, match="only 5 customers made a repeat purchase") as info:
        BetaGeoModel().fit(frame)
    message = str(info.value)
    assert "What to change: use a longer calibration period" in message
    assert "lifetimes: ValueError did not converge" in message
    assert set(info.value.details) >= {"attempts", "cause", "fix"}


def test_only_one_time_buyers_cannot_be_fitted() -> None:
    frame = summary_frame([(0, 0.0, float(t)) for t in range(1, 40)])
    for cls in (BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel):
        with pytest.raises(ModelFitError, match="none of the 39 customers made a repeat purchase"):
            cls().fit(frame)
    with pytest.raises(ModelFitError, match="only 0 of 39 customers"):
        GammaGammaModel().fit(frame.assign(monetary_value=0.0))


def test_all_ages_zero_cannot_be_fitted() -> None:
    frame = summary_frame([(1, 0.0, 0.0), (0, 0.0, 0.0)])
    with pytest.raises(ModelFitError, match="every customer has T = 0"):
        BetaGeoModel().fit(frame)


def test_no_dropout_in_the_data_warns_instead_of_failing() -> None:
    # Every repeat buyer bought at the cut-off: nothing shows dropout, so b runs off (a/b -> 0).
    rows = [(x, 20.0, 20.0) for x in range(1, 6)] * 40 + [(0, 0.0, 20.0)] * 100
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = BetaGeoModel().fit(summary_frame(rows))
        except ModelFitError as exc:  # acceptable too, if it explains itself
            assert "What to change" in str(exc)
            return
    alive = model.probability_alive(summary_frame(rows))
    assert np.all(np.isfinite(alive))
    assert caught and all(issubclass(w.category, DegenerateFitWarning) for w in caught)
    assert any("ran to the edge of the parameter space" in str(w.message) for w in caught)


ADVERSARIAL = {
    "only one-time buyers": [(0, 0.0, float(t)) for t in (0, 1, 5, 38, 1000)],
    "thousands of purchases": [(5000, 38.0, 38.86), (3000, 1.0, 38.86), (10_000, 0.5, 0.5)],
    "recency zero": [(1, 0.0, 10.0), (4, 0.0, 38.0)],
    "T zero": [(0, 0.0, 0.0), (3, 0.0, 0.0)],
    "recency equals T": [(7, 38.86, 38.86), (1, 1e-9, 1e-9)],
    "huge T": [(2, 1.0, 1e6), (0, 0.0, 1e6)],
}


@pytest.mark.parametrize("fixture", PURCHASE_FIXTURES)
@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_predictions_are_finite_and_in_range(
    fixture: str, case: str, request: pytest.FixtureRequest
) -> None:
    model: PurchaseModel = request.getfixturevalue(fixture)
    frame = summary_frame(ADVERSARIAL[case], monetary_value=50.0)
    checks: list[tuple[str, Callable[[], pd.Series], float]] = [
        ("expected_purchases", lambda: model.expected_purchases(frame, 52), np.inf),
        ("probability_alive", lambda: model.probability_alive(frame), 1.0),
        ("probability_no_purchase", lambda: model.probability_no_purchase(frame, 52), 1.0),
    ]
    for name, call, upper in checks:
        values = call().to_numpy()
        assert np.all(np.isfinite(values)), (name, values)
        assert np.all((values >= 0) & (values <= upper)), (name, values)
    dist = model.frequency_distribution(frame).to_numpy()
    assert np.all(np.isfinite(dist)) and np.allclose(dist.sum(axis=1), 1.0)


@pytest.mark.parametrize("fixture", PURCHASE_FIXTURES)
def test_clv_of_adversarial_customers_is_finite(
    fixture: str, request: pytest.FixtureRequest, gg_cdnow: GammaGammaModel
) -> None:
    model: PurchaseModel = request.getfixturevalue(fixture)
    rows = [row for rows in ADVERSARIAL.values() for row in rows]
    frame = summary_frame(rows, monetary_value=[0.0 if r[0] == 0 else 25.0 for r in rows])
    clv = customer_lifetime_value(model, gg_cdnow, frame, n_draws=40, horizon_days=730)
    values = clv.to_numpy()
    assert np.all(np.isfinite(values)) and np.all(values >= 0)


def test_heavy_buyer_expectation_is_consistent(bgnbd_cdnow: BetaGeoModel) -> None:
    # A customer with 5000 purchases in 38.86 weeks, the last at the cut-off, is alive and buys
    # at the posterior mean rate (r + x) / (alpha + T), less a dropout chance of about a / (b + x)
    # per purchase; lifetimes' hypergeometric term overflows here.
    frame = summary_frame([(5000, 38.86, 38.86)])
    p = bgnbd_cdnow.params_
    rate = (p["r"] + 5000) / (p["alpha"] + 38.86)
    expected = bgnbd_cdnow.expected_purchases(frame, 1.0).iloc[0]
    assert expected == pytest.approx(rate, rel=0.02)
    assert expected < rate
