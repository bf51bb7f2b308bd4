"""Fuzz the transaction loader: whatever the input, only documented errors escape.

Run with ``make fuzz`` (default 10 minutes) or
``python -m tests.fuzz.fuzz_loader --minutes 10``. Not part of ``make test``: the
file name does not start with ``test_``. Each round draws inputs with hypothesis:

* structured CSV text: random header names (sometimes the right ones), delimiters, quoting,
  byte-order marks, encodings, line endings, and cell values drawn from a pool of plausible
  and hostile values (dates in many layouts, offsets, amounts with symbols and separators,
  blanks, null markers, control characters, very long strings);
* raw bytes, sometimes behind a valid header;
* Parquet files with random column types (ints, floats with NaN/inf, strings, dates,
  time-zone-aware timestamps, decimals, booleans, all-null columns);
* pandas DataFrames built from the same pools,

and calls :func:`churnmodel.read_transactions` with random options. Success means: either a
result whose counts reconcile, or a :class:`churnmodel.ChurnModelError`. Anything else is a
finding: the input is saved under ``tests/fuzz/findings/`` and the run fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from churnmodel import ChurnModelError, read_transactions

FINDINGS = Path(__file__).parent / "findings"
NAMES = ["customer_id", "timestamp", "amount", "order_id", "cust", "date", "", " ", "a,b", '"q"']
CELLS = st.sampled_from(
    [
        "",
        " ",
        "a",
        "007",
        "NaN",
        "null",
        "None",
        "\x00",
        "\u00e9",
        "\u202e",
        "x" * 300,
        "2024-01-01",
        "2024-13-45",
        "2024-02-29T23:59:59+14:00",
        "2024-01-01 10:00:00-12:00",
        "01/02/2024",
        "20240101",
        "1e309",
        "-0",
        "0",
        "1",
        "12.50",
        "$1,234.56",
        "(3.00)",
        "1,5",
        "1.234,56",
        "inf",
        "-inf",
        "nan",
        "9" * 40,
        "--1",
        "1e",
        "\t",
        "\r",
        "\n",
        '"',
        "'",
        ";",
    ]
)
OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "Pacific/Kiritimati"]),
        "date_format": st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", ["%Y%m%d", "%Y-%m-%d"]]),
        "decimal": st.sampled_from([".", ","]),
        "dedupe": st.sampled_from(["auto", "all", "none"]),
        "as_of": st.sampled_from(["2024-01-15", "1999-01-01", "2100-01-01"]),
        "max_quarantine_share": st.sampled_from([0.0, 0.5, 1.0]),
        "order_col": st.just("order_id"),
        "encoding": st.sampled_from(["utf-8", "latin-1"]),
    },
)


@st.composite
def csv_inputs(draw: st.DrawFn) -> bytes:
    delim = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(
        st.one_of(
            st.just(["customer_id", "timestamp", "amount", "order_id"]),
            st.lists(st.sampled_from(NAMES), min_size=0, max_size=5),
        )
    )
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=6), max_size=30))
    quote = draw(st.booleans())

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if quote else v

    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(delim.join(cell(v) for v in r) for r in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def raw_bytes(draw: st.DrawFn) -> bytes:
    prefix = b"customer_id,timestamp,amount\n" if draw(st.booleans()) else b""
    return prefix + draw(st.binary(max_size=400))


ARROW_COLUMNS = st.sampled_from(
    [
        pa.array([1, 2, None], pa.int64()),
        pa.array([1.5, float("nan"), float("inf")], pa.float64()),
        pa.array(["a", "", None]),
        pa.array([dt.date(2024, 1, 1), None, dt.date(1970, 1, 1)], pa.date32()),
        pa.array(
            [pd.Timestamp("2024-01-01", tz="UTC"), None, pd.Timestamp("2262-01-01", tz="UTC")],
            pa.timestamp("us", tz="UTC"),
        ),
        pa.array([None, None, None], pa.null()),
        pa.array([True, False, None], pa.bool_()),
        pa.array([12, None, 3], pa.decimal128(10, 2)),
        pa.array(["2024-01-01", "bad", "2024-02-30"]),
    ]
)


@st.composite
def parquet_tables(draw: st.DrawFn) -> pa.Table:
    names = draw(
        st.lists(
            st.sampled_from(["customer_id", "timestamp", "amount", "order_id", "x"]),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    return pa.table({n: draw(ARROW_COLUMNS) for n in names})


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 20))
    cols = draw(
        st.lists(
            st.sampled_from(["customer_id", "timestamp", "amount", "order_id"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    return pd.DataFrame({c: draw(st.lists(CELLS, min_size=n, max_size=n)) for c in cols})


INPUTS = st.one_of(
    st.tuples(st.just("csv"), csv_inputs()),
    st.tuples(st.just("bytes"), raw_bytes()),
    st.tuples(st.just("parquet"), parquet_tables()),
    st.tuples(st.just("frame"), frames()),
)


def _run_one(kind: str, payload: Any, options: dict[str, Any], workdir: Path) -> None:
    if kind in ("csv", "bytes"):
        source: Any = workdir / "input.csv"
        source.write_bytes(payload)
    elif kind == "parquet":
        source = workdir / "input.parquet"
        pq.write_table(payload, source)
    else:
        source = payload
    try:
        result = read_transactions(source, **options)
    except ChurnModelError:
        return
    report = result.report
    assert report.reconciles, report.to_dict()
    assert len(result.transactions) == report.rows_used


def _save_finding(kind: str, payload: Any, options: dict[str, Any], error: str) -> Path:
    FINDINGS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = FINDINGS / f"{stamp}-{kind}"
    path.mkdir()
    if kind in ("csv", "bytes"):
        (path / "input.csv").write_bytes(payload)
    elif kind == "parquet":
        pq.write_table(payload, path / "input.parquet")
    else:
        payload.to_pickle(path / "input.pkl")
    (path / "report.txt").write_text(f"options: {options!r}\n\n{error}")
    return path


def fuzz(minutes: float) -> tuple[int, list[Path]]:
    """Fuzz for ``minutes``; return the number of inputs tried and the findings saved."""
    deadline = time.monotonic() + minutes * 60
    tried = 0
    findings: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(inp=INPUTS, options=OPTIONS)
        def round_(inp: tuple[str, Any], options: dict[str, Any]) -> None:
            nonlocal tried
            tried += 1
            kind, payload = inp
            try:
                _run_one(kind, payload, options, workdir)
            except Exception:
                findings.append(_save_finding(kind, payload, options, traceback.format_exc()))

        while time.monotonic() < deadline:
            round_()  # hypothesis draws fresh inputs each round (no database, random seed)
    return tried, findings


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer; exit 1 if anything other than a documented error escaped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    tried, findings = fuzz(args.minutes)
    elapsed = time.monotonic() - started
    print(
        f"fuzzed read_transactions for {elapsed / 60:.1f} min: {tried:,} inputs, "
        f"{len(findings)} finding(s)"
    )
    for path in findings[:20]:
        print(f"  finding: {path}")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
