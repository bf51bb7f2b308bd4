"""A corpus of bad inputs, each with its expected outcome.

Every case is an input a real shop export can produce and the outcome we promise: either a
``DataValidationError`` naming the problem (and, through the CLI, exit code 2 with one clear
line, never a traceback), or a successful load whose quarantine reasons and counts are exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnmodel import DataValidationError, customer_features, read_transactions
from churnmodel.cli import main

HEADER = "customer_id,timestamp,amount\n"


def _csv(text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / "log.csv"
        path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
        return path

    return build


def _bytes(data: bytes, name: str = "log.csv") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return build


def _parquet(table: pa.Table) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / "log.parquet"
        pq.write_table(table, path)
        return path

    return build


def _large_csv(tmp: Path) -> Path:
    rng = np.random.default_rng(5)
    n = 1_000_000
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    frame = pd.DataFrame(
        {
            "customer_id": np.char.add("c", rng.integers(0, 50_000, n).astype(str)),
            "timestamp": days.strftime("%Y-%m-%d"),
            "amount": rng.gamma(2.0, 10.0, n).round(2).astype(str),
        }
    )
    bad = rng.choice(n, size=5_000, replace=False)
    frame.loc[bad[:2_000], "timestamp"] = "31/02/2023"
    frame.loc[bad[2_000:4_000], "amount"] = "n/a"
    frame.loc[bad[4_000:], "customer_id"] = ""
    path = tmp / "big.csv"
    frame.to_csv(path, index=False)
    return path


@dataclass
class Case:
    name: str
    build: Callable[[Path], Path | pd.DataFrame]
    kwargs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # regex the DataValidationError message must match
    column: str | None = None  # the column the error must name
    quarantined: dict[str, int] = field(default_factory=dict)
    check: Callable[[pd.DataFrame, Any], None] | None = None
    # regex the CLI's one line must match when the load succeeds but the run cannot
    cli_error: str | None = None


def _amounts(expected: list[float]) -> Callable[[pd.DataFrame, Any], None]:
    def check(tx: pd.DataFrame, report: Any) -> None:
        assert tx["amount"].tolist() == expected

    return check


def _ids(expected: list[str]) -> Callable[[pd.DataFrame, Any], None]:
    def check(tx: pd.DataFrame, report: Any) -> None:
        assert tx["customer_id"].tolist() == expected

    return check


def _check_returns_only(tx: pd.DataFrame, report: Any) -> None:
    f = customer_features(tx, "2024-12-31")
    assert f.index.tolist() == ["a"]
    assert f.attrs["customers_without_purchase"] == 1


def _check_one_time(tx: pd.DataFrame, report: Any) -> None:
    f = customer_features(tx, "2024-12-31")
    assert len(f) == 3 and (f["frequency"] == 0).all() and (f["monetary_value"] == 0).all()
    assert (f["lifecycle_stage"] == "inactive").all()  # a year without a second purchase


def _check_single(tx: pd.DataFrame, report: Any) -> None:
    f = customer_features(tx, "2024-03-31")
    assert len(f) == 1 and f.loc["solo", "frequency"] == 2


def _check_extreme(tx: pd.DataFrame, report: Any) -> None:
    f = customer_features(tx, "2024-12-31")
    assert np.isfinite(f.select_dtypes("number").fillna(0).to_numpy()).all()


def _check_large(tx: pd.DataFrame, report: Any) -> None:
    assert report.rows_read == 1_000_000 and report.rows_used == 995_000
    assert report.reconciles


CASES = [
    Case("empty file", _csv(""), error="is empty"),
    Case("header only", _csv(HEADER), error="header but no rows"),
    Case(
        "missing column",
        _csv("cust,timestamp,amount\na,2024-01-01,1\n"),
        error=r"'customer_id' not found.*'cust', 'timestamp', 'amount'",
        column="customer_id",
    ),
    Case(
        "wrong delimiter",
        _csv("customer_id;timestamp;amount\na;2024-01-01;1\n"),
        kwargs={"delimiter": ","},
        error="not found",
        column="customer_id",
    ),
    Case(
        "semicolon and decimal comma",
        _csv("customer_id;timestamp;amount\na;2024-01-01;1,5\n"),
        kwargs={"decimal": ","},
        check=_amounts([1.5]),
    ),
    Case(
        "decimal comma read with the default decimal point",
        _csv("customer_id;timestamp;amount\n" + "a;2024-01-01;1,5\n" * 3),
        error="non-numeric amount",
        column="amount",
    ),
    Case(
        "byte-order mark",
        _bytes(b"\xef\xbb\xbf" + (HEADER + "a,2024-01-01,1\n").encode()),
        check=_amounts([1.0]),
    ),
    Case(
        "non-UTF-8 bytes",
        _bytes((HEADER.strip() + ",note\na,2024-01-01,1,caf\xe9\n").encode("latin-1")),
        error="not UTF-8|could not read",
    ),
    Case(
        "non-UTF-8 bytes with encoding given",
        _bytes((HEADER.strip() + ",note\na,2024-01-01,1,caf\xe9\n").encode("latin-1")),
        kwargs={"encoding": "latin-1"},
        check=_amounts([1.0]),
    ),
    Case(
        "mixed date formats, ISO only",
        _csv(HEADER + "a,2024-01-31,1\nb,31/01/2024,1\n" + "c,2024-01-02,1\n" * 200),
        quarantined={"unparseable timestamp": 1},
    ),
    Case(
        "mixed date formats, formats given",
        _csv(HEADER + "a,2024-01-31,1\nb,31/01/2024,1\n"),
        kwargs={"date_format": ["%Y-%m-%d", "%d/%m/%Y"]},
        check=_ids(["a", "b"]),
    ),
    Case(
        "timestamps with and without offsets",
        _csv(HEADER + "a,2024-01-01T23:30:00-05:00,1\na,2024-01-01 10:00,1\n"),
        kwargs={"timezone": "UTC"},
        check=lambda tx, r: (
            tx["timestamp"].tolist()
            == [pd.Timestamp("2024-01-02 04:30"), pd.Timestamp("2024-01-01 10:00")]
        ),
    ),
    Case(
        "dates after the as-of date",
        _csv(HEADER + "a,2024-01-01,1\na,2031-01-01,1\nb,2999-12-31,1\n"),
        kwargs={"as_of": "2024-06-30"},
        check=lambda tx, r: (len(tx), r.rows_after_as_of) == (1, 2),
    ),
    Case(
        "currency symbols and thousands separators",
        _csv(
            HEADER
            + 'a,2024-01-01,"$1,234.50"\na,2024-01-02,€ 7\n'
            + "a,2024-01-03,(12.00)\na,2024-01-04,USD 3\n"
        ),
        check=_amounts([1234.5, 7.0, -12.0, 3.0]),
    ),
    Case(
        "ambiguous thousands separator refused",
        _csv(HEADER + 'a,2024-01-01,"1,5"\n' + "b,2024-01-02,2\n" * 200),
        quarantined={"non-numeric amount": 1},
    ),
    Case(
        "blank and NaN customer ids",
        _csv(
            HEADER
            + ",2024-01-01,1\n  ,2024-01-01,1\nNaN,2024-01-01,1\nnull,2024-01-01,1\n"
            + "a,2024-01-01,1\n" * 400
        ),
        quarantined={"missing customer_id": 4},
    ),
    Case(
        "numeric ids with leading zeros",
        _csv(HEADER + "007,2024-01-01,1\n0100,2024-01-02,1\n"),
        check=_ids(["007", "0100"]),
    ),
    Case(
        "exact duplicates with an order id",
        _csv(
            "customer_id,timestamp,amount,order_id\na,2024-01-01,5,o1\na,2024-01-01,5,o1\na,2024-01-01,5,o2\n"
        ),
        kwargs={"order_col": "order_id"},
        check=lambda tx, r: (len(tx), r.duplicates_removed) == (2, 1),
    ),
    Case(
        "identical rows without an order id are kept",
        _csv(HEADER + "a,2024-01-01,5\na,2024-01-01,5\n"),
        check=lambda tx, r: (len(tx), r.identical_rows_kept) == (2, 1),
    ),
    Case(
        "a customer with only returns",
        _csv(HEADER + "a,2024-01-01,10\nb,2024-01-02,-5\nb,2024-01-03,-5\n"),
        check=_check_returns_only,
    ),
    Case(
        "exact duplicates without an order id, dropped on request",
        _csv(HEADER + "a,2024-01-01,5\na,2024-01-01,5\na,2024-01-02,5\n"),
        kwargs={"dedupe": "all"},
        check=lambda tx, r: (len(tx), r.duplicates_removed, r.identical_rows_kept) == (2, 1, 0),
    ),
    Case(
        "returns only: no customer has a purchase",
        _csv(HEADER + "a,2024-01-01,-10\nb,2024-01-02,-5\n"),
        check=lambda tx, r: len(tx) == 2,
        cli_error=r"no customer to build features for at the as-of date 2024-01-02: the log's 2 "
        r"usable rows \(from 2024-01-01 to 2024-01-02, UTC\) hold no purchase",
    ),
    Case(
        "as-of date before the first purchase",
        _csv(HEADER + "a,2024-01-01,10\nb,2024-03-02,5\n"),
        kwargs={"as_of": "2023-12-31"},
        check=lambda tx, r: (len(tx), r.rows_after_as_of) == (0, 2),  # the load accounts
        cli_error=r"no transaction on or before the as-of date 2023-12-31: the log's 2 usable "
        r"rows run from 2024-01-01 to 2024-03-02",
    ),
    Case(
        "two columns of the same name (CSV)",
        _csv("customer_id,timestamp,amount,amount\na,2024-01-01,5,6\n"),
        error=r"duplicate column names in .*log.csv: 'amount' \(columns 3 and 4\)",
        column="amount",
    ),
    Case(
        "two columns of the same name (Parquet)",
        _parquet(
            pa.Table.from_arrays(
                [pa.array(["a"]), pa.array(["2024-01-01"]), pa.array([5.0]), pa.array(["x"])],
                names=["customer_id", "timestamp", "amount", "customer_id"],
            )
        ),
        error=r"duplicate column names in .*log.parquet: 'customer_id' \(columns 1 and 4\)",
        column="customer_id",
    ),
    Case(
        "two columns of the same name (DataFrame)",
        lambda tmp: pd.DataFrame(
            [["a", "2024-01-01", 5.0, "x"]],
            columns=["customer_id", "timestamp", "amount", "timestamp"],
        ),
        error=r"duplicate column names in DataFrame: 'timestamp' \(columns 2 and 4\)",
        column="timestamp",
    ),
    Case(
        "a single customer",
        _csv(HEADER + "solo,2024-01-01,1\nsolo,2024-02-01,2\nsolo,2024-03-01,3\n"),
        check=_check_single,
    ),
    Case(
        "only one-time buyers",
        _csv(HEADER + "a,2023-01-01,1\nb,2023-02-01,2\nc,2023-03-01,3\n"),
        check=_check_one_time,
    ),
    Case(
        "extreme amounts",
        _csv(
            HEADER
            + "a,2024-01-01,1e12\na,2024-01-02,-1e12\n"
            + "b,2024-01-03,0.000001\nb,2024-02-03,999999999999.99\n"
        ),
        check=_check_extreme,
    ),
    Case(
        "non-finite amounts in text",
        _csv(HEADER + "a,2024-01-01,inf\n" + "b,2024-01-02,2\n" * 200),
        quarantined={"non-numeric amount": 1},
    ),
    Case(
        "one column entirely null",
        _csv(HEADER + "a,2024-01-01,\nb,2024-01-02,\n"),
        error=r"2 of 2 rows .*missing amount",
        column="amount",
    ),
    Case(
        "too many bad timestamps",
        _csv(HEADER + "a,01.02.2024,1\n" * 5 + "a,2024-01-02,1\n" * 5),
        error=r"5 of 10 rows \(50.00%\)",
        column="timestamp",
    ),
    Case(
        "whitespace around fields",
        _csv(HEADER + "  a , 2024-01-01 ,  3.5 \n"),
        check=lambda tx, r: (tx["customer_id"].tolist(), tx["amount"].tolist()) == (["a"], [3.5]),
    ),
    Case(
        "parquet with integer ids and text amounts",
        _parquet(
            pa.table(
                {
                    "customer_id": pa.array([42, 7], pa.int64()),
                    "timestamp": pa.array(["2024-01-01", "2024-01-02"]),
                    "amount": pa.array(["1,000.5", "2"]),
                }
            )
        ),
        check=lambda tx, r: (
            (tx["customer_id"].tolist(), tx["amount"].tolist()) == (["42", "7"], [1000.5, 2.0])
        ),
    ),
    Case(
        "parquet with decimal amounts and date-typed timestamps",
        _parquet(
            pa.table(
                {
                    "customer_id": ["a", "b"],
                    "timestamp": pa.array(
                        [pd.Timestamp("2024-01-01").date(), pd.Timestamp("2024-01-05").date()],
                        pa.date32(),
                    ),
                    "amount": pa.array([12, 3], pa.decimal128(10, 2)),
                }
            )
        ),
        check=_amounts([12.0, 3.0]),
    ),
    Case(
        "parquet with time-zone-aware timestamps",
        _parquet(
            pa.table(
                {
                    "customer_id": ["a"],
                    "timestamp": pa.array(
                        [pd.Timestamp("2024-01-01 23:30", tz="UTC")], pa.timestamp("us", tz="UTC")
                    ),
                    "amount": [1.0],
                }
            )
        ),
        kwargs={"timezone": "Asia/Tokyo"},
        check=lambda tx, r: tx["timestamp"].tolist() == [pd.Timestamp("2024-01-02 08:30")],
    ),
    Case(
        "parquet with NaN and inf amounts",
        _parquet(
            pa.table(
                {
                    "customer_id": ["a"] * 3 + ["b"] * 300,
                    "timestamp": ["2024-01-01"] * 303,
                    "amount": [float("nan"), float("inf"), 1.0] + [2.0] * 300,
                }
            )
        ),
        quarantined={"non-finite amount": 2},
    ),  # NaN in a Parquet float is not NULL
    Case("unknown file extension", _bytes(b"x", name="log.xlsx"), error="cannot tell the format"),
    Case(
        "a CSV of 1M rows with 0.5% bad rows",
        _large_csv,
        quarantined={
            "unparseable timestamp": 2_000,
            "non-numeric amount": 2_000,
            "missing customer_id": 1_000,
        },
        check=_check_large,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_corpus(case: Case, tmp_path: Path) -> None:
    source = case.build(tmp_path)
    if case.error is not None:
        with pytest.raises(DataValidationError, match=case.error) as info:
            read_transactions(source, **case.kwargs)
        if case.column is not None:
            assert info.value.column == case.column
        return
    tx, report = read_transactions(source, **case.kwargs)
    assert report.reconciles
    assert report.quarantine_by_reason == case.quarantined
    assert len(report.quarantine) == report.rows_quarantined
    if case.check is not None:
        result = case.check(tx, report)
        assert result is None or result is True


FLAGS = {
    "delimiter": "--delimiter",
    "decimal": "--decimal",
    "encoding": "--encoding",
    "timezone": "--timezone",
    "order_col": "--order-col",
    "dedupe": "--dedupe",
}


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.name != "a CSV of 1M rows with 0.5% bad rows"],
    ids=[c.name for c in CASES if c.name != "a CSV of 1M rows with 0.5% bad rows"],
)
def test_cli_never_shows_a_traceback_for_bad_input(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = case.build(tmp_path)
    if isinstance(source, pd.DataFrame):
        pytest.skip("the command line reads files")
    args = ["features", "--data", str(source), "--output", str(tmp_path / "out" / "f.parquet")]
    for key, value in case.kwargs.items():
        if key in FLAGS:
            args += [FLAGS[key], str(value)]
        elif key == "date_format":
            args += ["--date-format", value if isinstance(value, str) else value[-1]]
        elif key == "as_of":
            args += ["--as-of", str(value)]
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if case.error is not None or case.cli_error is not None:
        assert code == 2
        assert captured.err.startswith("churnmodel: error: ")
        assert re.search(case.cli_error or case.error or "", captured.err), captured.err
        assert not (tmp_path / "out" / "f.parquet").exists()
    elif code == 2:  # a load that fails only at the CLI's default settings still says why
        assert captured.err.startswith("churnmodel: error: ")
    else:
        assert code == 0
        assert (tmp_path / "out" / "f.quarantine.csv").exists()
