"""BG/BB on the donations data that ship in lifetimes: Fader, Hardie and Shang (2010), Hardie's
spreadsheet, BTYD's walkthrough, lifetimes to 1e-10, and the same contract as the other models.

Published figures reproduced:

* FHS (2010): alpha 1.204, beta 0.750, gamma 0.657, delta 2.783, log-likelihood -33,225.6;
  Table 6, P(alive in 2002) of donors who last gave in 1995 (x = 0), gave twice with the
  last in 1999 (x = 2, t_x = 4) and every year (x = 6): 0.11, 0.59, 0.93;
* Hardie's BG/BB spreadsheet (notes/010): 12,884.2 expected donations in 2002-2006 in total,
  and 3,454.9 and 1,253.1 donors expected with 0 and 6 repeat donations in 1996-2001;
* BTYD's walkthrough (its parameters 1.203528, 0.7497260, 0.6567808, 2.783796): a new donor's
  expected donations in 10 years 3.179805, donors A (x = 0) and B (x = 4, t_x = 5) 0.1302169 and
  3.627858 in the next 10, and the expected donations in 2002-2006 by 1996-2001 frequency.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import betaln

from churnmodel.datasets import load_donations
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    customer_lifetime_value,
    load_model,
)
from tests.models.test_clv_properties import SETTINGS, log_uniform

BTYD_PARAMS = {"alpha": 1.203528, "beta": 0.7497260, "gamma": 0.6567808, "delta": 2.783796}


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations: pd.DataFrame) -> BetaGeoBetaBinomModel:
    return BetaGeoBetaBinomModel().fit(donations, weights="weights")


def pattern(x: int, t_x: int, n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"frequency": [x], "recency": [t_x], "T": [n]})


def test_the_donations_table(donations: pd.DataFrame) -> None:
    assert int(donations["weights"].sum()) == 11_104
    assert (donations["T"] == 6).all() and donations.attrs["time_unit"] == "P"


def test_fhs_2010_parameters_and_log_likelihood(fitted: BetaGeoBetaBinomModel) -> None:
    p = fitted.params_
    assert p["alpha"] == pytest.approx(1.204, abs=5e-4)
    assert p["beta"] == pytest.approx(0.750, abs=5e-4)
    assert p["gamma"] == pytest.approx(0.657, abs=5e-4)
    assert p["delta"] == pytest.approx(2.783, abs=1e-3)
    assert fitted.log_likelihood_ == pytest.approx(-33_225.6, abs=0.05)
    assert fitted.n_customers_ == 11_104
    assert fitted.time_unit_ == "P"
    table = fitted.summary_
    assert (table["ci_low"] < table["estimate"]).all()
    assert (table["estimate"] < table["ci_high"]).all()


def test_fhs_2010_table_6_p_alive_in_2002(fitted: BetaGeoBetaBinomModel) -> None:
    # 2002 is the opportunity after the six observed: P(alive) one opportunity ahead.
    donors = pd.concat([pattern(0, 0), pattern(2, 4), pattern(6, 6)], ignore_index=True)
    alive = fitted.probability_alive(donors, horizon=1)
    np.testing.assert_allclose(alive, [0.11, 0.59, 0.93], atol=5e-3)


def test_hardies_spreadsheet_totals(fitted: BetaGeoBetaBinomModel, donations: pd.DataFrame) -> None:
    expected = fitted.expected_purchases(donations, 5)
    assert float((expected * donations["weights"]).sum()) == pytest.approx(12_884.2, abs=0.05)
    # In-sample fit: donors expected with each number of repeat donations in 1996-2001.
    counts = fitted.frequency_distribution(pattern(0, 0), max_frequency=7).iloc[0] * 11_104
    assert counts["0"] == pytest.approx(3_454.9, abs=0.05)
    assert counts["6"] == pytest.approx(1_253.1, abs=0.05)


def test_btyd_walkthrough(donations: pd.DataFrame) -> None:
    # The walkthrough prints its parameters to 7 digits; their rounding moves the 7th digit of
    # the expectations, hence 2e-6.
    model = BetaGeoBetaBinomModel.from_params(BTYD_PARAMS)
    assert model.expected_purchases_new_customer(10) == pytest.approx(3.179805, abs=2e-6)
    a_and_b = pd.concat([pattern(0, 0), pattern(4, 5)], ignore_index=True)
    np.testing.assert_allclose(
        model.expected_purchases(a_and_b, 10), [0.1302169, 3.627858], atol=2e-6
    )
    by_frequency = (
        donations.assign(e=model.expected_purchases(donations, 5) * donations["weights"])
        .groupby("frequency")[["e", "weights"]]
        .sum()
    )
    published = [0.07286318, 0.3248841, 0.7089417, 1.333666, 2.031203, 2.784482, 3.7525]
    np.testing.assert_allclose(by_frequency["e"] / by_frequency["weights"], published, atol=2e-6)


def test_predictions_equal_lifetimes(lifetimes: ModuleType) -> None:
    # lifetimes starts its likelihood's sum at 1e-15 (to keep its logarithm finite), so its
    # likelihood is ours plus 1e-15 / (B(alpha, beta) B(gamma, delta)) exactly, and every
    # prediction it divides by the likelihood is ours times ours / its likelihood: asserted to
    # 1e-10 after that correction.
    rng = np.random.default_rng(15)
    for _ in range(10):
        params = {k: float(np.exp(rng.uniform(np.log(0.1), np.log(10.0)))) for k in BTYD_PARAMS}
        model = BetaGeoBetaBinomModel.from_params(params)
        fitter = lifetimes.BetaGeoBetaBinomFitter()
        fitter.params_ = pd.Series(params)
        n = rng.integers(1, 20, 50)
        t_x = rng.integers(0, n + 1)
        x = np.where(t_x > 0, rng.integers(1, np.maximum(t_x, 1) + 1), 0)
        summary = pd.DataFrame({"frequency": x, "recency": t_x, "T": n})
        data = model._read(summary, None)[0]
        ours = np.exp(model._log_likelihood_rows(model._param_array(), data))
        theirs = np.exp(fitter._loglikelihood(list(params.values()), x, t_x, n))
        fudge = 1e-15 * np.exp(
            -betaln(params["alpha"], params["beta"]) - betaln(params["gamma"], params["delta"])
        )
        np.testing.assert_allclose(theirs - fudge, ours, rtol=1e-10)
        ratio = theirs / ours
        for m in (0, 1, 4):
            np.testing.assert_allclose(
                model.probability_alive(summary, horizon=m),
                fitter.conditional_probability_alive(m, x, t_x, n) * ratio,
                rtol=1e-10,
            )
        for t in (1, 3, 10):
            np.testing.assert_allclose(
                model.expected_purchases(summary, t),
                fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, n) * ratio,
                rtol=1e-10,
            )


def test_dert_equals_its_definition_by_mpmath() -> None:
    # sum_k P(transaction at n + k) / 1.1^k, summed by mpmath at 40 digits (BTYD's bgbb.DERT
    # example: x = 3, t_x = 4, n = 6, d = 0.1; and x = 1..6, t_x = 6).
    model = BetaGeoBetaBinomModel.from_params(BTYD_PARAMS)
    rows = pd.DataFrame(
        {"frequency": [3, 0, 1, 2, 3, 4, 5, 6], "recency": [4, 0, 6, 6, 6, 6, 6, 6], "T": 6}
    )
    reference = [
        1.6292704685118257, 0.11475077632460028, 1.8077634319567555, 2.6281584675345905,
        3.4485535031124255, 4.2689485386902604, 5.0893435742680954, 5.9097386098459304,
    ]  # fmt: skip
    np.testing.assert_allclose(model.dert(rows, 0.1), reference, rtol=1e-10)
    # DERT is the discounted sum of the expected donations in each future year.
    years = np.arange(1, 400)
    cumulative = np.column_stack([model.expected_purchases(rows, int(t)) for t in years])
    steps = np.diff(np.column_stack([np.zeros(len(rows)), cumulative]), axis=1)
    np.testing.assert_allclose(model.dert(rows, 0.1), steps @ 1.1**-years, rtol=1e-10)


@SETTINGS
@given(
    alpha=log_uniform(0.05, 20.0),
    beta=log_uniform(0.05, 20.0),
    gamma=log_uniform(0.05, 20.0),
    delta=log_uniform(0.05, 20.0),
    n=st.integers(0, 30),
    data=st.data(),
)
def test_properties(
    alpha: float, beta: float, gamma: float, delta: float, n: int, data: st.DataObject
) -> None:
    model = BetaGeoBetaBinomModel.from_params(
        {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}
    )
    t_x = data.draw(st.integers(0, n))
    x = data.draw(st.integers(1, t_x)) if t_x > 0 else 0
    row = pattern(x, t_x, n)
    h = data.draw(st.integers(1, 12))
    pmf = [model.probability_of_purchases(row, k, h).iloc[0] for k in range(h + 1)]
    assert all(0.0 <= p <= 1.0 for p in pmf)
    assert sum(pmf) == pytest.approx(1.0, abs=1e-12)
    assert float(np.dot(np.arange(h + 1), pmf)) == pytest.approx(
        model.expected_purchases(row, h).iloc[0], rel=1e-9, abs=1e-300
    )
    assert model.probability_of_purchases(row, h + 1, h).iloc[0] == 0.0
    assert pmf[0] == pytest.approx(model.probability_no_purchase(row, h).iloc[0], abs=1e-14)
    dert = model.dert(row, 0.1).iloc[0]
    assert np.isfinite(dert) and dert >= 0
    assert dert > 0 or model.probability_alive(row).iloc[0] < 1e-250
    alive = [model.probability_alive(row, horizon=k).iloc[0] for k in range(4)]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(alive))


def test_the_contract_and_persistence(
    fitted: BetaGeoBetaBinomModel, donations: pd.DataFrame, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "bgbb.json")
    loaded = load_model(tmp_path / "bgbb.json")
    assert isinstance(loaded, BetaGeoBetaBinomModel) and loaded.time_unit_ == "P"
    pd.testing.assert_series_equal(
        loaded.expected_purchases(donations, 5), fitted.expected_purchases(donations, 5)
    )
    # The full table (one row per donor) fits as the weighted one.
    full = donations.loc[donations.index.repeat(donations["weights"])].drop(columns="weights")
    assert len(full) == 11_104
    again = BetaGeoBetaBinomModel().fit(full)
    assert again.params_ == pytest.approx(fitted.params_, rel=1e-9)
    assert again.log_likelihood_ == pytest.approx(fitted.log_likelihood_, rel=1e-12)


def test_discrete_inputs_are_checked(
    fitted: BetaGeoBetaBinomModel, donations: pd.DataFrame
) -> None:
    with pytest.raises(ConfigError, match="'horizon' must be a whole number of opportunities"):
        fitted.expected_purchases(donations, 2.5)
    with pytest.raises(DataValidationError, match="column 'recency' is not a whole number"):
        fitted.expected_purchases(pattern(1, 2, 6).astype(float).assign(recency=2.5), 1)
    with pytest.raises(DataValidationError, match="'frequency' is larger than recency"):
        fitted.expected_purchases(pattern(3, 2, 6), 1)
    lifetimes_names = donations.rename(columns={"T": "periods"})
    with pytest.raises(DataValidationError, match="rename 'periods'"):
        BetaGeoBetaBinomModel().fit(lifetimes_names, weights="weights")
    with pytest.raises(TypeError, match=r"dert\(summary, discount_rate\)"):
        customer_lifetime_value(fitted, 10.0, donations)
    with pytest.raises(ConfigError, match="'time_unit' must be 'P'"):
        BetaGeoBetaBinomModel.from_params(BTYD_PARAMS, time_unit="W")
    assert isinstance(BetaGeoModel(), BetaGeoModel)  # the other models are unchanged


@pytest.mark.parametrize("gamma", [0.3, 1.0 - 1e-5, 1.0, 1.0 + 1e-9, 1.0 + 1e-5, 4.0])
def test_long_horizons_use_the_telescoped_sum(
    gamma: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beyond 4,096 opportunities the expected purchases come from the closed form (FHS 2010
    # eq. 13, and its limit at gamma = 1): it agrees with the term-by-term sum.
    from churnmodel.models import beta_geo_beta_binom as module

    model = BetaGeoBetaBinomModel.from_params({**BTYD_PARAMS, "gamma": gamma})
    rows = pd.concat([pattern(0, 0), pattern(3, 5), pattern(6, 6, 6)], ignore_index=True)
    by_terms = np.column_stack([model.expected_purchases(rows, t) for t in (1, 7, 300)])
    monkeypatch.setattr(module, "_DIRECT_SUM_MAX", 0)
    closed = np.column_stack([model.expected_purchases(rows, t) for t in (1, 7, 300)])
    np.testing.assert_allclose(closed, by_terms, rtol=1e-9)
