"""The feature definitions, written once as SQL and run by every engine.

The queries are written in DuckDB's dialect using only constructs that SQLGlot transpiles
faithfully to Spark SQL (``date_diff``, ``arg_min``, ``FILTER``, ``lag ... OVER``); every
date boundary is computed in Python and inlined as a ``DATE '...'`` literal, so no engine's
date arithmetic is involved. ``churnmodel.features.engine`` runs them on DuckDB and, for
Spark, transpiles them with SQLGlot: a feature changes in one place.

Table names are parameters so the same text runs on a DuckDB view, a registered pandas frame
or a Spark temporary view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from churnmodel.schemas import AMOUNT, CUSTOMER_ID, DATE, TIMESTAMP

__all__ = [
    "FeatureWindows",
    "PurchaseRule",
    "customer_features_sql",
    "labels_sql",
    "ledger_sql",
]


@dataclass(frozen=True)
class FeatureWindows:
    """Trailing windows (days) for the behaviour features."""

    short: int = 30
    medium: int = 90
    long: int = 365
    season: int = 90


@dataclass(frozen=True)
class PurchaseRule:
    """When a customer-day counts as a purchase.

    A day is a purchase when its net amount (purchases minus same-day returns) is above
    ``min_net_amount``; with ``zero_net_is_purchase`` a day netting exactly zero counts too
    (free orders: the CDNOW papers count $0 orders as purchases). A day of returns only is
    never a purchase under the defaults.
    """

    min_net_amount: float = 0.0
    zero_net_is_purchase: bool = False

    def sql(self, net: str = "net_amount") -> str:
        """Return the SQL condition on the ledger's net amount column."""
        cond = f"{net} > {float(self.min_net_amount)!r}"
        if self.zero_net_is_purchase:
            cond = f"({cond} OR {net} = 0)"
        return cond


def _d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def ledger_sql(transactions: str) -> str:
    """Return SQL for the customer-day ledger of a canonical transactions relation.

    One row per customer and calendar day (business time zone): ``net_amount`` (purchases
    minus returns), ``gross_amount`` (purchases), ``returned_amount`` (returns, positive) and
    ``n_rows``. Whether a day counts as a purchase is decided later (net above a threshold),
    so that same-day returns are netted before the decision.
    """
    return f"""
SELECT {CUSTOMER_ID},
       CAST({TIMESTAMP} AS DATE) AS {DATE},
       sum({AMOUNT}) AS net_amount,
       sum(CASE WHEN {AMOUNT} > 0 THEN {AMOUNT} ELSE 0 END) AS gross_amount,
       sum(CASE WHEN {AMOUNT} < 0 THEN -{AMOUNT} ELSE 0 END) AS returned_amount,
       count(*) AS n_rows
FROM {transactions}
GROUP BY {CUSTOMER_ID}, CAST({TIMESTAMP} AS DATE)
"""


