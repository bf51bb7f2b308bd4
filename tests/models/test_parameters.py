"""Parameters in and out (issue 15): the log-likelihood of any summary, fitting on weighted
(compressed) summaries, models from known parameters, and the ``summary_`` table."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import DataValidationError
from churnmodel.models import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    load_model,
)

PUBLISHED_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


def compressed(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct (frequency, recency, T), with the customers it stands for."""
    table = summary.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()
    table.attrs["time_unit"] = summary.attrs["time_unit"]
    return table


def test_log_likelihood_of_the_published_parameters(cdnow: pd.DataFrame) -> None:
    # FHL (2005): -9582.4 (BG/NBD); Fader, Hardie and Lee's Pareto/NBD note: -9595.0.
    bg = BetaGeoModel.from_params(PUBLISHED_BG, time_unit="W")
    assert bg.log_likelihood(cdnow) == pytest.approx(-9582.4, abs=0.05)
    pareto = ParetoNBDModel.from_params(PUBLISHED_PARETO, time_unit="W")
    assert pareto.log_likelihood(cdnow) == pytest.approx(-9595.0, abs=0.05)


@pytest.mark.parametrize("fixture", ["bgnbd_cdnow", "mbgnbd_cdnow", "pareto_cdnow"])
def test_log_likelihood_at_the_fit_is_the_fitted_log_likelihood(
    fixture: str, cdnow: pd.DataFrame, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(fixture)
    assert model.log_likelihood(cdnow) == pytest.approx(model.log_likelihood_, rel=1e-12)
    # Weighted, compressed rows give the same total; a summary in days is converted first.
    table = compressed(cdnow)
    assert model.log_likelihood(table, weights="count") == pytest.approx(
        model.log_likelihood_, rel=1e-12
    )
    days = cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7)
    days.attrs["time_unit"] = "D"
    assert model.log_likelihood(days) == pytest.approx(model.log_likelihood_, rel=1e-12)


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_a_weighted_compressed_summary_fits_like_the_full_one(
    cls: type[BetaGeoModel], cdnow: pd.DataFrame
) -> None:
    full = cls().fit(cdnow)
    table = compressed(cdnow)
    assert len(table) < len(cdnow) / 2
    by_column = cls().fit(table, weights="count")
    by_array = cls().fit(table.drop(columns="count"), weights=table["count"].to_numpy())
    for model in (by_column, by_array):
        assert model.params_ == pytest.approx(full.params_, rel=1e-12)
        assert model.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-12)
        assert model.n_customers_ == 2357
        assert model.covariance_ is not None and full.covariance_ is not None
        # The numerical Hessian sums the rows in another order (rounding at step 1e-4).
        np.testing.assert_allclose(model.covariance_, full.covariance_, rtol=1e-3)


def test_bad_weights_are_refused(cdnow: pd.DataFrame) -> None:
    table = compressed(cdnow)
    with pytest.raises(DataValidationError, match="no weights column 'counts'"):
        BetaGeoModel().fit(table, weights="counts")
    with pytest.raises(DataValidationError, match="'weights' has 3 values but the summary"):
        BetaGeoModel().fit(table, weights=[1, 2, 3])
    bad = table.assign(count=table["count"].astype(float))
    bad.attrs["time_unit"] = "W"
    bad.loc[5, "count"] = -1.0
    with pytest.raises(
        DataValidationError, match=r"'count' is missing, infinite or negative .* -1"
    ):
        BetaGeoModel().fit(bad, weights="count")
    with pytest.raises(DataValidationError, match="every weight in 'weights' is 0"):
        BetaGeoModel().fit(table, weights=np.zeros(len(table)))


def test_a_model_from_known_parameters_predicts_like_the_fitted_one(
    bgnbd_cdnow: BetaGeoModel, cdnow: pd.DataFrame, tmp_path: Path
) -> None:
    given = BetaGeoModel.from_params(
        bgnbd_cdnow.params_, time_unit="W", covariance=bgnbd_cdnow.covariance_
    )
    assert given.fit_strategy_ == "given" and given.n_customers_ == 0
    assert math.isnan(given.log_likelihood_)
    pd.testing.assert_series_equal(
        given.expected_purchases(cdnow, 39), bgnbd_cdnow.expected_purchases(cdnow, 39)
    )
    pd.testing.assert_frame_equal(given.summary_, bgnbd_cdnow.summary_)
    # Saved and loaded like any model (the unknown log-likelihood is null in the JSON).
    given.save(tmp_path / "given.json")
    assert '"log_likelihood": null' in (tmp_path / "given.json").read_text()
    loaded = load_model(tmp_path / "given.json")
    assert isinstance(loaded, BetaGeoModel) and math.isnan(loaded.log_likelihood_)
    assert loaded.params_ == given.params_
    spend = GammaGammaModel.from_params({"p": 6.25, "q": 3.74, "v": 15.44})
    assert spend.expected_spend(cdnow).iloc[0] > 0
    assert math.isnan(spend.summary_.loc["q", "std_error"])


def test_known_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match=r"'params' must have exactly the keys \['r', 'alpha'"):
        BetaGeoModel.from_params({"r": 1.0}, time_unit="W")
    with pytest.raises(ValueError, match=r"'params\['a'\]' must be a number > 0, got -1"):
        BetaGeoModel.from_params({**PUBLISHED_BG, "a": -1}, time_unit="W")
    with pytest.raises(ValueError, match="'time_unit' must be"):
        BetaGeoModel.from_params(PUBLISHED_BG, time_unit="Y")


def test_pareto_standard_errors_equal_clvtools(pareto_cdnow: ParetoNBDModel) -> None:
    # CLVTools' tests (test_correctness_pnbd_nocovstaticcov.R) assert these standard errors of
    # the CDNOW Pareto/NBD parameters.
    clvtools = [0.0476264, 0.8427222, 0.1872594, 6.2105448]
    np.testing.assert_allclose(pareto_cdnow.summary_["std_error"], clvtools, rtol=2e-3)


def test_summary_table_has_lifetimes_standard_errors(
    bgnbd_cdnow: BetaGeoModel, cdnow: pd.DataFrame, lifetimes: ModuleType
) -> None:
    table = bgnbd_cdnow.summary_
    assert list(table.columns) == ["estimate", "std_error", "ci_low", "ci_high"]
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert table.attrs["level"] == 0.95
    assert table["estimate"].to_dict() == bgnbd_cdnow.params_
    assert (table["ci_low"] < table["estimate"]).all()
    assert (table["estimate"] < table["ci_high"]).all()
    fitter = lifetimes.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    # lifetimes' standard errors come from autograd's exact Hessian, ours from central
    # differences of the log-likelihood: equal to 1e-3.
    np.testing.assert_allclose(table["std_error"], fitter.standard_errors_, rtol=1e-3)
