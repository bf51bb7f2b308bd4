"""Pareto/NBD: agreement with lifetimes and with high-precision references, frequencies."""

from __future__ import annotations

import itertools
import warnings
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from churnmodel.models import ParetoNBDModel, simulate_bgnbd_summary
from churnmodel.models.pareto_nbd import _log_h_by_quadrature
from tests.models.helpers import fixed_model, summary_frame


def _reference(lifetimes: ModuleType, model: ParetoNBDModel) -> object:
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pd.Series(model.params_)
    return fitter


def test_predictions_match_lifetimes(
    lifetimes: ModuleType, pareto_cdnow: ParetoNBDModel, cdnow: pd.DataFrame
) -> None:
    ref = _reference(lifetimes, pareto_cdnow)
    f, r, t = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    with warnings.catch_warnings():  # lifetimes' own numerics, not under test
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = ref.conditional_expected_number_of_purchases_up_to_time(39.0, f, r, t)
        alive = ref.conditional_probability_alive(f, r, t)
        none = ref.conditional_probability_of_n_purchases_up_to_time(0, 39.0, f, r, t)
        log_lik = ref._conditional_log_likelihood(list(pareto_cdnow.params_.values()), f, r, t)
    np.testing.assert_allclose(pareto_cdnow.expected_purchases(cdnow, 39.0), expected, rtol=1e-9)
    np.testing.assert_allclose(pareto_cdnow.probability_alive(cdnow), alive, atol=1e-12)
    # Our closed form of P(no purchase) against lifetimes' eq. (16) of Fader-Hardie note 028.
    np.testing.assert_allclose(pareto_cdnow.probability_no_purchase(cdnow, 39.0), none, atol=1e-10)
    assert pareto_cdnow.log_likelihood_ == pytest.approx(log_lik.sum(), rel=1e-12)


def test_probability_no_purchase_by_monte_carlo(pareto_cdnow: ParetoNBDModel) -> None:
    # Alive at T: lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T), exponential lifetime.
    p = pareto_cdnow.params_
    x, t, h = 3, 20.0, 10.0
    rng = np.random.default_rng(0)
    lam = rng.gamma(p["r"] + x, 1 / (p["alpha"] + t), 400_000)
    mu = rng.gamma(p["s"], 1 / (p["beta"] + t), 400_000)
    life = rng.exponential(1 / mu)
    quiet = np.exp(-lam * np.minimum(life, h)).mean()
    model = pareto_cdnow._no_purchase_if_alive(p, np.array([x]), np.array([t]), h)[0]
    assert model == pytest.approx(quiet, abs=3e-3)


def test_frequency_distribution_by_simulation(pareto_cdnow: ParetoNBDModel) -> None:
    p = pareto_cdnow.params_
    rng = np.random.default_rng(1)
    n = 200_000
    lam = rng.gamma(p["r"], 1 / p["alpha"], n)
    life = rng.exponential(1 / rng.gamma(p["s"], 1 / p["beta"], n))
    counts = rng.poisson(lam * np.minimum(life, 38.86))
    simulated = np.bincount(np.minimum(counts, 7), minlength=8) / n
    dist = pareto_cdnow.frequency_distribution(summary_frame([(0, 0.0, 38.86)]))
    np.testing.assert_allclose(dist.iloc[0].to_numpy(), simulated, atol=4e-3)


def test_fits_simulated_days_and_tracks_bgnbd_roughly() -> None:
    ages = np.random.default_rng(2).integers(60, 366, 2000)
    params = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}
    summary = simulate_bgnbd_summary(2000, params, ages, seed=3)
    model = ParetoNBDModel().fit(summary)
    assert model.time_unit_ == "D"
    assert model.covariance_ is not None
    total = model.expected_purchases(summary, 90).sum()
    assert np.isfinite(total) and total > 0


# log H(t) (ParetoNBDModel._log_h: G(t) = (alpha+t)^-(r+x) (beta+t)^-s H(t), the term of A0) by
# mpmath at 40 digits: adaptive quadrature of the integral in _log_h_by_quadrature's docstring,
# which agrees with mpmath.hyp2f1 to 2e-14 or better on every row where the latter converges.
# All rows have scipy's hyp2f1 argument z above 0.9 (the last one excepted, z = 0.09): tiny and
# integer r, s = 1, x up to a million, alpha/beta from 1e-8 to 1e8, t = 0.
# ((r, alpha, s, beta), x, t, log H)
LOG_H_REFERENCES = [
    ((0.0015, 0.035, 1.0, 4150.0), 0, 0.001, -0.01598022627207255),
    ((35.6, 0.22, 1.0, 28000.0), 20000, 0.0, -11.753987700255154),
    ((0.018, 255.0, 2.4, 2.1), 1000000, 0.0, 4.798916877747416),
    ((0.004, 5200.0, 0.0045, 0.036), 0, 1.0, 0.03284090545119008),
    ((10.4, 17800.0, 4.1, 0.015), 2000, 0.001, 6.1965567264876515),
    ((2.3, 0.083, 23.5, 41000.0), 64, 0.001, -12.779673691828917),
    ((0.005, 970.0, 92.0, 27800.0), 150, 0.0, -2.892196399904447),
    ((3.0, 9100.0, 0.0077, 0.51), 294, 1.0, 6.641057341805453),
    ((1.0, 12.18, 12.18, 434.39), 150, 0.0, -3.492405571028137),
    ((0.03, 400.0, 1.0, 0.5), 0, 0.0, 0.0293095870716856),
    ((0.3, 100000.0, 0.5, 0.001), 5, 1000000.0, 0.07369964351174554),
]

