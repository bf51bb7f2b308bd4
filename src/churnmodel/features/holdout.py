"""Calibration and holdout: a per-customer summary of both periods, and purchase days by day.

The validation design of the BTYD literature: fit on a calibration period ending at
``calibration_end``, compare the model's forecasts with what the calibration customers did in
the holdout period ``(calibration_end, observation_end]``. :func:`calibration_and_holdout_summary`
is lifetimes' ``calibration_and_holdout_data`` (computed in DuckDB, in an explicit time unit,
under the package's purchase rule); :func:`daily_repeat_purchases` gives the calendar series
behind the tracking plot (``churnmodel.evaluation.transaction_tracking``) without holding the
ledger in pandas; :func:`purchase_days` gives one customer's (or a few customers') purchase days.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers" the Easy Way:
An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError
from churnmodel.features.customer import rfm_summary, to_date
from churnmodel.features.engine import DuckDBEngine, TransactionsLike
from churnmodel.features.queries import PurchaseRule, ledger_sql
from churnmodel.schemas import CUSTOMER_ID, DATE, days_per_unit

__all__ = [
    "HOLDOUT_COLUMNS",
    "calibration_and_holdout_summary",
    "daily_repeat_purchases",
    "purchase_days",
]

#: The columns of :func:`calibration_and_holdout_summary`, in order.
HOLDOUT_COLUMNS = (
    "frequency_cal",
    "recency_cal",
    "T_cal",
    "monetary_value_cal",
    "frequency_holdout",
    "monetary_value_holdout",
    "spend_holdout",
    "duration_holdout",
)

DateLike = str | date | datetime | pd.Timestamp


def _d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _window(calibration_end: DateLike, observation_end: DateLike) -> tuple[date, date]:
    start = to_date(calibration_end, "calibration_end")
    end = to_date(observation_end, "observation_end")
    if end <= start:
        raise ConfigError(
            f"'observation_end' must be after 'calibration_end', got {end.isoformat()} <= "
            f"{start.isoformat()}"
        )
    return start, end


def calibration_and_holdout_summary(
    transactions: TransactionsLike,
    calibration_end: DateLike,
    observation_end: DateLike,
    time_unit: str = "D",
    *,
    purchase: PurchaseRule | None = None,
) -> pd.DataFrame:
    """Return each calibration customer's RFM summary and what they did in the holdout.

    The calibration columns are :func:`~churnmodel.features.rfm_summary` at
    ``calibration_end``; the holdout is ``(calibration_end, observation_end]``. lifetimes'
    ``calibration_and_holdout_data(..., freq="D", freq_multiplier=1 or 7)``, under the
    package's purchase rule (returns netted per day, $0 orders counted), plus the holdout
    spend.

    Parameters
    ----------
    transactions
        Canonical transactions or a :class:`~churnmodel.io.TransactionTable`.
    calibration_end
        Last day of the calibration period (inclusive).
    observation_end
        Last day of the holdout period (inclusive), after ``calibration_end``.
    time_unit
        Unit of ``recency_cal``, ``T_cal`` and ``duration_holdout``: "D", "W" or "M".
    purchase
        When a customer-day counts as a purchase (:class:`PurchaseRule`, default ``()``).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``: the customers with a purchase day on or before
        ``calibration_end``. Columns :data:`HOLDOUT_COLUMNS`: ``frequency_cal``,
        ``recency_cal``, ``T_cal``, ``monetary_value_cal`` (the RFM summary);
        ``frequency_holdout`` (purchase days in the holdout), ``monetary_value_holdout``
        (their mean net spend, 0 without one), ``spend_holdout`` (net spend of every holdout
        day, returns included, floored at 0: the snapshots' ``spend_next``) and
        ``duration_holdout`` (the holdout's length). ``attrs``: ``calibration_end``,
        ``observation_end``, ``time_unit``.
    """
    start, end = _window(calibration_end, observation_end)
    unit_days = days_per_unit(time_unit)
    rule = purchase or PurchaseRule()
    calibration = rfm_summary(transactions, start, time_unit, purchase=rule)
    engine, table = DuckDBEngine.for_transactions(transactions)
    holdout = engine.to_pandas(
        f"""
SELECT {CUSTOMER_ID},
       count(*) FILTER (WHERE {rule.sql()}) AS frequency_holdout,
       coalesce(sum(net_amount) FILTER (WHERE {rule.sql()}), 0.0) AS purchase_spend,
       sum(net_amount) AS spend_holdout
FROM ({ledger_sql(table)})
WHERE {DATE} > {_d(start)} AND {DATE} <= {_d(end)}
GROUP BY {CUSTOMER_ID}
"""
    ).set_index(CUSTOMER_ID)
    holdout.index = holdout.index.astype(calibration.index.dtype)
    holdout = holdout.reindex(calibration.index)
    frequency = holdout["frequency_holdout"].fillna(0).to_numpy(dtype=np.int64)
    purchase_spend = holdout["purchase_spend"].fillna(0.0).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_spend = np.where(frequency > 0, purchase_spend / np.maximum(frequency, 1), 0.0)
    out = pd.DataFrame(
        {
            "frequency_cal": calibration["frequency"].to_numpy(),
            "recency_cal": calibration["recency"].to_numpy(),
            "T_cal": calibration["T"].to_numpy(),
            "monetary_value_cal": calibration["monetary_value"].to_numpy(),
            "frequency_holdout": frequency,
            "monetary_value_holdout": mean_spend,
            "spend_holdout": np.maximum(
                holdout["spend_holdout"].fillna(0.0).to_numpy(dtype=np.float64), 0.0
            ),
            "duration_holdout": float((end - start).days) / unit_days,
        },
        index=calibration.index,
    )
    out.attrs.update(
        {
            "calibration_end": start.isoformat(),
            "observation_end": end.isoformat(),
            "time_unit": time_unit,
        }
    )
    return out


def daily_repeat_purchases(
    transactions: TransactionsLike,
    calibration_end: DateLike,
    observation_end: DateLike,
    *,
    purchase: PurchaseRule | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Return the calibration customers' repeat purchase days and first purchase days, by day.

    The customers are those whose first purchase day is on or before ``calibration_end``; a
    repeat purchase is a purchase day after a customer's first, up to ``observation_end``.

    Returns
    -------
    tuple of pandas.Series
        ``repeat_purchases`` (purchase days after the customer's first, per calendar day) and
        ``first_purchases`` (customers whose first purchase day it is), both indexed by
        ``date`` (datetime64, sorted), days without any left out.
    """
    start, end = _window(calibration_end, observation_end)
    rule = purchase or PurchaseRule()
    engine, table = DuckDBEngine.for_transactions(transactions)
    days = engine.materialize(
        f"""
SELECT {CUSTOMER_ID}, {DATE}
FROM ({ledger_sql(table)})
WHERE {DATE} <= {_d(end)} AND {rule.sql()}
""",
        prefix="purchase_days",
    )
    firsts = engine.materialize(
        f"""
SELECT {CUSTOMER_ID}, min({DATE}) AS first_day
FROM {days}
GROUP BY {CUSTOMER_ID}
HAVING min({DATE}) <= {_d(start)}
""",
        prefix="first_days",
    )
    repeat = engine.to_pandas(
        f"""
SELECT d.{DATE} AS {DATE}, count(*) AS repeat_purchases
FROM {days} AS d JOIN {firsts} AS f USING ({CUSTOMER_ID})
WHERE d.{DATE} > f.first_day
GROUP BY d.{DATE}
ORDER BY 1
"""
    )
    first = engine.to_pandas(
        f"SELECT first_day AS {DATE}, count(*) AS first_purchases FROM {firsts} GROUP BY 1 "
        "ORDER BY 1"
    )
    engine.execute(f"DROP TABLE {days}")
    engine.execute(f"DROP TABLE {firsts}")

    def series(frame: pd.DataFrame, name: str) -> pd.Series:
        index = pd.DatetimeIndex(pd.to_datetime(frame[DATE]), name=DATE)
        return pd.Series(frame[name].to_numpy(dtype=np.int64), index=index, name=name)

    return series(repeat, "repeat_purchases"), series(first, "first_purchases")


def purchase_days(
    transactions: TransactionsLike,
    customers: Iterable[str],
    *,
    until: DateLike | None = None,
    purchase: PurchaseRule | None = None,
) -> pd.DataFrame:
    """Return the purchase days of the given customers (one row per customer and day).

    Parameters
    ----------
    transactions
        Canonical transactions or a :class:`~churnmodel.io.TransactionTable`.
    customers
        Customer ids (text).
    until
        Last day (inclusive); all days when None.
    purchase
        When a customer-day counts as a purchase (default ``PurchaseRule()``).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``date`` (datetime64), ``net_amount``, sorted by customer and day.
    """
    rule = purchase or PurchaseRule()
    ids = [str(c) for c in customers]
    if not ids:
        raise ConfigError("'customers' must name at least one customer")
    engine, table = DuckDBEngine.for_transactions(transactions)
    quoted = ", ".join("'" + c.replace("'", "''") + "'" for c in ids)
    bound = "" if until is None else f" AND {DATE} <= {_d(to_date(until, 'until'))}"
    frame = engine.to_pandas(
        f"""
SELECT {CUSTOMER_ID}, {DATE}, net_amount
FROM ({ledger_sql(table)})
WHERE {CUSTOMER_ID} IN ({quoted}) AND {rule.sql()}{bound}
ORDER BY 1, 2
"""
    )
    frame[DATE] = pd.to_datetime(frame[DATE])
    return frame
