"""JSON persistence: round trip without pickle, errors on foreign input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import DataValidationError
from churnmodel.models import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    load_model,
)


@pytest.mark.parametrize("fixture", ["bgnbd_cdnow", "mbgnbd_cdnow", "pareto_cdnow", "gg_cdnow"])
def test_round_trip_through_a_json_file(
    fixture: str, request: pytest.FixtureRequest, cdnow: pd.DataFrame, tmp_path: Path
) -> None:
    model = request.getfixturevalue(fixture)
    path = tmp_path / "model.json"
    model.save(path)
    state = json.loads(path.read_text())  # plain JSON, readable by anything
    assert state["model"] == type(model).__name__
    again = type(model).load(path)
    same = load_model(path)
    assert type(same) is type(model)
    assert again.params_ == model.params_
    assert again.log_likelihood_ == model.log_likelihood_
    np.testing.assert_array_equal(again.covariance_, model.covariance_)
    assert again.get_params() == model.get_params()
    if isinstance(model, GammaGammaModel):
        pd.testing.assert_series_equal(again.expected_spend(cdnow), model.expected_spend(cdnow))
    else:
        assert again.time_unit_ == model.time_unit_
        pd.testing.assert_series_equal(
            again.expected_purchases(cdnow, 10), model.expected_purchases(cdnow, 10)
        )


def test_loading_the_wrong_class_is_refused(bgnbd_cdnow: BetaGeoModel) -> None:
    with pytest.raises(DataValidationError, match="is a BetaGeoModel, not a ParetoNBDModel"):
        ParetoNBDModel.from_dict(bgnbd_cdnow.to_dict())


def test_damaged_state_is_refused(bgnbd_cdnow: BetaGeoModel, tmp_path: Path) -> None:
    state = bgnbd_cdnow.to_dict()
    with pytest.raises(DataValidationError, match="unknown saved-model format"):
        BetaGeoModel.from_dict({**state, "format": "dill"})
    with pytest.raises(DataValidationError, match="invalid parameters"):
        BetaGeoModel.from_dict({**state, "params": {**state["params"], "r": -1.0}})
    with pytest.raises(DataValidationError, match="incomplete"):
        BetaGeoModel.from_dict({**state, "params": {"r": 1.0}})
    with pytest.raises(DataValidationError, match="covariance of shape"):
        BetaGeoModel.from_dict({**state, "covariance": [[1.0]]})
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(DataValidationError, match="invalid JSON"):
        load_model(bad)
