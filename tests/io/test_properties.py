"""Property-based tests of ingestion: no row is ever lost, and row order does not matter."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnmodel import read_transactions

customers = st.sampled_from(["a", "b", "007", " c ", "", "  ", None, "NaN"])
timestamps = st.sampled_from(
    [
        "2024-01-01",
        "2024-01-02 10:00",
        "2024-02-29T23:30:00+05:00",
        "2024-03-01",
        "2030-01-01",
        "31/01/2024",
        "garbage",
        "",
        None,
    ]
)
amounts = st.sampled_from(
    ["1", "12.50", "$3", "-4", "(5.00)", "1,000", "1,5", "abc", "", None, "inf"]
)
orders = st.sampled_from(["o1", "o2", "o3", None])
rows = st.lists(st.tuples(customers, timestamps, amounts, orders), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=rows,
    use_order=st.booleans(),
    as_of=st.sampled_from([None, "2024-02-15"]),
    seed=st.integers(0, 10_000),
)
def test_every_row_is_accounted_for_and_order_does_not_matter(
    rows: list[tuple[str | None, str | None, str | None, str | None]],
    use_order: bool,
    as_of: str | None,
    seed: int,
) -> None:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "order_id"])
    kwargs = {
        "order_col": "order_id" if use_order else None,
        "as_of": as_of,
        "max_quarantine_share": 1.0,
    }
    tx, report = read_transactions(frame, **kwargs)
    assert report.rows_read == len(frame)
    assert report.reconciles
    assert len(tx) == report.rows_used
    assert sum(report.quarantine_by_reason.values()) == report.rows_quarantined
    assert sorted(report.quarantine["row_number"]) == sorted(set(report.quarantine["row_number"]))
    assert tx["customer_id"].notna().all() and tx["amount"].notna().all()
    assert tx["timestamp"].notna().all()
    if as_of is not None:
        assert (tx["timestamp"].dt.date <= pd.Timestamp(as_of).date()).all()

    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    tx2, report2 = read_transactions(shuffled, **kwargs)
    assert report2.to_dict() | {"source": ""} == report.to_dict() | {"source": ""}
    key = ["customer_id", "timestamp", "amount"]
    pd.testing.assert_frame_equal(
        tx[key].sort_values(key).reset_index(drop=True),
        tx2[key].sort_values(key).reset_index(drop=True),
    )
