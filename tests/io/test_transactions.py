from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel import ConfigError, DataValidationError, read_transactions
from churnmodel.io import connect, load_transactions, transactions


def _frame(**cols: list[object]) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_maps_columns_keeps_leading_zeros_and_parses_strings() -> None:
    raw = _frame(
        cust=["007", "007", "0100"],
        when=["2024-01-05", "2024-01-06 13:00", "2024-02-01"],
        revenue=["$1,234.50", "(12.00)", "€ 3"],
    )
    tx, report = read_transactions(raw, customer_col="cust", date_col="when", amount_col="revenue")
    assert list(tx.columns) == ["customer_id", "timestamp", "amount", "order_id"]
    assert tx["customer_id"].tolist() == ["007", "007", "0100"]
    assert tx["amount"].tolist() == [1234.5, -12.0, 3.0]
    assert report.rows_read == 3 and report.rows_used == 3 and report.reconciles


def test_offsets_are_converted_to_the_business_time_zone_before_the_date() -> None:
    raw = _frame(
        customer_id=["a", "a", "a"],
        timestamp=[
            "2024-01-01T23:30:00-05:00",  # 04:30 UTC on Jan 2 -> 05:30 in Berlin, Jan 2
            "2024-06-30T23:30:00+00:00",  # summer: 01:30 on Jul 1 in Berlin
            "2024-03-10 08:00:00",  # no offset: already local time
        ],
        amount=[1.0, 1.0, 1.0],
    )
    tx, _ = read_transactions(raw, timezone="Europe/Berlin")
    assert tx["timestamp"].tolist() == [
        pd.Timestamp("2024-01-02 05:30"),
        pd.Timestamp("2024-07-01 01:30"),
        pd.Timestamp("2024-03-10 08:00"),
    ]
    utc, _ = read_transactions(raw, timezone="UTC")
    assert utc["timestamp"].dt.date.astype(str).tolist() == [
        "2024-01-02",
        "2024-06-30",
        "2024-03-10",
    ]


