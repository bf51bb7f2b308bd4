"""Run the feature queries on an embedded DuckDB database (pandas in, pandas out).

The engine owns a DuckDB connection. Transactions come either as a pandas DataFrame in the
canonical columns (registered without a copy) or as a :class:`~churnmodel.io.TransactionTable`
already held in a connection by :func:`churnmodel.io.load_transactions`, in which case the
rows never leave DuckDB until the one-row-per-customer result.
"""

from __future__ import annotations

import itertools

import duckdb
import pandas as pd

from churnmodel.exceptions import DataValidationError
from churnmodel.io.transactions import TransactionTable, connect
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP

__all__ = ["DuckDBEngine", "TransactionsLike"]

TransactionsLike = pd.DataFrame | TransactionTable

_counter = itertools.count()


class DuckDBEngine:
    """Embedded columnar engine for the feature queries.

    Parameters
    ----------
    con
        An existing connection (for example ``TransactionTable.con``); a new in-memory one
        otherwise.
    threads, memory_limit
        DuckDB settings for a new connection.
    """

    name = "duckdb"

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self.con = con if con is not None else connect(threads=threads, memory_limit=memory_limit)

    @classmethod
    def for_transactions(cls, transactions: TransactionsLike) -> tuple[DuckDBEngine, str]:
        """Return an engine holding ``transactions`` and the name of their relation."""
        if isinstance(transactions, TransactionTable):
            return cls(transactions.con), transactions.view
        if not isinstance(transactions, pd.DataFrame):
            raise TypeError(
                "transactions must be a pandas DataFrame or a TransactionTable, "
                f"got {type(transactions).__name__}"
            )
        check_canonical(transactions)
        engine = cls()
        raw = f"tx_{next(_counter)}"
        engine.con.register(raw, transactions[[CUSTOMER_ID, TIMESTAMP, AMOUNT]])
        # Ids become text whatever their dtype; time-zone-aware stamps become local time in the
        # connection's time zone (UTC unless set), as read_transactions would give them.
        name = engine.view(
            f"SELECT CAST({CUSTOMER_ID} AS VARCHAR) AS {CUSTOMER_ID}, "
            f"CAST({TIMESTAMP} AS TIMESTAMP) AS {TIMESTAMP}, CAST({AMOUNT} AS DOUBLE) AS {AMOUNT} "
            f"FROM {raw}",
            prefix="tx",
        )
        return engine, name

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing."""
        self.con.execute(sql).fetchall()

    def materialize(self, sql: str, *, prefix: str = "t") -> str:
        """Store the result of ``sql`` as a temporary table; return its name."""
        name = f"{prefix}_{next(_counter)}"
        self.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        return name

    def view(self, sql: str, *, prefix: str = "v") -> str:
        """Define ``sql`` as a temporary view (computed when read); return its name."""
        name = f"{prefix}_{next(_counter)}"
        self.execute(f"CREATE TEMP VIEW {name} AS {sql}")
        return name

    def to_pandas(self, sql: str) -> pd.DataFrame:
        """Run a query and return the result as a pandas DataFrame.

        The result goes through Arrow: for wide results this is several times faster than
        DuckDB's own DataFrame conversion. DATE columns become ``datetime64``.
        """
        return self.con.sql(sql).to_arrow_table().to_pandas(date_as_object=False)


def check_canonical(transactions: pd.DataFrame) -> None:
    """Raise DataValidationError unless ``transactions`` has clean canonical columns.

    Canonical transactions are what :func:`churnmodel.read_transactions` returns: non-null
    ``customer_id``, ``timestamp`` (datetime) and ``amount`` (number).
    """
    required = (CUSTOMER_ID, TIMESTAMP, AMOUNT)
    missing = [c for c in required if c not in transactions.columns]
    if missing:
        raise DataValidationError(
            f"transactions lack column(s) {missing}; columns present: "
            f"{[str(c) for c in transactions.columns]}",
            column=missing[0],
            hint="load raw logs with churnmodel.read_transactions(..., customer_col=..., "
            "date_col=..., amount_col=...), which maps and validates the columns",
        )
    if not pd.api.types.is_datetime64_any_dtype(transactions[TIMESTAMP]):
        raise DataValidationError(
            f"column {TIMESTAMP!r} must hold datetimes, got dtype {transactions[TIMESTAMP].dtype}",
            column=TIMESTAMP,
            hint="use churnmodel.read_transactions, which parses timestamps",
        )
    if not pd.api.types.is_numeric_dtype(transactions[AMOUNT]):
        raise DataValidationError(
            f"column {AMOUNT!r} must hold numbers, got dtype {transactions[AMOUNT].dtype}",
            column=AMOUNT,
            hint="use churnmodel.read_transactions, which parses amounts",
        )
    for col in required:
        bad = transactions[col].isna()
        if bad.any():
            raise DataValidationError(
                f"{int(bad.sum()):,} row(s) have a missing {col!r}",
                column=col,
                rows=transactions.loc[bad].head(20),
                hint="load the log with churnmodel.read_transactions, which quarantines such "
                "rows with a reason",
            )