# Predictions by mpmath at 40 digits, in days: (r, alpha, s, beta), (x, t_x, T), log P(alive),
# P(no purchase in 30 days). log P(alive) = -log D, D - 1 an adaptive integral of the
# likelihood's dropout term over [t_x, T] (checked against the hypergeometric route to 3e-13).
PREDICTION_REFERENCES = [
    ((1.0, 12.18, 12.18, 434.39), (150, 20.0, 30.0), -35.96120823500134, 0.9999999999999998),
    ((1.0, 12.18, 12.18, 434.39), (1000, 5.0, 10.0), -248.1882118082529, 1.0),
    ((1.0, 12.18, 12.18, 434.39), (5000, 100.0, 100.5), -14.672960723969869, 0.9999995759751347),
    ((1.0, 12.18, 12.18, 434.39), (300, 0.0, 2.0), -39.03979504734823, 1.0),
    ((0.03, 400.0, 1.0, 0.5), (0, 0.0, 10.0), -3.0451498476911807, 0.9999520356924446),
    ((0.03, 400.0, 1.0, 0.5), (3, 2.0, 50.0), -3.296100287507458, 0.994785623337918),
    ((0.03, 400.0, 1.0, 0.5), (200, 10.0, 12.0), -0.28606935172402564, 0.3446807018996971),
    ((2.0, 0.5, 1.0, 300.0), (0, 0.0, 0.0), 0.0, 0.0018669688014258691),
    ((2.0, 0.5, 1.0, 300.0), (1, 0.5, 3.0), -0.06374252909284257, 0.06799036591093287),
    ((2.0, 0.5, 1.0, 300.0), (40, 10.0, 20.0), -21.031373429423756, 0.9999999992663082),
    ((2.0, 0.5, 1.0, 300.0), (2000, 1.0, 2.0), -1009.7731630575511, 1.0),
    ((0.55, 74.06, 0.61, 81.69), (0, 0.0, 200.0), -1.000049527493111, 0.9801837980989101),
    ((0.55, 74.06, 0.61, 81.69), (2, 30.0, 270.0), -2.1586427145247478, 0.9783538195348347),
    ((0.55, 74.06, 0.61, 81.69), (7, 250.0, 260.0), -0.020350206682697526, 0.5425857012249554),
    ((0.7, 25.0, 0.4, 25.0), (0, 0.0, 10.0), -0.1508958004335427, 0.7297432746066091),
    ((0.7, 25.0, 0.4, 25.0), (4, 60.0, 300.0), -4.306951233568832, 0.9954978469321103),
    ((0.7, 25.0, 0.4, 25.0), (3000, 1.0, 5.0), -420.5369169510395, 1.0),
]


def _params(values: tuple[float, float, float, float]) -> dict[str, float]:
    return dict(zip(("r", "alpha", "s", "beta"), values, strict=True))


def test_log_h_matches_high_precision_references() -> None:
    for values, x, t, expected in LOG_H_REFERENCES:
        got = ParetoNBDModel._log_h(*values, np.array([float(x)]), np.array([t]))[0]
        # An absolute error in log H is the relative error of H.
        assert got == pytest.approx(expected, abs=1e-12), (values, x, t)


@pytest.mark.parametrize("case", range(len(PREDICTION_REFERENCES)))
def test_predictions_match_high_precision_references(case: int) -> None:
    values, row, log_alive, quiet = PREDICTION_REFERENCES[case]
    model = fixed_model("ParetoNBDModel", _params(values), time_unit="D")
    frame = summary_frame([row], unit="D")
    data, _ = model._read(frame, None)
    # log P(alive) itself: P(alive) underflows to 0 for the customer with 2000 purchases.
    assert -model._log_d(model.params_, data)[0] == pytest.approx(log_alive, abs=1e-10)
    assert model.probability_no_purchase(frame, 30.0).iloc[0] == pytest.approx(quiet, rel=1e-10)


