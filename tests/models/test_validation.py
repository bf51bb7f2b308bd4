"""Bad input raises DataValidationError naming the column, the rows and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models import BetaGeoModel, GammaGammaModel
from tests.models.helpers import summary_frame

GOOD = [(2, 5.0, 10.0), (0, 0.0, 8.0), (1, 3.0, 3.0)]


@pytest.mark.parametrize(
    ("rows", "column", "message"),
    [
        ([(2, 12.0, 10.0)], "recency", "larger than T"),
        ([(-1, 0.0, 10.0)], "frequency", "negative"),
        ([(1.5, 2.0, 10.0)], "frequency", "not a whole number"),
        ([(1, -2.0, 10.0)], "recency", "negative"),
        ([(0, 0.0, -1.0)], "T", "negative"),
        ([(0, 3.0, 10.0)], "recency", "frequency 0"),
        ([(1, np.nan, 10.0)], "recency", "missing or infinite"),
        ([(1, 2.0, np.inf)], "T", "missing or infinite"),
    ],
)
def test_bad_rows_are_named(
    bgnbd_cdnow: BetaGeoModel, rows: list[tuple[float, float, float]], column: str, message: str
) -> None:
    frame = summary_frame([*GOOD, *rows], unit="W")
    for call in (lambda: BetaGeoModel().fit(frame), lambda: bgnbd_cdnow.probability_alive(frame)):
        with pytest.raises(DataValidationError, match=message) as info:
            call()
        err = info.value
        assert err.column == column
        assert err.rows is not None and list(err.rows.index) == [3]
        assert err.hint
        assert "index 3" in str(err) and "Hint:" in str(err)


def test_missing_column_is_named() -> None:
    frame = summary_frame(GOOD).drop(columns="T")
    with pytest.raises(DataValidationError, match="no column 'T'") as info:
        BetaGeoModel().fit(frame)
    assert info.value.column == "T"


def test_non_numeric_column() -> None:
    frame = summary_frame(GOOD)
    frame["T"] = ["10", "8", "3"]
    with pytest.raises(DataValidationError, match="'T' must be numeric"):
        BetaGeoModel().fit(frame)


def test_empty_and_not_a_frame() -> None:
    with pytest.raises(DataValidationError, match="no rows"):
        BetaGeoModel().fit(summary_frame([]))
    with pytest.raises(DataValidationError, match="must be a pandas DataFrame"):
        BetaGeoModel().fit(np.zeros((3, 3)))  # type: ignore[arg-type]


def test_time_unit_must_be_known() -> None:
    frame = summary_frame(GOOD, unit=None)
    with pytest.raises(DataValidationError, match="time_unit='D'"):
        BetaGeoModel().fit(frame)
    mismatch = r"time_unit='D' was passed but summary.attrs\['time_unit'\] is 'W'"
    with pytest.raises(DataValidationError, match=mismatch):
        BetaGeoModel().fit(summary_frame(GOOD, unit="W"), time_unit="D")
    with pytest.raises(DataValidationError, match="'D', 'W' or 'M', got 'Y'"):
        BetaGeoModel().fit(frame, time_unit="Y")


def test_spend_must_not_be_negative_for_repeat_buyers() -> None:
    frame = pd.DataFrame({"frequency": [1, 2, 0], "monetary_value": [10.0, -3.0, 0.0]})
    with pytest.raises(DataValidationError, match=r"negative for 1 repeat buyer\(s\)") as info:
        GammaGammaModel().fit(frame)
    assert info.value.column == "monetary_value"


def test_bad_arguments_show_the_value(bgnbd_cdnow: BetaGeoModel, cdnow: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"'horizon' must be > 0, got -7"):
        bgnbd_cdnow.expected_purchases(cdnow, -7)
    with pytest.raises(ConfigError, match="'penalizer' must be a number >= 0, got -1"):
        BetaGeoModel(penalizer=-1).fit(cdnow)
    with pytest.raises(ConfigError, match="'initial_params' must have exactly the keys"):
        BetaGeoModel(initial_params={"r": 1.0}).fit(cdnow)
    with pytest.raises(ConfigError, match=r"'min_q' must be a number > 1, got 0\.5"):
        GammaGammaModel(min_q=0.5).fit(cdnow)
    with pytest.raises(ConfigError, match="'max_frequency' must be an integer >= 1, got 0"):
        bgnbd_cdnow.frequency_distribution(cdnow, max_frequency=0)