def test_bad_rows_are_quarantined_with_reasons_and_counts_reconcile() -> None:
    raw = _frame(
        customer_id=["a", " ", None, "b", "c", "d", "e", "f"],
        timestamp=[
            "2024-01-01",
            "2024-01-01",
            "2024-01-01",
            "yesterday",
            None,
            "2024-01-02",
            "2024-01-03",
            "2024-01-04",
        ],
        amount=["1", "1", "1", "1", "1", "ten", "", "1.2.3"],
    )
    tx, report = read_transactions(raw, max_quarantine_share=1.0)
    assert report.quarantine_by_reason == {
        "missing customer_id": 2,
        "unparseable timestamp": 1,
        "missing timestamp": 1,
        "non-numeric amount": 2,
        "missing amount": 1,
    }
    assert report.quarantine["row_number"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert (
        report.quarantine.loc[report.quarantine.row_number == 4, "timestamp"].item() == "yesterday"
    )
    assert len(tx) == 1 and report.rows_used == 1
    assert report.rows_read == report.rows_used + report.rows_quarantined


def test_non_finite_numeric_amounts_are_quarantined() -> None:
    raw = _frame(
        customer_id=["a", "b", "c"],
        timestamp=["2024-01-01"] * 3,
        amount=[1.0, float("inf"), float("nan")],
    )
    tx, report = read_transactions(raw, max_quarantine_share=1.0)
    assert report.quarantine_by_reason == {"non-finite amount": 1, "missing amount": 1}
    assert tx["customer_id"].tolist() == ["a"]


def test_too_many_bad_rows_stop_with_the_rows_the_column_and_a_hint() -> None:
    raw = _frame(
        customer_id=["a"] * 10, timestamp=["31/01/2024"] * 9 + ["2024-01-31"], amount=[1.0] * 10
    )
    with pytest.raises(DataValidationError) as info:
        read_transactions(raw)
    err = info.value
    assert err.column == "timestamp"
    assert err.rows is not None and len(err.rows) == 9
    assert "date_format" in (err.hint or "")
    assert "90.00%" in str(err)
    tx, report = read_transactions(raw, date_format=["%d/%m/%Y", "%Y-%m-%d"])
    assert report.rows_quarantined == 0 and len(tx) == 10
    assert set(tx["timestamp"].dt.date) == {pd.Timestamp("2024-01-31").date()}


def test_exact_duplicates_removed_when_an_order_id_exists() -> None:
    raw = _frame(
        customer_id=["a", "a", "a", "b"],
        timestamp=["2024-01-01"] * 4,
        amount=[5.0, 5.0, 5.0, 5.0],
        order_id=["o1", "o1", "o2", "o1"],
    )
    tx, report = read_transactions(raw, order_col="order_id")
    assert report.duplicates_removed == 1
    assert sorted(tx["order_id"].tolist()) == ["o1", "o1", "o2"]
    assert report.reconciles


def test_identical_rows_without_order_id_are_kept_and_counted() -> None:
    raw = _frame(customer_id=["a", "a"], timestamp=["2024-01-01"] * 2, amount=[9.77, 9.77])
    tx, report = read_transactions(raw)
    assert len(tx) == 2 and report.duplicates_removed == 0 and report.identical_rows_kept == 1
    tx_all, report_all = read_transactions(raw, dedupe="all")
    assert len(tx_all) == 1 and report_all.duplicates_removed == 1


def test_dedupe_all_compares_unmapped_columns_named_like_the_parsers_own() -> None:
    # Unmapped input columns called order_id, reason or c are compared as they are, not
    # confused with the parser's order id (empty without an order column) or its own names.
    raw = _frame(
        customer_id=["a"] * 5,
        timestamp=["2024-01-01"] * 5,
        amount=[5.0] * 5,
        order_id=["o1", "o2", "o2", "o2", "o2"],
        reason=["x", "x", "x", "y", "x"],
        c=[1, 1, 1, 1, 2],
    )
    tx, report = read_transactions(raw, dedupe="all")
    assert report.duplicates_removed == 1  # rows 2 and 3: identical in every column
    assert len(tx) == 4 and report.reconciles


def test_rows_after_as_of_are_excluded_and_counted() -> None:
    raw = _frame(
        customer_id=["a", "a", "b"],
        timestamp=["2024-01-01", "2024-02-01", "2024-03-01"],
        amount=[1.0, 2.0, 3.0],
    )
    tx, report = read_transactions(raw, as_of="2024-01-31")
    assert len(tx) == 1 and report.rows_after_as_of == 2 and report.reconciles
    assert report.customers == 1


def test_missing_column_lists_the_columns_that_exist() -> None:
    raw = _frame(cust=["a"], day=["2024-01-01"], value=[1.0])
    with pytest.raises(DataValidationError, match=r"'customer_id'.*'cust', 'day', 'value'"):
        read_transactions(raw)


def test_csv_parquet_file_and_folder_give_the_same_rows(tmp_path: Path) -> None:
    raw = _frame(
        customer_id=["001", "002", "001"],
        timestamp=["2024-01-01", "2024-01-02", "2024-01-03"],
        amount=[1.5, 2.5, 3.5],
    )
    csv = tmp_path / "log.csv"
    raw.to_csv(csv, index=False)
    pq = tmp_path / "log.parquet"
    raw.to_parquet(pq)
    folder = tmp_path / "parts"
    folder.mkdir()
    raw.iloc[:2].to_parquet(folder / "part-0.parquet")
    raw.iloc[2:].to_parquet(folder / "part-1.parquet")
    frames = [read_transactions(src).transactions for src in (raw, csv, pq, folder)]
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])
    assert frames[1]["customer_id"].tolist() == ["001", "002", "001"]