def test_quadrature_matches_scipy_hyp2f1_where_that_is_accurate() -> None:
    # Below z = 0.9, where _log_h uses scipy's hyp2f1, the integral gives the same log H.
    rows = 0
    for r, s, alpha, beta in itertools.product(
        (0.01, 0.5, 3.0), (0.02, 1.0, 8.0), (0.5, 20.0), (0.6, 40.0, 300.0)
    ):
        x = np.repeat([0.0, 1.0, 10.0, 150.0, 5000.0], 3)
        t = np.tile([0.0, 5.0, 300.0], 5)
        z = np.abs(alpha - beta) / (max(alpha, beta) + t)
        keep = z <= 0.9
        closed_form = ParetoNBDModel._log_h(r, alpha, s, beta, x[keep], t[keep])
        log_kappa = np.log(beta + t[keep]) - np.log(alpha + t[keep])
        integral = _log_h_by_quadrature(r + x[keep], s, log_kappa)
        np.testing.assert_allclose(integral, closed_form, rtol=0, atol=1e-12)
        rows += int(keep.sum())
    assert rows > 400


def _p_alive_by_adaptive_integral(params: dict[str, float], x: int, t_x: float, T: float) -> float:
    """P(alive) = 1 / D from the likelihood's dropout term, by QUADPACK (independent check).

    ``D - 1 = s int_{t_x}^T ((alpha+T)/(alpha+tau))^(r+x) ((beta+T)/(beta+tau))^s
    / (beta+tau) dtau``, scaled by its value at ``tau = t_x`` to stay finite.
    """
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))

    def log_f(tau: float) -> float:
        return float(
            (r + x) * np.log((alpha + T) / (alpha + tau))
            + s * np.log((beta + T) / (beta + tau))
            + np.log(s / (beta + tau))
        )

    top = log_f(t_x)
    width = (alpha + t_x) / (r + x)  # where ((alpha+T)/(alpha+tau))^(r+x) falls by e
    points = [t_x + width * k for k in (0.1, 1.0, 10.0) if t_x + width * k < T]
    value, error = quad(
        lambda tau: np.exp(log_f(tau) - top), t_x, T, points=points or None, epsabs=0, epsrel=1e-12
    )
    assert error < 1e-10 * value
    return float(np.exp(-np.logaddexp(0.0, top + np.log(value))))


@pytest.mark.parametrize(
    "values",
    [
        (1.0, 12.18, 12.18, 434.39),
        (0.03, 400.0, 1.0, 0.5),
        (2.0, 0.5, 1.0, 300.0),
        (0.2, 3.0, 0.1, 900.0),
    ],
)
def test_p_alive_where_integrated_matches_an_adaptive_integral_and_lifetimes(
    lifetimes: ModuleType, values: tuple[float, float, float, float]
) -> None:
    params = _params(values)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(0, 40, 20), [150, 400]])
    T = rng.uniform(0.0, 60.0, x.size)
    t_x = np.where(x > 0, rng.uniform(0.0, 1.0, x.size) * T, 0.0)
    model = fixed_model("ParetoNBDModel", params, time_unit="D")
    rows = list(zip(x.tolist(), t_x.tolist(), T.tolist(), strict=True))
    got = model.probability_alive(summary_frame(rows, unit="D")).to_numpy()
    expected = [_p_alive_by_adaptive_integral(params, *row) for row in rows]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-300)
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pd.Series(params)
    with warnings.catch_warnings():  # lifetimes' own numerics, not under test
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = np.asarray(fitter.conditional_probability_alive(x, t_x, T), dtype=np.float64)
    stable = np.isfinite(theirs)
    np.testing.assert_allclose(got[stable], theirs[stable], rtol=0, atol=1e-12)


def test_continuous_at_s_equal_to_one_and_alpha_equal_to_beta() -> None:
    frame = summary_frame([(0, 0.0, 10.0), (3, 2.0, 50.0), (200, 10.0, 12.0)], unit="D")

    def predictions(params: dict[str, float]) -> np.ndarray:
        model = fixed_model("ParetoNBDModel", params, time_unit="D")
        alive = model.probability_alive(frame).to_numpy()
        return np.concatenate([alive, model.probability_no_purchase(frame, 30.0).to_numpy()])

    s_one = {"r": 0.03, "alpha": 400.0, "s": 1.0, "beta": 0.5}
    for nudge in (1 - 1e-9, 1 + 1e-9):
        nearby = predictions({**s_one, "s": nudge})
        np.testing.assert_allclose(predictions(s_one), nearby, rtol=1e-7)
    equal = {"r": 0.7, "alpha": 25.0, "s": 0.4, "beta": 25.0}  # H = 1: no hypergeometric term
    for nudge in (1 - 1e-9, 1 + 1e-9):
        nearby = predictions({**equal, "beta": 25.0 * nudge})
        np.testing.assert_allclose(predictions(equal), nearby, rtol=1e-7)
