"""Reading and writing transaction logs and tables (CSV, Parquet, DataFrames)."""

from churnmodel.io.tables import write_table
from churnmodel.io.transactions import (
    LoadReport,
    LoadResult,
    TransactionTable,
    connect,
    empty_load_error,
    load_transactions,
    read_transactions,
)

__all__ = [
    "LoadReport",
    "LoadResult",
    "TransactionTable",
    "connect",
    "empty_load_error",
    "load_transactions",
    "read_transactions",
    "write_table",
]
