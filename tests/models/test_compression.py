"""Compressed fitting: one weighted row per distinct (frequency, recency, T) (Gamma-Gamma:
(frequency, monetary_value)) gives the uncompressed fit's estimate, log-likelihood and
covariance to 1e-9, for every model, on CDNOW, the donations panel and simulated summaries;
``fit`` compresses by itself when the distinct rows are fewer than 98 % of the rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from churnmodel.datasets import load_donations
from churnmodel.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    simulate_bgnbd_summary,
)
from churnmodel.models._base import COMPRESSION_SHARE, ProbabilisticModel
from tests.models.helpers import DAY_PARAMS, SPEND_PARAMS

CONTINUOUS = (BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, GammaGammaModel)
RTOL = 1e-9


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """5,000 simulated customers at day resolution, ages 60-365 days, with spend rounded to
    whole currency units (so that repeat buyers share (frequency, monetary_value) too)."""
    ages = np.random.default_rng(3).integers(60, 366, 5000)
    frame = simulate_bgnbd_summary(5000, DAY_PARAMS, ages, seed=5, spend_params=SPEND_PARAMS)
    frame["monetary_value"] = frame["monetary_value"].round()
    frame.loc[frame["frequency"] > 0, "monetary_value"] = frame["monetary_value"].clip(lower=1)
    return frame


@pytest.fixture(scope="module")
def donors() -> pd.DataFrame:
    """The donations panel (FHS 2010) expanded to one row per donor (11,104 rows)."""
    table = load_donations()
    rows = np.repeat(np.arange(len(table)), table["weights"].to_numpy().astype(int))
    return table.iloc[rows][["frequency", "recency", "T"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def simulated_panel() -> pd.DataFrame:
    """4,000 donors simulated from BG/BB (FHS 2010's parameters) over 8 opportunities."""
    rng = np.random.default_rng(9)
    n_donors, n = 4000, 8
    p = rng.beta(1.2, 0.75, n_donors)  # purchase probability while alive
    theta = rng.beta(0.66, 2.78, n_donors)  # dropout probability per opportunity
    alive = np.ones(n_donors, dtype=bool)
    x = np.zeros(n_donors, dtype=int)
    t_x = np.zeros(n_donors, dtype=int)
    for t in range(1, n + 1):
        alive &= rng.random(n_donors) >= theta
        buys = alive & (rng.random(n_donors) < p)
        x += buys
        t_x[buys] = t
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": n})


def assert_same_fit(compressed: ProbabilisticModel, plain: ProbabilisticModel) -> None:
    assert compressed.fit_rows_ < plain.fit_rows_
    names = compressed.param_names
    np.testing.assert_allclose(
        [compressed.params_[k] for k in names], [plain.params_[k] for k in names], rtol=RTOL
    )
    np.testing.assert_allclose(compressed.log_likelihood_, plain.log_likelihood_, rtol=RTOL)
    assert compressed.n_customers_ == plain.n_customers_
    assert compressed.covariance_ is not None and plain.covariance_ is not None
    # The covariance inverts a numerical Hessian: second differences (step 1e-4) of a sum of
    # thousands of terms lose about 8 digits to cancellation, whichever order the sum is in.
    scale = np.sqrt(np.outer(np.diag(plain.covariance_), np.diag(plain.covariance_)))
    np.testing.assert_allclose(compressed.covariance_ / scale, plain.covariance_ / scale, atol=1e-3)


@pytest.mark.parametrize("model", CONTINUOUS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("data", ["cdnow", "simulated"])
def test_compressed_fit_is_the_uncompressed_fit(
    model: type[ProbabilisticModel], data: str, request: pytest.FixtureRequest
) -> None:
    summary = request.getfixturevalue(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compressed = model().fit(summary, compress=True)
        plain = model().fit(summary, compress=False)
    assert plain.fit_rows_ == (
        int((summary["frequency"] > 0).sum()) if model is GammaGammaModel else len(summary)
    )
    assert_same_fit(compressed, plain)


@pytest.mark.parametrize("data", ["donors", "simulated_panel"])
def test_bgbb_compressed_fit_is_the_uncompressed_fit(
    data: str, request: pytest.FixtureRequest
) -> None:
    summary = request.getfixturevalue(data)
    compressed = BetaGeoBetaBinomModel().fit(summary)  # auto: a handful of distinct rows
    plain = BetaGeoBetaBinomModel().fit(summary, compress=False)
    assert compressed.fit_rows_ <= (summary["T"].max() + 1) ** 2
    assert_same_fit(compressed, plain)


def test_bgbb_weighted_table_is_the_expanded_panel(donors: pd.DataFrame) -> None:
    table = BetaGeoBetaBinomModel().fit(load_donations(), weights="weights")
    expanded = BetaGeoBetaBinomModel().fit(donors)
    assert_same_fit(table, BetaGeoBetaBinomModel().fit(donors, compress=False))
    np.testing.assert_allclose(table.log_likelihood_, expanded.log_likelihood_, rtol=RTOL)


def test_predictions_do_not_depend_on_compression(cdnow: pd.DataFrame) -> None:
    compressed = BetaGeoModel().fit(cdnow, compress=True)
    plain = BetaGeoModel().fit(cdnow, compress=False)
    np.testing.assert_allclose(
        compressed.probability_alive(cdnow), plain.probability_alive(cdnow), rtol=RTOL
    )
    np.testing.assert_allclose(
        compressed.expected_purchases(cdnow, 10), plain.expected_purchases(cdnow, 10), rtol=RTOL
    )
    assert len(compressed.probability_alive(cdnow)) == len(cdnow)


def test_compression_is_automatic_when_it_pays(cdnow: pd.DataFrame) -> None:
    distinct = len(cdnow[["frequency", "recency", "T"]].drop_duplicates())
    assert distinct < COMPRESSION_SHARE * len(cdnow)  # CDNOW: 1,016 of 2,357
    assert BetaGeoModel().fit(cdnow).fit_rows_ == distinct
    # Every row distinct (continuous spend): nothing to gain, the rows are fitted as they are.
    repeat = cdnow[cdnow["frequency"] > 0]
    n_money = len(repeat[["frequency", "monetary_value"]].drop_duplicates())
    spend = GammaGammaModel().fit(cdnow)
    expected = n_money if n_money < COMPRESSION_SHARE * len(repeat) else len(repeat)
    assert spend.fit_rows_ == expected


def test_few_distinct_rows_fit_uncompressed_when_forced(simulated: pd.DataFrame) -> None:
    unique = simulated.drop_duplicates(["frequency", "recency", "T"])
    model = BetaGeoModel().fit(unique)  # every row distinct: auto leaves them as they are
    assert model.fit_rows_ == len(unique)
    assert BetaGeoModel().fit(unique, compress=True).fit_rows_ == len(unique)


def test_gamma_gamma_weighted_table_is_the_full_summary(simulated: pd.DataFrame) -> None:
    # What a log on Spark sends: one row per distinct (frequency, monetary_value) and its count;
    # a few repeat buyers whose repeats net to 0 are counted in the warning, as in the full fit.
    summary = simulated.copy()
    summary.loc[summary.index[summary["frequency"] > 0][:7], "monetary_value"] = 0.0
    table = (
        summary.groupby(["frequency", "monetary_value"]).size().rename("customers").reset_index()
    )
    assert len(table) < 0.5 * len(summary)
    with pytest.warns(UserWarning, match="7 of") as weighted_warnings:
        weighted = GammaGammaModel().fit(table, weights="customers")
    with pytest.warns(UserWarning, match="7 of") as plain_warnings:
        plain = GammaGammaModel().fit(summary, compress=False)
    assert str(weighted_warnings[0].message) == str(plain_warnings[0].message)
    names = plain.param_names
    np.testing.assert_allclose(
        [weighted.params_[k] for k in names], [plain.params_[k] for k in names], rtol=RTOL
    )
    np.testing.assert_allclose(weighted.log_likelihood_, plain.log_likelihood_, rtol=RTOL)
    assert weighted.n_customers_ == plain.n_customers_
    np.testing.assert_allclose(
        weighted.spend_frequency_correlation_, plain.spend_frequency_correlation_, rtol=RTOL
    )
