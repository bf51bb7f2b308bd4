"""The pandas shortcut for plainly valid requests reads rows exactly as load_transactions does.

Every input it takes gives the values DuckDB's load gives; every input with anything to
quarantine, trim or interpret is left to ``load_transactions`` (``None``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.io import connect, load_transactions
from churnmodel.io.plain import plain_transactions


def _loaded(frame: pd.DataFrame, timezone: str) -> pd.DataFrame:
    table, report = load_transactions(
        connect(threads=1), frame, timezone=timezone, max_quarantine_share=0.0
    )
    assert report.rows_used == len(frame)
    return table.to_pandas()[["customer_id", "timestamp", "amount"]]


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert list(got["customer_id"]) == list(expected["customer_id"])
    assert got["customer_id"].dtype == "str"
    np.testing.assert_array_equal(
        got["timestamp"].to_numpy(dtype="datetime64[us]"),
        expected["timestamp"].to_numpy(dtype="datetime64[us]"),
    )
    assert got["amount"].dtype == np.float64
    np.testing.assert_array_equal(got["amount"].to_numpy(), expected["amount"].to_numpy())


PLAIN: dict[str, dict[str, list[Any]]] = {
    "naive text, date-only and fractions": {
        "customer_id": ["0042", "0042", "ü-7", "a b", "Z"],
        "timestamp": [
            "2023-03-01",
            "2023-03-01 10:00",
            "2023-03-02T23:59:59.123456",
            "2023-03-03T00:00:00",
            "2300-01-01 08:00",  # beyond pandas' nanosecond range
        ],
        "amount": [10.0, -2.5, 0.0, 7.0, 1e9],
    },
    "offsets of every form": {
        "customer_id": ["A", "A", "B", "C"],
        "timestamp": [
            "2023-06-01T23:30:00+00:00",
            "2023-06-01T23:30:00Z",
            "2023-06-01T01:30:00-0500",
            "2023-06-01T22:00:00+02",
        ],
        "amount": [1, 2, 3, 4],
    },
    "ambiguous wall time (autumn change)": {
        "customer_id": ["A", "B"],
        "timestamp": ["2023-10-29 02:30:00", "2023-10-29 01:59:00"],
        "amount": [5.5, 6.5],
    },
    "numbers as Python objects": {
        "customer_id": ["A", "B"],
        "timestamp": ["2023-01-01", "2023-01-02"],
        "amount": pd.Series([3, 4.25], dtype=object),
    },
}
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_requests_read_as_load_transactions_reads_them(name: str, zone: str) -> None:
    frame = pd.DataFrame(PLAIN[name])
    got = plain_transactions(frame, timezone=zone)
    assert got is not None, name
    _same(got, _loaded(frame, zone))


@pytest.mark.parametrize("zone", ZONES)
def test_datetime_columns_naive_and_aware(zone: str) -> None:
    stamps = pd.to_datetime(["2023-03-01 23:30", "2023-07-02 00:30", "2024-02-29 12:00"])
    for ts in (stamps, stamps.tz_localize("Asia/Tokyo")):
        frame = pd.DataFrame({"customer_id": ["x", "y", "x"], "timestamp": ts, "amount": [1, 2, 3]})
        got = plain_transactions(frame, timezone=zone)
        assert got is not None
        _same(got, _loaded(frame, zone))


BASE = {"customer_id": ["A", "B"], "timestamp": ["2023-01-01", "2023-01-02"], "amount": [1.0, 2.0]}
NOT_PLAIN: dict[str, dict[str, Any]] = {
    "id with a leading space": {"customer_id": [" A", "B"]},
    "id with a trailing space": {"customer_id": ["A ", "B"]},
    "blank id": {"customer_id": ["", "B"]},
    "null marker id": {"customer_id": ["NaN", "B"]},
    "None id": {"customer_id": [None, "B"]},
    "numeric ids": {"customer_id": [1, 2]},
    "mixed ids": {"customer_id": ["A", 2]},
    "amount as text": {"amount": ["$1.00", "2"]},
    "NaN amount": {"amount": [np.nan, 2.0]},
    "infinite amount": {"amount": [np.inf, 2.0]},
    "boolean amounts": {"amount": [True, False]},
    "None amount": {"amount": pd.Series([None, 2.0], dtype=object)},
    "day first": {"timestamp": ["31/01/2023", "2023-01-02"]},
    "date that does not exist": {"timestamp": ["2023-02-30", "2023-01-02"]},
    "surrounding spaces": {"timestamp": [" 2023-01-01", "2023-01-02"]},
    "some offsets, some not": {"timestamp": ["2023-01-01T10:00:00+02:00", "2023-01-02"]},
    "nanoseconds": {"timestamp": ["2023-01-01T10:00:00.123456789", "2023-01-02"]},
    "missing timestamp": {"timestamp": [None, "2023-01-02"]},
}


@pytest.mark.parametrize("name", list(NOT_PLAIN))
def test_anything_else_is_left_to_load_transactions(name: str) -> None:
    frame = pd.DataFrame({**BASE, **NOT_PLAIN[name]})
    assert plain_transactions(frame) is None


def test_wall_times_a_clock_change_skips_are_left_to_duckdb() -> None:
    frame = pd.DataFrame({**BASE, "timestamp": ["2023-03-26 02:30:00", "2023-01-02"]})
    assert plain_transactions(frame, timezone="Europe/Berlin") is None
    got = plain_transactions(frame, timezone="UTC")
    assert got is not None
    _same(got, _loaded(frame, "UTC"))


def test_empty_or_incomplete_frames_are_not_plain() -> None:
    assert plain_transactions(pd.DataFrame(BASE).iloc[:0]) is None
    assert plain_transactions(pd.DataFrame(BASE).drop(columns="amount")) is None
