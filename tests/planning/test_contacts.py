"""The contact log: errors that name the rows, the balance check, the uplift table."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import DataValidationError
from churnmodel.planning import (
    ControlGroupWarning,
    check_balance,
    contact_history,
    uplift_table,
    validate_contacts,
)

CUSTOMERS = pd.Index(["A", "B", "C"])


def log(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "contact_date", "action", "control"])


def check(frame: pd.DataFrame) -> pd.DataFrame:
    return validate_contacts(
        frame, customers=CUSTOMERS, first_date=date(2024, 1, 1), last_date=date(2024, 12, 31)
    )


def test_a_clean_log_is_returned_in_canonical_form() -> None:
    out = check(log([("A", "2024-03-01", "win_back", "false"), ("B", "2024-03-01", "retain", 1)]))
    assert out["control"].tolist() == [False, True]
    assert out["contact_date"].dtype.kind == "M"


def test_unknown_customers_are_named_with_their_rows() -> None:
    frame = log([("A", "2024-03-01", "win_back", False), ("Z9", "2024-03-01", "win_back", False)])
    with pytest.raises(DataValidationError, match="does not know: 1 row") as info:
        check(frame)
    assert info.value.rows is not None
    assert info.value.rows["customer_id"].tolist() == ["Z9"]
    assert info.value.rows["row_number"].tolist() == [2]
    assert "row(s) 2" in str(info.value)


def test_dates_outside_the_log_are_named() -> None:
    frame = log(
        [
            ("A", "2023-12-31", "win_back", False),
            ("B", "2025-01-01", "retain", False),
            ("C", "2024-06-01", "retain", False),
        ]
    )
    with pytest.raises(DataValidationError, match="outside the transaction log") as info:
        check(frame)
    assert info.value.rows["row_number"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (("A", "not a date", "win_back", False), "not ISO 8601 dates"),
        (("A", "01/03/2024", "win_back", False), "not ISO 8601 dates"),
        (("A", "2024-03-01", "discount", False), "unknown actions"),
        (("A", "2024-03-01", "win_back", "maybe"), "not true/false"),
    ],
)
def test_bad_values_are_named(row: tuple, match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        check(log([row]))


def test_contact_dates_are_iso_text_or_datetimes() -> None:
    frame = log([("A", "2024-03-01", "win_back", False), ("B", "03/01/2024", "retain", False)])
    with pytest.raises(DataValidationError, match="YYYY-MM-DD") as info:
        check(frame)
    assert info.value.rows["row_number"].tolist() == [2]
    typed = log([("A", pd.Timestamp("2024-03-01 10:30"), "win_back", False)])
    typed["contact_date"] = pd.to_datetime(typed["contact_date"])
    assert check(typed)["contact_date"].tolist() == [pd.Timestamp("2024-03-01")]


def test_missing_columns() -> None:
    with pytest.raises(DataValidationError, match="lacks column"):
        check(pd.DataFrame({"customer_id": ["A"]}))


def test_contact_history_counts_only_contacts_that_reached_the_customer() -> None:
    contacts = check(
        log(
            [
                ("A", "2024-01-10", "win_back", False),
                ("A", "2024-03-01", "retain", False),
                ("A", "2024-03-15", "retain", True),
                ("B", "2024-03-01", "retain", False),
            ]
        )
    )
    out = contact_history(
        contacts,
        np.array(["A", "A", "C"]),
        pd.to_datetime(["2024-04-01", "2024-03-01", "2024-04-01"]),
        window_days=90,
    )
    assert out["contacts_recent"].tolist() == [2.0, 1.0, 0.0]
    assert out["days_since_contact"].tolist()[:2] == [31.0, 51.0]
    assert np.isnan(out["days_since_contact"].iloc[2])


def table_for_balance(control_is_random: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 2_000
    days = rng.exponential(100, n)
    # not random: the "control group" is the customers who bought most recently
    treated = rng.random(n) > 0.2 if control_is_random else days > np.quantile(days, 0.2)
    return pd.DataFrame(
        {
            "contact_date": pd.Timestamp("2024-05-01"),
            "action": "win_back",
            "treated": treated.astype(float),
            "days_since_last": days,
            "n_purchase_days": rng.poisson(3, n).astype(float),
            "total_spend": rng.gamma(2, 50, n),
        }
    )


def test_a_random_control_group_passes_the_balance_check() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_balance(table_for_balance(True))
    assert report["balanced"].all()


def test_a_control_group_that_is_not_random_is_named() -> None:
    with pytest.warns(
        ControlGroupWarning, match=r"win_back on 2024-05-01 does not look random"
    ) as w:
        report = check_balance(table_for_balance(False))
    assert not report.loc[report["column"] == "days_since_last", "balanced"].item()
    assert "days_since_last" in str(w[0].message) and "rows" in str(w[0].message)


def test_uplift_table_measures_the_campaign_window() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B", "B", "C"],
            "timestamp": pd.to_datetime(
                ["2024-01-05", "2024-03-10", "2024-06-20", "2024-01-07", "2024-02-01", "2024-01-03"]
            ),
            "amount": [10.0, 20.0, 40.0, 5.0, 6.0, 7.0],
        }
    )
    contacts = check(
        log(
            [
                ("A", "2024-03-01", "win_back", False),
                ("B", "2024-03-01", "win_back", True),
                ("C", "2024-12-01", "win_back", False),
            ]
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a tiny log: no purchase model
        table = uplift_table(tx, contacts, window_days=90, last_date=date(2024, 12, 31))
    a = table.set_index("customer_id").loc["A"]
    assert a["treated"] == 1.0 and a["purchases"] == 1 and a["spend"] == 20.0  # not 20 June
    assert a["days_since_last"] == 55  # features on 29 February, the day before the contact
    b = table.set_index("customer_id").loc["B"]
    assert b["treated"] == 0.0 and b["purchased"] == 0.0
    c = table.set_index("customer_id").loc["C"]
    assert not c["complete"]  # its window runs past the log
