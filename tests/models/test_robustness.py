"""Robust fitting: compression, fallbacks, clear failures, and finite predictions everywhere."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import IntegrationWarning, quad
from scipy.special import betaln

from churnmodel.exceptions import DataValidationError, ModelFitError
from churnmodel.models import (
    BetaGeoModel,
    DegenerateFitWarning,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    ProbabilisticModel,
    PurchaseModel,
    customer_lifetime_value,
)
from churnmodel.models.beta_geo import _purchases_if_alive_by_quadrature
from tests.models.helpers import fixed_model, summary_frame

# A BG/NBD fit with a + b < 1 (in days): the Beta of the dropout probability piles up at 0 and 1,
# and the closed form of E[Y(t)] has c = a + b + x - 1 <= 0 for one-time buyers.
LOW_AB = {"r": 0.46, "alpha": 4.16, "a": 0.30, "b": 0.40}
# A small covariance of the log-parameters, so that CLV intervals can be drawn around LOW_AB.
LOW_AB_COVARIANCE = (np.eye(4) * 0.01).tolist()
# Pareto/NBD fits (in days) where scipy's hyp2f1 fails near z = 1 (issue #3): alpha and beta far
# apart, so that heavy buyers with a small T give NaN; and s = 1 exactly, where c - a - b is an
# integer and hyp2f1 returns inf. Predictions come from the integral in pareto_nbd.py there.
PARETO_HEAVY = {"r": 1.0, "alpha": 12.18, "s": 12.18, "beta": 434.39}
PARETO_S_ONE = {"r": 0.03, "alpha": 400.0, "s": 1.0, "beta": 0.5}
# A BG/NBD fit that ran to the edge of the parameter space (CI, a 1,500-customer simulated log at
# an early backtest cut-off): a - 1 rounds to -1, which no Gauss-Jacobi rule accepts.
EDGE_AB = {"r": 0.7993, "alpha": 35.96, "a": 2.97e-20, "b": 3.03e-11}
PURCHASE_FIXTURES = [
    "bgnbd_cdnow",
    "mbgnbd_cdnow",
    "pareto_cdnow",
    "bgnbd_low_ab",
    "mbgnbd_low_ab",
    "bgnbd_edge",
    "pareto_heavy",
    "pareto_s_one",
]


@pytest.fixture(scope="module")
def bgnbd_low_ab() -> BetaGeoModel:
    model: BetaGeoModel = fixed_model(
        "BetaGeoModel", LOW_AB, time_unit="D", covariance=LOW_AB_COVARIANCE
    )
    return model


@pytest.fixture(scope="module")
def mbgnbd_low_ab() -> ModifiedBetaGeoModel:
    model: ModifiedBetaGeoModel = fixed_model(
        "ModifiedBetaGeoModel", LOW_AB, time_unit="D", covariance=LOW_AB_COVARIANCE
    )
    return model


@pytest.fixture(scope="module")
def bgnbd_edge() -> BetaGeoModel:
    model: BetaGeoModel = fixed_model(
        "BetaGeoModel", EDGE_AB, time_unit="D", covariance=LOW_AB_COVARIANCE
    )
    return model


@pytest.fixture(scope="module")
def pareto_heavy() -> ParetoNBDModel:
    model: ParetoNBDModel = fixed_model(
        "ParetoNBDModel", PARETO_HEAVY, time_unit="D", covariance=LOW_AB_COVARIANCE
    )
    return model


@pytest.fixture(scope="module")
def pareto_s_one() -> ParetoNBDModel:
    model: ParetoNBDModel = fixed_model(
        "ParetoNBDModel", PARETO_S_ONE, time_unit="D", covariance=LOW_AB_COVARIANCE
    )
    return model


def reference_if_alive(
    params: dict[str, float], offset: int, x: float, T: float, t: float
) -> float:
    """E[Y(t) | alive at T, x, T] = E_p[(1 - (1 + p t/(alpha+T))^-(r+x)) / p] by adaptive quad.

    ``p ~ Beta(a, b + x + offset)``: an independent check of both the closed form and the
    Gauss-Jacobi quadrature of the package.
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    beta, s, tau = b + x + offset, r + x, t / (alpha + T)

    def smooth_part(p: float) -> float:
        return float(-np.expm1(-s * np.log1p(p * tau)) / p) if p > 0 else s * tau

    # QUADPACK's QAWS integrates against the weight p^(a-1) (1-p)^(beta-1) exactly.
    with warnings.catch_warnings():  # it may warn that the tolerance is out of reach
        warnings.simplefilter("ignore", IntegrationWarning)
        value, error = quad(
            smooth_part,
            0,
            1,
            weight="alg",
            wvar=(a - 1, beta - 1),
            limit=1000,
            epsabs=0,
            epsrel=1e-12,
        )
    assert error < 1e-10 * value
    return float(value * np.exp(-betaln(a, beta)))


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