def test_row_numbers_in_a_parquet_folder_are_global(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    _frame(customer_id=["a", "b"], timestamp=["2024-01-01"] * 2, amount=[1.0, 1.0]).to_parquet(
        folder / "part-0.parquet"
    )
    _frame(customer_id=["c", None], timestamp=["2024-01-01"] * 2, amount=[1.0, 1.0]).to_parquet(
        folder / "part-1.parquet"
    )
    _, report = read_transactions(folder, max_quarantine_share=1.0)
    assert report.quarantine["row_number"].tolist() == [4]


def test_invalid_settings_are_config_errors() -> None:
    raw = _frame(customer_id=["a"], timestamp=["2024-01-01"], amount=[1.0])
    with pytest.raises(ConfigError, match="max_quarantine_share"):
        read_transactions(raw, max_quarantine_share=2.0)
    with pytest.raises(ConfigError, match="timezone"):
        read_transactions(raw, timezone="Mars/Olympus")


def _messy_repeats(n: int = 2_000) -> pd.DataFrame:
    """Rows repeated with and without the same order id, some after the as-of date, bad rows."""
    rng = np.random.default_rng(5)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, n), "D")
    raw = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in rng.integers(0, 50, n)],
            "timestamp": days.strftime("%Y-%m-%d"),
            "amount": rng.choice([5.0, 7.5, -5.0, 0.0, -0.0], n),
            "order_ref": [f"o{i}" for i in rng.integers(0, 400, n)],
            "channel": rng.choice(["web", "shop"], n),
        }
    )
    raw = pd.concat([raw, raw.sample(300, random_state=1)], ignore_index=True)
    raw.loc[[3, 17], "customer_id"] = None
    raw.loc[[5], "timestamp"] = "yesterday"
    return raw


@pytest.mark.parametrize(
    "kwargs",
    [
        {"order_col": "order_ref"},
        {},
        {"dedupe": "all"},
        {"order_col": "order_ref", "dedupe": "all"},
    ],
)
def test_repeats_are_found_by_value_even_when_every_hash_collides(
    kwargs: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The load finds candidate repeats by a hash of the row and compares the values of the
    # candidates: with one hash for every row, every row is a candidate and the result must
    # not change.
    raw = _messy_repeats()
    common = dict(as_of="2024-02-15", max_quarantine_share=0.01, **kwargs)
    tx, report = read_transactions(raw, **common)  # type: ignore[arg-type]
    monkeypatch.setattr(transactions, "_row_hash_sql", lambda columns: "42")
    tx_all, report_all = read_transactions(raw, **common)  # type: ignore[arg-type]
    assert report.duplicates_removed + report.identical_rows_kept > 0
    assert report.rows_after_as_of > 0 and report.rows_quarantined == 3
    assert report.to_dict() == report_all.to_dict()
    pd.testing.assert_frame_equal(tx, tx_all)
    # The same rows as grouping every row by value (pandas): first occurrences kept.
    good = raw.drop(index=[3, 5, 17])
    good = good[pd.to_datetime(good["timestamp"]) <= pd.Timestamp("2024-02-15")]
    removes = "order_col" in kwargs or kwargs.get("dedupe") == "all"
    key = ["customer_id", "timestamp", "amount", "order_ref"]
    key += ["channel"] if kwargs.get("dedupe") == "all" else []
    expected = good[~good.duplicated(key)] if removes else good
    assert len(tx) == len(expected) == report.rows_used
    assert tx["amount"].sum() == pytest.approx(expected["amount"].sum())
    # Rows come in input order, the repeats of a row where they were read.
    assert tx["customer_id"].tolist() == expected["customer_id"].tolist()


def test_loading_twice_into_one_connection_replaces_the_first_load(tmp_path: Path) -> None:
    first = _frame(customer_id=["a", "a"], timestamp=["2024-01-01"] * 2, amount=[1.0, 1.0])
    second = _frame(
        customer_id=["b", "b", "c"],
        timestamp=["2024-01-01"] * 3,
        amount=[2.0, 2.0, 3.0],
        order_id=["o1", "o1", "o2"],
    )
    con = connect()
    load_transactions(con, first, dedupe="all")
    table, report = load_transactions(con, second, order_col="order_id", materialize=True)
    assert report.duplicates_removed == 1 and report.rows_used == 2
    assert table.to_pandas()["customer_id"].tolist() == ["b", "c"]
    table, report = load_transactions(con, first)
    assert report.identical_rows_kept == 1 and len(table.to_pandas()) == 2
