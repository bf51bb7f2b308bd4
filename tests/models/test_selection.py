"""Model choice: the documented rule, with and without holdout data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import DataValidationError, ModelFitError
from churnmodel.models import BetaGeoModel, ParetoNBDModel, compare_purchase_models


def test_without_holdout_the_lowest_aic_wins(cdnow: pd.DataFrame) -> None:
    result = compare_purchase_models(cdnow)
    table = result.table
    assert list(table.index) == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    assert table.loc["BG/NBD", "log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    assert table.loc["Pareto/NBD", "log_likelihood"] == pytest.approx(-9595.0, abs=0.05)
    np.testing.assert_allclose(table["aic"], 2 * 4 - 2 * table["log_likelihood"])
    assert result.best == table["aic"].idxmin()
    assert "AIC" in result.rule
    assert result.best_model is result.models[result.best]


def test_tracking_holdout_picks_the_lowest_cumulative_mape(
    cdnow: pd.DataFrame, cdnow_holdout: dict[str, Any]
) -> None:
    weekly = cdnow_holdout["weekly"]
    result = compare_purchase_models(cdnow, holdout=weekly)
    table = result.table
    assert result.best == table["holdout_mape"].idxmin()
    assert "MAPE" in result.rule
    # Recompute one entry by hand.
    model = result.models["BG/NBD"]
    predicted = model.expected_cumulative_purchases(cdnow, weekly.index).to_numpy()
    actual = weekly.cumsum().to_numpy()
    mape = np.mean(np.abs(predicted - actual) / actual)
    assert table.loc["BG/NBD", "holdout_mape"] == pytest.approx(mape)
    assert table["holdout_mape"].between(0, 0.5).all()


def test_per_customer_holdout_picks_the_lowest_mae(
    cdnow: pd.DataFrame, cdnow_holdout: dict[str, Any]
) -> None:
    frame = cdnow_holdout["per_customer"]
    result = compare_purchase_models(cdnow, holdout=frame)
    assert result.best == result.table["holdout_mae"].idxmin()
    model = result.models["Pareto/NBD"]
    mae = np.mean(np.abs(model.expected_purchases(cdnow, 39) - frame["frequency_holdout"]))
    assert result.table.loc["Pareto/NBD", "holdout_mae"] == pytest.approx(mae)
    # All three under-forecast weeks 40-78 of CDNOW, as Fader, Hardie and Lee (2005) show.
    assert (result.table["holdout_total_error"] < 0).all()


def test_a_failing_candidate_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch, small_days: pd.DataFrame
) -> None:
    def fail(self: ParetoNBDModel, *args: object, **kwargs: object) -> None:
        raise ModelFitError("no luck")

    monkeypatch.setattr(ParetoNBDModel, "fit", fail)
    candidates = {"bg": BetaGeoModel(), "p": ParetoNBDModel()}
    result = compare_purchase_models(small_days, candidates=candidates)
    assert result.best == "bg"
    assert result.errors == {"p": "no luck"}


def test_bad_holdout_is_rejected(cdnow: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="increasing period ends"):
        compare_purchase_models(cdnow, holdout=pd.Series([1.0, 2.0], index=[2.0, 1.0]))
    with pytest.raises(DataValidationError, match="no column 'duration_holdout'"):
        compare_purchase_models(cdnow, holdout=pd.DataFrame({"frequency_holdout": [1]}))
    with pytest.raises(DataValidationError, match="Series or DataFrame"):
        compare_purchase_models(cdnow, holdout=[1, 2])  # type: ignore[arg-type]