def test_one_time_buyer_with_a_plus_b_below_one_has_finite_expected_purchases(
    bgnbd_low_ab: BetaGeoModel, mbgnbd_low_ab: ModifiedBetaGeoModel
) -> None:
    # Issue #3 repro: x = 0, recency 0, T = 5 days, H = 30 days, a + b = 0.7. The closed form
    # needs 2F1(..; c; z) with c = a + b - 1 = -0.3 and used to return NaN.
    frame = summary_frame([(0, 0.0, 5.0)], unit="D")
    for model, offset in ((bgnbd_low_ab, 0), (mbgnbd_low_ab, 1)):
        value = model.expected_purchases(frame, 30).iloc[0]
        alive = model.probability_alive(frame).iloc[0]
        expected = alive * reference_if_alive(LOW_AB, offset, 0, 5.0, 30.0)
        assert value == pytest.approx(expected, rel=1e-9), type(model).__name__
    # BG/NBD one-time buyers are alive for sure; the value is E[Y(30) | alive] itself.
    assert bgnbd_low_ab.expected_purchases(frame, 30).iloc[0] == pytest.approx(
        0.94309977590, rel=1e-9
    )


@pytest.mark.parametrize("model_name", ["BetaGeoModel", "ModifiedBetaGeoModel"])
def test_quadrature_matches_the_closed_form_where_both_apply(model_name: str) -> None:
    # Random parameters with c = a + b + x - 1 + offset > 0, frequencies up to 30, T including 0,
    # horizons from hours to 10 years: the fallback quadrature and the closed form agree.
    cls = {"BetaGeoModel": BetaGeoModel, "ModifiedBetaGeoModel": ModifiedBetaGeoModel}
    offset = cls[model_name]._dropout_offset
    rng = np.random.default_rng(3)
    x = np.repeat(np.arange(0.0, 31.0, 3.0), 3)
    T = np.tile([0.0, 7.5, 300.0], x.size // 3)
    times = np.array([0.05, 1.0, 30.0, 365.0, 3650.0])
    worst = 0.0
    for _ in range(40):
        r, alpha, a, b = np.exp(rng.uniform(-2.5, 1.5, 4)) * [1.0, 10.0, 1.0, 1.0]
        if a + b + offset <= 1.05:
            b = 1.05 - a - offset + b
        params = {"r": r, "alpha": alpha, "a": a, "b": b}
        model = fixed_model(model_name, params, time_unit="D")
        closed = np.stack(
            [model._purchases_if_alive(params, x, T, np.array([t]), np.ones(1)) for t in times],
            axis=1,
        )
        quadrature = _purchases_if_alive_by_quadrature(r, alpha, a, b + offset, x, T, times)
        assert np.all(np.isfinite(closed)) and np.all(closed > 0)
        worst = max(worst, float(np.max(np.abs(quadrature / closed - 1.0))))
    assert worst < 1e-8


def test_closed_form_and_quadrature_agree_with_an_independent_integral() -> None:
    # Spot checks against scipy's adaptive quadrature, on both sides of a + b = 1.
    cases = [
        ({"r": 0.243, "alpha": 30.9, "a": 0.793, "b": 2.426}, 0, 0.0, 38.0, 365.0),
        ({"r": 0.243, "alpha": 30.9, "a": 0.793, "b": 2.426}, 1, 12.0, 200.0, 30.0),
        ({"r": 0.46, "alpha": 4.16, "a": 0.30, "b": 0.40}, 0, 0.0, 0.0, 3650.0),
        ({"r": 0.46, "alpha": 4.16, "a": 0.30, "b": 0.40}, 0, 3.0, 12.0, 90.0),
        ({"r": 2.0, "alpha": 0.5, "a": 0.05, "b": 0.10}, 0, 0.0, 1.0, 0.01),
    ]
    for params, offset, x, T, t in cases:
        name = "ModifiedBetaGeoModel" if offset else "BetaGeoModel"
        model = fixed_model(name, params, time_unit="D")
        ours = model._purchases_if_alive(
            params, np.array([x]), np.array([T]), np.array([t]), np.ones(1)
        )[0]
        assert ours == pytest.approx(reference_if_alive(params, offset, x, T, t), rel=1e-8)


@pytest.mark.parametrize(
    ("a", "b"), [(1e-5, 0.4), (2e-4, 0.3), (0.3, 1e-5), (1e-6, 1e-6), (5e-5, 2.0)]
)
def test_quadrature_with_a_tiny_beta_shape_agrees_with_an_independent_integral(
    a: float, b: float
) -> None:
    # Below 1e-4 the rule takes the Beta's two near-atoms at 0 and 1 exactly; on both sides of
    # that switch it agrees with QUADPACK.
    params = {"r": 0.8, "alpha": 36.0, "a": a, "b": b}
    for x, T, t in [(0, 0.0, 365.0), (0, 5.0, 30.0), (3, 40.0, 3650.0), (0, 0.0, 0.05)]:
        ours = _purchases_if_alive_by_quadrature(
            0.8, 36.0, a, b, np.array([float(x)]), np.array([T]), np.array([t])
        )[0, 0]
        assert ours == pytest.approx(reference_if_alive(params, 0, x, T, t), rel=1e-9)


def test_one_time_buyers_of_a_fit_at_the_edge_get_the_two_atom_limit(
    bgnbd_edge: BetaGeoModel,
) -> None:
    # With a = 3e-20 and b = 3e-11 the dropout probability is 0 with probability b / (a + b)
    # and 1 otherwise, up to a mass of 3e-20: a one-time buyer (alive for sure) expects
    # (b s tau + a (1 - (1 + tau)^-s)) / (a + b) purchases, s = r, tau = t / (alpha + T).
    frame = summary_frame([(0, 0.0, 10.0), (0, 0.0, 400.0)], unit="D")
    r, alpha, a, b = (EDGE_AB[k] for k in ("r", "alpha", "a", "b"))
    tau = 365.0 / (alpha + np.array([10.0, 400.0]))
    limit = (b * r * tau - a * np.expm1(-r * np.log1p(tau))) / (a + b)
    np.testing.assert_allclose(bgnbd_edge.expected_purchases(frame, 365), limit, rtol=1e-9)


def test_expected_purchases_are_continuous_across_a_plus_b_equal_to_one() -> None:
    # One side of a + b = 1 uses the closed form, the other (and the point itself) quadrature.
    frame = summary_frame([(0, 0.0, 0.0), (0, 0.0, 5.0), (0, 0.0, 400.0)], unit="D")
    values = []
    for b in (0.7 - 1e-7, 0.7, 0.7 + 1e-7):
        model = fixed_model("BetaGeoModel", {**LOW_AB, "b": b}, time_unit="D")
        values.append(model.expected_purchases(frame, 365).to_numpy())
    np.testing.assert_allclose(values[0], values[1], rtol=1e-6)
    np.testing.assert_allclose(values[2], values[1], rtol=1e-6)


SPEND_NEAR_ONE = {"p": 6.25, "q": 1.0001, "v": 15.44}


@pytest.mark.parametrize("fixture", PURCHASE_FIXTURES)
def test_clv_and_intervals_are_finite_for_adversarial_customers_and_spend(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    # Every adversarial row, with repeat buyers spending $0 on average, and a spend model whose
    # q is barely above 1 (the population mean spend p v / (q - 1) is huge but finite).
    model: PurchaseModel = request.getfixturevalue(fixture)
    spend_model = fixed_model(
        "GammaGammaModel", SPEND_NEAR_ONE, covariance=(np.eye(3) * 1e-4).tolist()
    )
    rows = [row for rows in ADVERSARIAL.values() for row in rows]
    money = [0.0 if x == 0 else (0.0 if k % 2 else 25.0) for k, (x, _, _) in enumerate(rows)]
    frame = summary_frame(rows, monetary_value=money)
    clv = customer_lifetime_value(model, spend_model, frame, n_draws=40, horizon_days=730)
    values = clv.to_numpy()
    assert np.all(np.isfinite(values)) and np.all(values >= 0), clv
    assert (clv["clv_low"] <= clv["clv_high"]).all()
    spend = clv["expected_spend"].to_numpy()
    assert np.all(spend > 0)
    x = np.array([r[0] for r in rows], dtype=float)
    p, q, v = SPEND_NEAR_ONE["p"], SPEND_NEAR_ONE["q"], SPEND_NEAR_ONE["v"]
    expected = p * (v + x * np.array(money)) / (p * x + q - 1)
    np.testing.assert_allclose(spend, expected, rtol=1e-12)
    # With no discounting and the same horizon, CLV is purchases times spend.
    flat = customer_lifetime_value(
        model, spend_model, frame, horizon_days=730, annual_discount_rate=0.0, interval=None
    )
    np.testing.assert_allclose(
        flat["clv"], flat["expected_purchases"] * flat["expected_spend"], rtol=1e-9
    )
    assert (flat["clv"] >= clv["clv"] * (1 - 1e-12)).all()


def test_zero_spend_repeat_buyers_are_predicted_and_left_out_of_the_fit(
    cdnow: pd.DataFrame, gg_cdnow: GammaGammaModel
) -> None:
    zeros = cdnow.index[cdnow["frequency"] > 0][:7]
    frame = cdnow.copy()
    frame.loc[zeros, "monetary_value"] = 0.0
    with pytest.warns(DegenerateFitWarning, match="7 of 946 repeat buyers have monetary_value = 0"):
        refit = GammaGammaModel().fit(frame)
    assert refit.n_customers_ == 946 - 7
    without = GammaGammaModel().fit(cdnow.drop(index=zeros))
    assert refit.params_ == pytest.approx(without.params_, rel=1e-9)
    # At predict time a $0 repeat buyer is shrunk from the population mean towards 0.
    p, q, v = (gg_cdnow.params_[k] for k in ("p", "q", "v"))
    spend = gg_cdnow.expected_spend(frame.loc[zeros])
    x = frame.loc[zeros, "frequency"].to_numpy()
    np.testing.assert_allclose(spend, p * v / (p * x + q - 1), rtol=1e-12)
    assert np.all(spend > 0) and np.all(spend < p * v / (q - 1))


def test_negative_spend_at_predict_names_the_customers(gg_cdnow: GammaGammaModel) -> None:
    frame = pd.DataFrame(
        {"frequency": [0, 2, 3, 1], "monetary_value": [-1.0, -3.0, 10.0, -0.5]},
        index=pd.Index(["a", "b", "c", "d"], name="customer_id"),
    )
    with pytest.raises(
        DataValidationError,
        match=r"negative for 2 repeat buyer\(s\) "
        r"\(customers 'b', 'd'\)",
    ) as info:
        gg_cdnow.expected_spend(frame)
    assert info.value.column == "monetary_value"
    assert "drop those customers" in str(info.value)


# scipy's hyp2f1 fails for these (issue #3): hyp2f1(1, s + 1; r + s + x + 1; z) is NaN for the
# heavy buyer (z = 0.97), hyp2f1(1, r; r + 2; z) is inf for s = 1 (z = 0.9988). Rows (in days):
# (x, t_x, T), P(alive), and P(no purchase in 30 days) by mpmath at 40 digits.
PARETO_HYP2F1_FAILURES = {
    "heavy buyer": (PARETO_HEAVY, (150, 0.0, 0.0), 1.0, 0.0022711608404399975),
    "heavy buyer, T > 0": (PARETO_HEAVY, (150, 20.0, 30.0), 2.4112692121101908e-16, 1.0),
    "s equal to one": (PARETO_S_ONE, (0, 0.0, 0.0), 1.0, 0.9998484389304506),
    "s equal to one, T > 0": (
        PARETO_S_ONE,
        (0, 0.0, 10.0),
        0.047589180324415243,
        0.9999520356924446,
    ),
}


@pytest.mark.parametrize("case", sorted(PARETO_HYP2F1_FAILURES))
def test_pareto_where_scipy_hyp2f1_fails(case: str) -> None:
    params, row, alive, quiet = PARETO_HYP2F1_FAILURES[case]
    model = fixed_model("ParetoNBDModel", params, time_unit="D")
    frame = summary_frame([row], unit="D")
    # With T = 0 there was no time to drop out: P(alive) is exactly 1.
    assert model.probability_alive(frame).iloc[0] == pytest.approx(alive, rel=1e-10)
    assert model.probability_no_purchase(frame, 30.0).iloc[0] == pytest.approx(quiet, rel=1e-10)
    expected = model.expected_purchases(frame, 30.0).iloc[0]
    assert np.isfinite(expected) and expected >= 0


def test_spend_draws_for_intervals_keep_q_above_one(gg_cdnow: GammaGammaModel) -> None:
    # q = 1.0001 with a log-sd of 1%: about half of the normal draws have q <= 1, where the
    # population mean spend does not exist; those are redrawn.
    near_one = fixed_model(
        "GammaGammaModel", SPEND_NEAR_ONE, covariance=(np.eye(3) * 1e-4).tolist()
    )
    draws = near_one.sample_params(500, 0)
    assert draws.shape == (500, 3)
    assert np.all(draws[:, 1] > 1.0)
    assert np.median(np.log(draws[:, 0])) == pytest.approx(np.log(6.25), abs=0.01)
    # A well-determined q never needs a redraw: the draws are the plain normal ones.
    plain = ProbabilisticModel.sample_params(gg_cdnow, 200, 5)
    np.testing.assert_array_equal(gg_cdnow.sample_params(200, 5), plain)


def test_heavy_buyer_where_scipy_hyp2f1_returns_nan() -> None:
    # r = a = b gives hyp2f1(A, A; c; z) with A = a - 1, which scipy returns as NaN for large c
    # and z near 1; the closed form is retried with A nudged, and matches a nearby b.
    e = float(np.e)
    frame = summary_frame([(5000, 0.0, 0.0), (5000, 20.0, 20.0)], unit="D")
    values = []
    for b in (e, e * (1 + 1e-7)):
        model = fixed_model("BetaGeoModel", {"r": e, "alpha": 1.0, "a": e, "b": b}, time_unit="D")
        values.append(model.expected_purchases(frame, 30).to_numpy())
    assert np.all(np.isfinite(values[0])) and np.all(values[0] > 0)
    np.testing.assert_allclose(values[0], values[1], rtol=1e-6)
