"""The predictions users call in the peers (issue 15), against lifetimes, BTYD's formulas and
mpmath.

* P(n purchases) of a new customer and a new customer's expected purchases equal lifetimes'
  ``probability_of_n_purchases_up_to_time`` and ``expected_number_of_purchases_up_to_time``,
  and the Pareto/NBD conditional P(n purchases) its ``conditional_probability_of_n_purchases_
  up_to_time``, to 1e-10 on random parameters and summaries;
* P(alive) at a future time and DERT equal independent mpmath evaluations (40 digits: the
  BG/NBD expectations as integrals over the dropout probability, the Pareto/NBD DERT in FHL's
  closed form with Tricomi's U) to 1e-10, and BTYD's ``pnbd.DERT`` formula (its Kummer-function
  form of U, evaluated by mpmath) on BTYD's own example;
* the pmf is consistent with what the package computed before: its mean is the expected
  purchases, its 0 the probability of no purchase, and a new customer's pmf over T the
  frequency distribution.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from churnmodel.models import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, PurchaseModel

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
MBG = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
CLASSES = {"BG": BetaGeoModel, "MBG": ModifiedBetaGeoModel, "PN": ParetoNBDModel}
PARAMS = {"BG": BG, "MBG": MBG, "PN": PARETO}
LIFETIMES = {"BG": "BetaGeoFitter", "MBG": "ModifiedBetaGeoFitter", "PN": "ParetoNBDFitter"}


def model_of(name: str, params: dict[str, float] | None = None) -> PurchaseModel:
    model: PurchaseModel = CLASSES[name].from_params(params or PARAMS[name], time_unit="W")
    return model


def fitter_of(lifetimes: ModuleType, name: str, params: dict[str, float]) -> object:
    fitter = getattr(lifetimes, LIFETIMES[name])()
    fitter.params_ = pd.Series(params)
    return fitter


def random_params(rng: np.random.Generator, name: str) -> dict[str, float]:
    keys = ("r", "alpha", "s", "beta") if name == "PN" else ("r", "alpha", "a", "b")
    scales = {"alpha": (1.0, 50.0), "beta": (1.0, 50.0)}
    out = {}
    for key in keys:
        low, high = scales.get(key, (0.1, 5.0))
        out[key] = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    if name != "PN" and abs(out["a"] - 1.0) < 0.05:
        out["a"] += 0.1  # lifetimes divides by a - 1
    return out


def random_summary(rng: np.random.Generator, n: int = 200) -> pd.DataFrame:
    x = rng.integers(0, 30, n)
    T = rng.uniform(0.5, 80.0, n)
    recency = np.where(x > 0, T * rng.uniform(0.0, 1.0, n), 0.0)
    summary = pd.DataFrame({"frequency": x, "recency": recency, "T": T})
    summary.attrs["time_unit"] = "W"
    return summary


# ------------------------------------------------------------------ lifetimes, to 1e-10
@pytest.mark.parametrize("name", ["BG", "MBG"])
def test_new_customer_pmf_equals_lifetimes(lifetimes: ModuleType, name: str) -> None:
    rng = np.random.default_rng(15)
    for _ in range(20):
        params = random_params(rng, name)
        model, fitter = model_of(name, params), fitter_of(lifetimes, name, params)
        t = float(rng.uniform(0.1, 150.0))
        for n in range(12):
            ours = model.probability_of_purchases_new_customer(n, t)
            theirs = float(fitter.probability_of_n_purchases_up_to_time(t, n))  # type: ignore[attr-defined]
            assert ours == pytest.approx(theirs, abs=1e-10, rel=1e-10), (params, t, n)


@pytest.mark.parametrize("name", ["BG", "MBG", "PN"])
def test_new_customer_expected_purchases_equal_lifetimes(lifetimes: ModuleType, name: str) -> None:
    rng = np.random.default_rng(16)
    for _ in range(20):
        params = random_params(rng, name)
        model, fitter = model_of(name, params), fitter_of(lifetimes, name, params)
        times = rng.uniform(0.1, 300.0, 7)
        ours = model.expected_purchases_new_customer(times)
        theirs = fitter.expected_number_of_purchases_up_to_time(times)  # type: ignore[attr-defined]
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)
        assert model.expected_purchases_new_customer(0.0) == 0.0
        assert isinstance(model.expected_purchases_new_customer(float(times[0])), float)


def test_pareto_conditional_pmf_equals_lifetimes(lifetimes: ModuleType) -> None:
    rng = np.random.default_rng(17)
    for _ in range(4):
        params = random_params(rng, "PN")
        model, fitter = model_of("PN", params), fitter_of(lifetimes, "PN", params)
        summary = random_summary(rng, 60)
        for t in (1.0, 13.0, 52.0):
            for n in (0, 1, 2, 5, 12):
                ours = model.probability_of_purchases(summary, n, t).to_numpy()
                theirs = np.array(
                    [
                        fitter.conditional_probability_of_n_purchases_up_to_time(n, t, x, r, T)  # type: ignore[attr-defined]
                        for x, r, T in summary[["frequency", "recency", "T"]].to_numpy()
                    ],
                    dtype=float,
                ).ravel()
                np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


# ------------------------------------------------- consistency with the existing predictions
@pytest.mark.parametrize("name", ["BG", "MBG", "PN"])
def test_pmf_mean_is_expected_purchases_and_its_zero_no_purchase(name: str) -> None:
    model = model_of(name)
    summary = random_summary(np.random.default_rng(18), 150)
    pmf = np.array(
        [model.probability_of_purchases(summary, n, 26.0).to_numpy() for n in range(1500)]
    )
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-10)
    mean = (np.arange(1500)[:, None] * pmf).sum(axis=0)
    np.testing.assert_allclose(mean, model.expected_purchases(summary, 26.0), rtol=1e-10)
    np.testing.assert_allclose(pmf[0], model.probability_no_purchase(summary, 26.0), atol=1e-15)


@pytest.mark.parametrize("name", ["BG", "MBG", "PN"])
def test_frequency_distribution_is_the_new_customer_pmf(name: str) -> None:
    model = model_of(name)
    summary = random_summary(np.random.default_rng(19), 5)
    table = model.frequency_distribution(summary, max_frequency=6)
    for T, row in zip(summary["T"], table.to_numpy(), strict=True):
        pmf = [model.probability_of_purchases_new_customer(k, float(T)) for k in range(6)]
        np.testing.assert_allclose(row[:6], pmf, atol=1e-12)


# ----------------------------------------------------- future P(alive) and DERT, by mpmath
CUSTOMERS = pd.DataFrame(
    {
        "frequency": [0, 2, 7, 25, 100],
        "recency": [0.0, 30.43, 35.0, 37.0, 38.0],
        "T": [38.86, 38.86, 38.0, 38.86, 39.0],
    }
)
CUSTOMERS.attrs["time_unit"] = "W"
# mpmath at 40 digits (tests/models/test_predictions.py's module docstring says how):
# P(alive at T + 39 weeks) and DERT at 15 % a year, delta = log(1.15) / 52.
MPMATH = {
    "BG": (
        [
            0.95564466045547804,
            0.56713803562792994,
            0.58146800221912973,
            0.57389286140831725,
            0.56265175835214595,
        ],
        [
            1.0187461946469324,
            5.1695539284375218,
            17.239071801681103,
            58.60173782837171,
            228.21860515513615,
        ],
    ),
    "MBG": (
        [
            0.35386067226294979,
            0.53082471574942777,
            0.55224187184617366,
            0.54636682777331454,
            0.53669235431496546,
        ],
        [
            0.72482322294719432,
            4.9246757860224974,
            15.410842301810337,
            51.22627134788117,
            198.3956386942873,
        ],
    ),
    "PN": (
        [
            0.20878504607323515,
            0.61455272960506125,
            0.67065297417412249,
            0.68044597792646364,
            0.68025132554793191,
        ],
        [
            0.47845766951460794,
            6.5017305375642293,
            21.315745710137304,
            72.053411122293509,
            282.75510506451932,
        ],
    ),
}


@pytest.mark.parametrize("name", ["BG", "MBG", "PN"])
def test_future_p_alive_and_dert_equal_mpmath(name: str) -> None:
    model = model_of(name)
    alive, dert = MPMATH[name]
    np.testing.assert_allclose(model.probability_alive(CUSTOMERS, horizon=39.0), alive, rtol=1e-10)
    np.testing.assert_allclose(model.dert(CUSTOMERS, math.log(1.15) / 52), dert, rtol=1e-10)
    # The same in days: horizons and rates follow the summary's unit.
    days = CUSTOMERS.assign(recency=CUSTOMERS["recency"] * 7, T=CUSTOMERS["T"] * 7)
    days.attrs["time_unit"] = "D"
    np.testing.assert_allclose(model.probability_alive(days, horizon=273.0), alive, rtol=1e-10)
    np.testing.assert_allclose(model.dert(days, math.log(1.15) / 364), dert, rtol=1e-10)


def test_pareto_dert_equals_btyd_on_its_example() -> None:
    # BTYD's pnbd.DERT example (parameters of the 78-week CDNOW fit, d = 0.0027 a week),
    # evaluated with its formula (Kummer functions) by mpmath at 40 digits.
    model = ParetoNBDModel.from_params(
        {"r": 0.5629966, "alpha": 12.5590370, "s": 0.4081095, "beta": 10.5148048}, time_unit="W"
    )
    one = pd.DataFrame({"frequency": [7], "recency": [35.0], "T": [77.86]})
    assert model.dert(one, 0.0027, time_unit="W").iloc[0] == pytest.approx(
        1.8641833280713296, rel=1e-10
    )
    many = pd.DataFrame({"frequency": range(1, 11), "recency": 30.0, "T": 77.86})
    btyd = [2.1991554497049606, 2.8435344060657326, 2.8671283912061646, 2.4454100786073589,
            1.8405019244774937, 1.2624164717438557, 0.80961811945383835, 0.49480361937544931,
            0.29202470156979856, 0.16792750856605333]  # fmt: skip
    np.testing.assert_allclose(model.dert(many, 0.0027, time_unit="W"), btyd, rtol=1e-10)


@pytest.mark.parametrize("name", ["BG", "MBG", "PN"])
def test_dert_is_the_discounted_sum_of_expected_purchases(name: str) -> None:
    # DERT = int exp(-delta t) dE[Y(t)]: a sum over short periods of the expected purchases
    # in each, discounted at its middle, converges to it (here to 1e-6).
    model = model_of(name)
    delta = math.log(1.15) / 52
    edges = np.concatenate(
        [np.linspace(0.0, 10.0, 2001)[1:], np.geomspace(10.0, 40.0 / delta, 4000)[1:]]
    )
    cumulative = np.column_stack(
        [model.expected_purchases(CUSTOMERS, float(t)).to_numpy() for t in edges]
    )
    steps = np.diff(np.column_stack([np.zeros(len(CUSTOMERS)), cumulative]), axis=1)
    middles = (np.concatenate([[0.0], edges[:-1]]) + edges) / 2
    approx = steps @ np.exp(-delta * middles)
    np.testing.assert_allclose(model.dert(CUSTOMERS, delta), approx, rtol=1e-6)


def test_argument_checks() -> None:
    model = model_of("BG")
    with pytest.raises(ValueError, match="'n' must be an integer >= 0, got -1"):
        model.probability_of_purchases(CUSTOMERS, -1, 10.0)
    with pytest.raises(ValueError, match=r"'n' must be an integer >= 0, got 1\.5"):
        model.probability_of_purchases_new_customer(1.5, 10.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'horizon' must be >= 0, got -1"):
        model.probability_alive(CUSTOMERS, horizon=-1)
    with pytest.raises(ValueError, match="'discount_rate' must be > 0, got 0"):
        model.dert(CUSTOMERS, 0)
    with pytest.raises(ValueError, match="'horizon' must be finite and >= 0"):
        model.expected_purchases_new_customer([1.0, -2.0])
    assert model.probability_alive(CUSTOMERS, horizon=0).equals(model.probability_alive(CUSTOMERS))
    # A new customer's horizon may be given in another unit than the model's.
    assert model.expected_purchases_new_customer(70.0, time_unit="D") == pytest.approx(
        model.expected_purchases_new_customer(10.0), rel=1e-15
    )