def customer_features_sql(
    ledger: str,
    as_of: date,
    *,
    purchase: PurchaseRule = PurchaseRule(),
    windows: FeatureWindows = FeatureWindows(),
) -> str:
    """Return SQL for per-customer features at the end of day ``as_of``.

    A purchase day is a ledger day on or before ``as_of`` that meets ``purchase``.
    Every customer with a ledger day on or before ``as_of`` gets a row; those without a purchase
    day (returns only) have ``n_purchase_days = 0`` so the caller can count them. Day counts
    are integers; the caller converts recency and T to the requested time unit.

    Columns: ``n_purchase_days``, ``frequency`` (repeat purchase days), ``recency_days``
    (first to last purchase day), ``age_days`` (first purchase day to ``as_of``),
    ``monetary_value`` (mean net spend of the repeat purchase days; 0 without one),
    ``first_purchase``, ``last_purchase``, ``total_spend``, ``first_purchase_spend``,
    ``gap_std_days`` (sample std of the gaps between purchase days; NULL under two gaps),
    ``purchases_{w}d`` and ``spend_{w}d`` over trailing windows, ``spend_prev_{m}d``
    (the medium window before the last one), ``purchases_season_last_year`` (purchase days in
    the ``season`` days that followed this date one year earlier), and, from every ledger day
    (returns included), ``gross_amount`` and ``returned_amount``.
    """
    a = as_of
    w = windows
    since_short = _d(a - timedelta(days=w.short))
    since_medium = _d(a - timedelta(days=w.medium))
    since_long = _d(a - timedelta(days=w.long))
    prev_medium = _d(a - timedelta(days=2 * w.medium))
    ly_start = _d(a - timedelta(days=365))
    ly_end = _d(a - timedelta(days=365 - w.season))
    return f"""
WITH days AS (
  SELECT {CUSTOMER_ID}, {DATE}, net_amount, gross_amount, returned_amount,
         {purchase.sql()} AS is_purchase
  FROM {ledger}
  WHERE {DATE} <= {_d(a)}
),
gaps AS (
  SELECT *,
         CASE WHEN is_purchase THEN
           date_diff('day',
                     lag({DATE}) OVER (PARTITION BY {CUSTOMER_ID}, is_purchase ORDER BY {DATE}),
                     {DATE})
         END AS gap
  FROM days
)
SELECT {CUSTOMER_ID},
       count(*) FILTER (WHERE is_purchase) AS n_purchase_days,
       count(*) FILTER (WHERE is_purchase) - 1 AS frequency,
       date_diff('day', min({DATE}) FILTER (WHERE is_purchase),
                 max({DATE}) FILTER (WHERE is_purchase)) AS recency_days,
       date_diff('day', min({DATE}) FILTER (WHERE is_purchase), {_d(a)}) AS age_days,
       coalesce(avg(net_amount) FILTER (WHERE gap IS NOT NULL), 0.0) AS monetary_value,
       min({DATE}) FILTER (WHERE is_purchase) AS first_purchase,
       max({DATE}) FILTER (WHERE is_purchase) AS last_purchase,
       sum(net_amount) FILTER (WHERE is_purchase) AS total_spend,
       arg_min(net_amount, {DATE}) FILTER (WHERE is_purchase) AS first_purchase_spend,
       stddev_samp(gap) AS gap_std_days,
       count(*) FILTER (WHERE is_purchase AND {DATE} > {since_short}) AS purchases_{w.short}d,
       count(*) FILTER (WHERE is_purchase AND {DATE} > {since_medium}) AS purchases_{w.medium}d,
       count(*) FILTER (WHERE is_purchase AND {DATE} > {since_long}) AS purchases_{w.long}d,
       coalesce(sum(net_amount) FILTER (WHERE is_purchase AND {DATE} > {since_short}), 0.0)
         AS spend_{w.short}d,
       coalesce(sum(net_amount) FILTER (WHERE is_purchase AND {DATE} > {since_medium}), 0.0)
         AS spend_{w.medium}d,
       coalesce(sum(net_amount) FILTER (WHERE is_purchase AND {DATE} > {since_long}), 0.0)
         AS spend_{w.long}d,
       coalesce(sum(net_amount) FILTER (
         WHERE is_purchase AND {DATE} > {prev_medium} AND {DATE} <= {since_medium}), 0.0)
         AS spend_prev_{w.medium}d,
       count(*) FILTER (WHERE is_purchase AND {DATE} > {ly_start} AND {DATE} <= {ly_end})
         AS purchases_season_last_year,
       sum(gross_amount) AS gross_amount,
       sum(returned_amount) AS returned_amount
FROM gaps
GROUP BY {CUSTOMER_ID}
"""


def labels_sql(
    ledger: str, as_of: date, horizon_days: int, *, purchase: PurchaseRule = PurchaseRule()
) -> str:
    """Return SQL for what each customer did in the ``horizon_days`` days after ``as_of``.

    Columns: ``purchases_next`` (purchase days in ``(as_of, as_of + horizon]``) and
    ``spend_next`` (net spend over all ledger days in that window, returns included, floored
    at zero by the caller). Customers without ledger days in the window are absent: the caller
    fills zeros.
    """
    start = _d(as_of)
    end = _d(as_of + timedelta(days=horizon_days))
    return f"""
SELECT {CUSTOMER_ID},
       count(*) FILTER (WHERE {purchase.sql()}) AS purchases_next,
       sum(net_amount) AS spend_next
FROM {ledger}
WHERE {DATE} > {start} AND {DATE} <= {end}
GROUP BY {CUSTOMER_ID}
"""
