"""Dates given by people are ISO 8601; everything else is refused with the accepted form."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from churnmodel import ConfigError
from churnmodel.config import load_settings
from churnmodel.dates import parse_date

AMBIGUOUS = ["01/06/2024", "13/06/2024", "06-01-2024", "2024/06/01", "2024-6-1", "1 June 2024"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-06-01", date(2024, 6, 1)),
        (" 2024-06-01 ", date(2024, 6, 1)),
        ("2024-06-01T23:30", date(2024, 6, 1)),
        ("2024-06-01 23:30:00+02:00", date(2024, 6, 1)),
        ("2024-06-01T00:00:00Z", date(2024, 6, 1)),
        (date(2024, 6, 1), date(2024, 6, 1)),
        (datetime(2024, 6, 1, 12), date(2024, 6, 1)),
        (pd.Timestamp("2024-06-01 12:00"), date(2024, 6, 1)),
        (np.datetime64("2024-06-01"), date(2024, 6, 1)),
    ],
)
def test_iso_dates_and_date_objects(value: object, expected: date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", [*AMBIGUOUS, "2024-02-30", "", "today", 20240601, pd.NaT])
def test_anything_else_is_refused_with_the_accepted_form(value: object) -> None:
    with pytest.raises(ConfigError, match=r"'as_of' must be an ISO 8601 date, YYYY-MM-DD"):
        parse_date(value)


@pytest.mark.parametrize("value", AMBIGUOUS)
def test_the_library_refuses_them_too(value: str) -> None:
    tx = pd.DataFrame({"customer_id": ["a"], "timestamp": ["2024-05-01"], "amount": [10.0]})
    from churnmodel import customer_features, read_transactions

    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        read_transactions(tx, as_of=value)
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        customer_features(tx.assign(timestamp=pd.to_datetime(tx["timestamp"])), as_of=value)


def test_settings_refuse_a_cutoff_that_is_not_iso(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNMODEL_MODEL__CUTOFF", "01/06/2024")
    with pytest.raises(ConfigError, match="'cutoff' must be an ISO 8601 date, YYYY-MM-DD"):
        load_settings()
    monkeypatch.setenv("CHURNMODEL_MODEL__CUTOFF", "2024-06-01")
    assert load_settings().model.cutoff == date(2024, 6, 1)
