"""Column names and dtypes of the tables passed between layers.

These names are the contract documented in ``docs/architecture.md``; code refers to them
through the constants here rather than repeating string literals.
"""

from __future__ import annotations

from typing import Final, Literal

from churnmodel.exceptions import ConfigError

__all__ = [
    "AMOUNT",
    "CUSTOMER_ID",
    "DATE",
    "LIFECYCLE_STAGES",
    "ORDER_ID",
    "PLAN_COLUMNS",
    "QUARANTINE_COLUMNS",
    "RETENTION_ACTIONS",
    "RFM_COLUMNS",
    "ROW_NUMBER",
    "TIMESTAMP",
    "TRANSACTION_COLUMNS",
    "TimeUnit",
    "days_per_unit",
]

# Transactions, canonical.
CUSTOMER_ID: Final = "customer_id"
TIMESTAMP: Final = "timestamp"
AMOUNT: Final = "amount"
ORDER_ID: Final = "order_id"
TRANSACTION_COLUMNS: Final = (CUSTOMER_ID, TIMESTAMP, AMOUNT, ORDER_ID)

# Customer-day ledger.
DATE: Final = "date"

# Quarantine: the raw row as read (strings) plus where it was and why it was set aside.
ROW_NUMBER: Final = "row_number"
QUARANTINE_COLUMNS: Final = (ROW_NUMBER, "reason", CUSTOMER_ID, TIMESTAMP, AMOUNT, ORDER_ID)

# Customer features at a cut-off (RFM part; lifetimes' definitions).
RFM_COLUMNS: Final = ("frequency", "recency", "T", "monetary_value")

LIFECYCLE_STAGES: Final = (
    "new",
    "active",
    "loyal",
    "lapsed_short",
    "lapsed_long",
    "lapsed_seasonal",
    "inactive",
)

# Retention plan (churnmodel.planning): one action per customer, the last one costs nothing.
RETENTION_ACTIONS: Final = (
    "retain",
    "reward",
    "win_back",
    "seasonal_reminder",
    "nurture",
    "do_not_contact",
)
PLAN_COLUMNS: Final = (
    CUSTOMER_ID,
    "action",
    "reason",
    "contact_date",
    "expected_incremental_value",
    "cost",
    "expected_net_value",
    "response_source",
    "priority",
    "lifecycle_stage",
    "p_churn",
    "clv",
    "value_at_risk",
    "as_of",
)

TimeUnit = Literal["D", "W", "M"]

#: Days in one time unit: a day, a week, and a month of 365.25 / 12 = 30.4375 days (the mean
#: Julian month; continuous periods, like the week of 7 days).
_DAYS_PER_UNIT: Final = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


def days_per_unit(time_unit: str) -> float:
    """Return the number of days in one ``time_unit``: "D" (1), "W" (7) or "M" (365.25 / 12).

    Raises
    ------
    ConfigError
        If the unit is not one of "D", "W" or "M".
    """
    try:
        return _DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise ConfigError(f"'time_unit' must be 'D', 'W' or 'M', got {time_unit!r}") from None
