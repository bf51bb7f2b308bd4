"""Read a transaction log, map its columns, validate every row, and account for all of them.

The work runs in DuckDB so that a log of tens of millions of rows is read, checked and
deduplicated without a pandas copy of every row. Every row read ends up in exactly one of:

* ``rows_used``: clean rows that feed the customer-day ledger;
* ``rows_quarantined``: rows that cannot be used, each with a reason (blank customer,
  timestamp that does not parse, amount that is not a number ...);
* ``duplicates_removed``: exact repeats of a row with the same order id;
* ``rows_after_as_of``: clean rows dated after the as-of date (kept out of features).

``LoadReport.reconciles`` checks that these add up to ``rows_read``.

The rules (parsing, the reason of every bad row, grouping of identical rows, the counts) are SQL
in DuckDB's dialect built by :func:`parse_rows_sql`, :func:`group_rows_sql`,
:func:`load_counts_sql` and :func:`quarantine_rows_sql`, written so that SQLGlot transpiles them
faithfully to Spark SQL: ``churnmodel.features.spark`` validates a log with the same text.

DuckDB reaches the same counts and rows without storing the grouped rows: one pass counts the
rows and finds the hashes that several good rows share (:func:`load_stats_sql`), and only the
rows with those hashes are compared value by value (:func:`repeated_rows_sql`); the clean
rows are the good rows less the repeats. Parity tests compare both engines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from churnmodel.dates import parse_date
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, ORDER_ID, ROW_NUMBER, TIMESTAMP

__all__ = [
    "REASONS",
    "ROW_COLUMN",
    "LoadReport",
    "LoadResult",
    "TransactionTable",
    "after_as_of_sql",
    "connect",
    "empty_load_error",
    "group_rows_sql",
    "load_counts_sql",
    "load_report",
    "load_stats_sql",
    "load_transactions",
    "parse_rows_sql",
    "parsed_extra_columns",
    "quarantine_rows_sql",
    "read_transactions",
    "repeated_rows_sql",
]

Source = str | os.PathLike[str] | pd.DataFrame
DedupePolicy = Literal["auto", "all", "none"]

_ROW = "__churnmodel_row"
#: Column of the source relation that numbers its rows (1 = first data row).
ROW_COLUMN = _ROW
_FILE = "__churnmodel_file"
_CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_TEXT_TYPES = ("VARCHAR", "BLOB")

REASONS = (
    "missing customer_id",
    "missing timestamp",
    "unparseable timestamp",
    "missing amount",
    "non-numeric amount",
    "non-finite amount",
)


@dataclass(frozen=True)
class LoadReport:
    """What happened to every row of a transaction log.

    Attributes
    ----------
    source
        Where the rows came from (a path, or ``"DataFrame"``).
    rows_read
        Rows in the input, header excluded.
    rows_used
        Clean rows kept for features.
    rows_quarantined
        Rows set aside, each with a reason in ``quarantine``.
    duplicates_removed
        Exact repeats removed (same order id and fields; see ``dedupe``).
    rows_after_as_of
        Clean rows dated after ``as_of`` (0 when no as-of date was given).
    identical_rows_kept
        Rows identical to an earlier row that were kept because the log has no order id to
        tell a repeat order from a repeated export line. Informational; part of ``rows_used``.
    quarantine_by_reason
        Count of quarantined rows per reason.
    customers
        Distinct customers among the used rows (``None`` when not counted).
    first_date, last_date
        Date range of the used rows (business time zone).
    quarantine
        The quarantined rows: ``row_number`` (1 = first data row), ``reason``, and the raw
        values of the mapped columns as read.
    """

    source: str
    rows_read: int
    rows_used: int
    rows_quarantined: int
    duplicates_removed: int
    rows_after_as_of: int
    identical_rows_kept: int
    quarantine_by_reason: dict[str, int]
    customers: int | None
    first_date: date | None
    last_date: date | None
    as_of: date | None
    timezone: str
    quarantine: pd.DataFrame = field(repr=False, compare=False)

    @property
    def reconciles(self) -> bool:
        """Whether read = used + quarantined + duplicates removed + after as-of."""
        return self.rows_read == (
            self.rows_used + self.rows_quarantined + self.duplicates_removed + self.rows_after_as_of
        )

    @property
    def quarantined_share(self) -> float:
        """Quarantined rows as a share of rows read."""
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the counts as plain Python values (for logging and JSON)."""
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "rows_quarantined": self.rows_quarantined,
            "duplicates_removed": self.duplicates_removed,
            "rows_after_as_of": self.rows_after_as_of,
            "identical_rows_kept": self.identical_rows_kept,
            "quarantine_by_reason": dict(self.quarantine_by_reason),
            "customers": self.customers,
            "first_date": None if self.first_date is None else self.first_date.isoformat(),
            "last_date": None if self.last_date is None else self.last_date.isoformat(),
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "timezone": self.timezone,
            "reconciles": self.reconciles,
        }

    def summary(self) -> str:
        """Return a short human-readable account of the load."""
        lines = [
            f"source: {self.source}",
            f"rows read:           {self.rows_read:>12,}",
            f"  used:              {self.rows_used:>12,}",
            f"  quarantined:       {self.rows_quarantined:>12,}"
            + (f"  ({self.quarantined_share:.2%})" if self.rows_quarantined else ""),
        ]
        for reason, n in sorted(self.quarantine_by_reason.items()):
            lines.append(f"    {reason + ':':<24}{n:>9,}")
        lines += [
            f"  duplicates removed:{self.duplicates_removed:>12,}",
            f"  after as-of date:  {self.rows_after_as_of:>12,}",
        ]
        if self.identical_rows_kept:
            lines.append(
                f"  (identical rows kept, no order id to tell them apart: "
                f"{self.identical_rows_kept:,})"
            )
        if self.customers is not None:
            lines.append(f"customers: {self.customers:,}")
        if self.first_date is not None:
            lines.append(f"dates: {self.first_date} .. {self.last_date} ({self.timezone})")
        lines.append("counts reconcile: " + ("yes" if self.reconciles else "NO"))
        return "\n".join(lines)


@dataclass(frozen=True)
class TransactionTable:
    """Clean canonical transactions held in a DuckDB connection (no pandas copy).

    ``view`` names a relation with columns ``customer_id`` (VARCHAR), ``timestamp``
    (TIMESTAMP, business time zone, no offset), ``amount`` (DOUBLE) and ``order_id`` (VARCHAR).
    ``rows``, when known, is how many rows it holds (the load's ``rows_used``): the feature
    queries size their work by it.
    """

    con: duckdb.DuckDBPyConnection
    view: str
    rows: int | None = None

    def to_pandas(self) -> pd.DataFrame:
        """Return the transactions as a pandas DataFrame."""
        table = self.con.sql(
            f"SELECT {CUSTOMER_ID}, {TIMESTAMP}, {AMOUNT}, {ORDER_ID} FROM {self.view} "
            f"ORDER BY {_ROW}"
        ).to_arrow_table()
        return table.to_pandas()


@dataclass(frozen=True)
class LoadResult:
    """Clean transactions and the report of the load; unpacks as ``(transactions, report)``."""

    transactions: pd.DataFrame
    report: LoadReport

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.transactions, self.report))


def connect(
    *, threads: int | None = None, memory_limit: str | None = None, timezone: str = "UTC"
) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection set up for churnmodel.

    Parameters
    ----------
    threads
        Worker threads (default: DuckDB's choice, one per core).
    memory_limit
        DuckDB memory limit such as ``"1GB"``; DuckDB spills to disk beyond it.
    timezone
        Session time zone: timestamps without an offset are read as local time here.
    """
    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute("SET memory_limit = ?", [memory_limit])
    try:
        con.execute("SET TimeZone = ?", [timezone])
    except duckdb.Error as exc:
        raise ConfigError(
            f"'timezone' must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', "
            f"got {timezone!r}"
        ) from exc
    return con


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_label(source: Source) -> str:
    return "DataFrame" if isinstance(source, pd.DataFrame) else str(source)


def _register_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    columns: Sequence[str],
    all_columns: bool,
    delimiter: str | None,
    encoding: str,
) -> list[tuple[str, str]]:
    """Create view ``src`` with the input's columns plus a row number; return (name, type)s."""
    if isinstance(source, pd.DataFrame):
        _fail_duplicate_columns([str(c) for c in source.columns], "DataFrame")
        missing = [c for c in columns if c not in source.columns]
        _fail_missing(missing, [str(c) for c in source.columns], "DataFrame")
        keep = list(source.columns) if all_columns else list(dict.fromkeys(columns))
        frame = source[keep].copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
        frame[_ROW] = np.arange(1, len(frame) + 1, dtype=np.int64)
        con.register("src_frame", frame)
        con.execute("CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM src_frame")
    else:
        path = Path(source)
        if not path.exists():
            raise DataValidationError(
                f"transaction log not found: {path}", hint="check the path passed as --data"
            )
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _PARQUET_SUFFIXES)
            if not files:
                raise DataValidationError(
                    f"folder {path} holds no Parquet files (*.parquet)",
                    hint="point --data at a CSV or Parquet file, or a folder of Parquet files",
                )
            kind = "parquet"
        else:
            files = [path]
            suffix = path.suffix.lower()
            if suffix in _PARQUET_SUFFIXES:
                kind = "parquet"
            elif suffix in _CSV_SUFFIXES or suffix == ".gz":
                kind = "csv"
            else:
                raise DataValidationError(
                    f"cannot tell the format of {path.name!r} from its extension",
                    hint="use .csv/.txt/.tsv for delimited text or .parquet for Parquet",
                )
        if kind == "parquet":
            file_list = "[" + ", ".join(_literal(str(p)) for p in files) + "]"
            try:
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW src_file AS SELECT * FROM read_parquet("
                    f"{file_list}, file_row_number = true, filename = {_literal(_FILE)}, "
                    f"union_by_name = true)"
                )
                if len(files) == 1:
                    con.execute(
                        "CREATE OR REPLACE TEMP VIEW src AS SELECT * EXCLUDE (file_row_number, "
                        f"{_FILE}), file_row_number + 1 AS {_ROW} FROM src_file"
                    )
                else:
                    # A global row number: rows of earlier files come first, in file order.
                    con.execute(
                        "CREATE OR REPLACE TEMP TABLE src_offsets AS SELECT "
                        f"{_FILE}, sum(n) OVER (ORDER BY {_FILE}) - n AS offset_rows FROM ("
                        f"SELECT {_FILE}, count(*) AS n FROM src_file GROUP BY 1)"
                    )
                    con.execute(
                        "CREATE OR REPLACE TEMP VIEW src AS SELECT f.* EXCLUDE (file_row_number,"
                        f" {_FILE}), f.file_row_number + o.offset_rows + 1 AS {_ROW} "
                        f"FROM src_file f JOIN src_offsets o USING ({_FILE})"
                    )
            except duckdb.Error as exc:
                raise DataValidationError(
                    f"could not read Parquet input {path}: {_first_line(exc)}",
                    hint="check that the file is a complete Parquet file",
                ) from exc
        else:
            if path.stat().st_size == 0:
                raise DataValidationError(
                    f"{path} is empty: it has no header and no rows",
                    hint="export the transactions again",
                )
            opts = ["header = true", "all_varchar = true", f"encoding = {_literal(encoding)}"]
            if delimiter is not None:
                opts.append(f"delim = {_literal(delimiter)}")
            try:
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE src_csv AS SELECT * FROM read_csv("
                    f"{_literal(str(path))}, {', '.join(opts)})"
                )
            except duckdb.Error as exc:
                msg = _first_line(exc)
                hint = "check the delimiter (--delimiter) and that the file is a CSV"
                if "unicode" in str(exc).lower() or "utf" in str(exc).lower():
                    hint = (
                        "the file is not UTF-8: pass encoding='latin-1' "
                        "(CLI: --encoding latin-1) or re-save it as UTF-8"
                    )
                if "empty" in msg.lower():
                    raise DataValidationError(
                        f"{path} is empty: it has no header and no rows",
                        hint="export the transactions again",
                    ) from exc
                raise DataValidationError(f"could not read CSV {path}: {msg}", hint=hint) from exc
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW src AS SELECT *, rowid + 1 AS {_ROW} FROM src_csv"
            )
    described = con.execute("DESCRIBE SELECT * FROM src").fetchall()
    found = [(str(r[0]), str(r[1])) for r in described if r[0] != _ROW]
    names = [n for n, _ in found]
    if not isinstance(source, pd.DataFrame) and _renamed_duplicates(names):
        # DuckDB reads a second 'amount' as 'amount_1': check the names as the file has them.
        _fail_duplicate_columns(
            _file_header(con, Path(source), delimiter=delimiter, encoding=encoding),
            _source_label(source),
        )
    missing = [c for c in columns if c not in names]
    _fail_missing(missing, names, _source_label(source))
    return found


def _renamed_duplicates(names: Sequence[str]) -> bool:
    """Whether DuckDB may have renamed a repeated column (``amount``, ``amount_1``)."""
    present = set(names)
    return any(n.rpartition("_")[0] in present and n.rpartition("_")[2].isdigit() for n in names)


def _file_header(
    con: duckdb.DuckDBPyConnection, path: Path, *, delimiter: str | None, encoding: str
) -> list[str]:
    """Return the column names as written in the file (or each Parquet file, in turn)."""
    if path.is_dir() or path.suffix.lower() in _PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _PARQUET_SUFFIXES)
        for file in files or [path]:
            names = [str(n) for n in pq.read_schema(file).names]
            if len(set(names)) < len(names):
                return names
        return []
    opts = ["header = false", "all_varchar = true", f"encoding = {_literal(encoding)}"]
    if delimiter is not None:
        opts.append(f"delim = {_literal(delimiter)}")
    row = con.execute(
        f"SELECT * FROM read_csv({_literal(str(path))}, {', '.join(opts)}) LIMIT 1"
    ).fetchone()
    return [str(v).strip() for v in row or ()]


def _fail_duplicate_columns(names: Sequence[str], where: str) -> None:
    """Raise if two columns share a name: which one holds the amount would be a guess."""
    counts: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        counts.setdefault(name, []).append(i)
    repeated = {n: at for n, at in counts.items() if len(at) > 1}
    if not repeated:
        return
    which = "; ".join(
        f"{n!r} (columns {', '.join(map(str, at[:-1]))} and {at[-1]})" for n, at in repeated.items()
    )
    raise DataValidationError(
        f"duplicate column names in {where}: {which}",
        column=next(iter(repeated)),
        hint="rename the columns so that every name is unique, then map them with "
        "--customer-col, --date-col, --amount-col",
    )


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """Run a query that returns one row and fetch it completely."""
    rows = con.execute(sql).fetchall()
    return tuple(rows[0])


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _fail_missing(missing: Sequence[str], existing: Sequence[str], where: str) -> None:
    if not missing:
        return
    if len(existing) == 1 and any(d in existing[0] for d in ";|\t,"):
        hint = (
            f"the whole header was read as one column ({existing[0]!r}): the file probably uses "
            "another delimiter; pass delimiter=';' (CLI: --delimiter ';')"
        )
    else:
        hint = (
            "map your columns with customer_col=, date_col=, amount_col= "
            "(CLI: --customer-col, --date-col, --amount-col)"
        )
    raise DataValidationError(
        f"column(s) {', '.join(repr(m) for m in missing)} not found in {where}; "
        f"columns that exist: {', '.join(repr(e) for e in existing) or '(none)'}",
        column=missing[0],
        hint=hint,
    )


def _timestamp_sql(col: str, dtype: str, date_format: str | Sequence[str] | None) -> str:
    """Return SQL for a naive TIMESTAMP in the session (business) zone; NULL if unparseable."""
    c = _ident(col)
    upper = dtype.upper()
    if upper.startswith("TIMESTAMP WITH TIME ZONE") or upper == "TIMESTAMPTZ":
        return f"CAST({c} AS TIMESTAMP)"  # converted to the session time zone
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return f"CAST({c} AS TIMESTAMP)"
    text = f"trim(CAST({c} AS VARCHAR))"
    if date_format:
        formats = [date_format] if isinstance(date_format, str) else list(date_format)
        # The first format that parses wins, as with DuckDB's list form of try_strptime; one
        # call per format so that other engines can transpile each.
        tries = [f"try_strptime({text}, {_literal(f)})" for f in formats]
        parsed = tries[0] if len(tries) == 1 else f"coalesce({', '.join(tries)})"
        return f"CAST({parsed} AS TIMESTAMP)"
    # ISO 8601 with or without offset; a value with an offset is converted to the session zone.
    return f"CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)"


def _amount_sql(col: str, dtype: str, decimal: str) -> str:
    """Return SQL parsing an amount; NULL when the text is not a well-formed number.

    Text may carry currency symbols or codes, spaces, a sign, accounting parentheses
    ``(12.50)``, and thousands separators, but only in groups of three digits: with
    ``decimal="."`` ``"1,234.50"`` is 1234.5 while ``"1,5"`` is refused rather than read as 15.
    """
    c = _ident(col)
    if dtype.upper() not in _TEXT_TYPES:
        return f"TRY_CAST({c} AS DOUBLE)"
    thousands = "," if decimal == "." else "."
    text = f"trim(CAST({c} AS VARCHAR))"
    # "(12.50)" -> "-(12.50)"; the next step drops the parentheses (a back-reference would
    # not transpile: its syntax differs between engines).
    signed = f"CASE WHEN regexp_matches({text}, '^\\(.*\\)$') THEN '-' || {text} ELSE {text} END"
    t, d = _re_escape(thousands), _re_escape(decimal)
    kept = f"regexp_replace({signed}, '[^0-9{d}{t}+\\-eE]', '', 'g')"
    kept = f"regexp_replace({kept}, '^[eE]+|[eE]+$', '', 'g')"
    integer = f"([0-9]{{1,3}}({t}[0-9]{{3}})+|[0-9]+)"
    well_formed = f"^[+-]?({integer}({d}[0-9]*)?|{d}[0-9]+)([eE][+-]?[0-9]+)?$"
    number = f"replace({kept}, {_literal(thousands)}, '')"
    if decimal != ".":
        number = f"replace({number}, {_literal(decimal)}, '.')"
    return (
        # well_formed is anchored (^...$): a match is a full match.
        f"CASE WHEN regexp_matches({kept}, {_literal(well_formed)}) "
        f"THEN TRY_CAST({number} AS DOUBLE) END"
    )


def _re_escape(ch: str) -> str:
    return "\\" + ch if ch in ".^$*+?()[]{}|\\-" else ch


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    customer_col: str = CUSTOMER_ID,
    date_col: str = TIMESTAMP,
    amount_col: str = AMOUNT,
    order_col: str | None = None,
    as_of: str | date | datetime | pd.Timestamp | None = None,
    timezone: str = "UTC",
    date_format: str | Sequence[str] | None = None,
    decimal: str = ".",
    delimiter: str | None = None,
    encoding: str = "utf-8",
    dedupe: DedupePolicy = "auto",
    max_quarantine_share: float = 0.01,
    source_name: str | None = None,
    count_customers: bool = True,
    materialize: bool = False,
) -> tuple[TransactionTable, LoadReport]:
    """Load and validate a log into ``con``; return the clean table and the report.

    This is :func:`read_transactions` without the pandas copy of the clean rows; see there
    for the parameters. ``con`` must come from :func:`connect`; its time zone is set to
    ``timezone``. ``source_name`` labels the source in the report (default: the path).
    ``count_customers=False`` skips counting distinct customers (``report.customers`` is then
    ``None``; a caller that builds features can fill it in for free).

    The clean rows are a view: each query on them reads and parses the input again, which
    costs less than a copy of every row (a 10M-row Parquet file: 0.3 s per read, against
    0.6 GB held). ``materialize=True`` stores them as a table instead, for callers that
    read them many times (batch scoring reads them once per chunk of customers).
    """
    if not 0.0 <= max_quarantine_share <= 1.0:
        raise ConfigError(
            f"'max_quarantine_share' must be between 0 and 1, got {max_quarantine_share!r}"
        )
    if dedupe not in ("auto", "all", "none"):
        raise ConfigError(f"'dedupe' must be 'auto', 'all' or 'none', got {dedupe!r}")
    if decimal not in (".", ","):
        raise ConfigError(f"'decimal' must be '.' or ',', got {decimal!r}")
    as_of_date = None if as_of is None else _to_date(as_of, "as_of")
    con.execute("SET TimeZone = ?", [timezone])

    mapped = [customer_col, date_col, amount_col] + ([order_col] if order_col else [])
    if len(set(mapped)) != len(mapped):
        raise ConfigError(f"the column flags must name different columns, got {mapped}")
    remove_dupes = dedupe == "all" or (dedupe == "auto" and order_col is not None)
    columns = _register_source(
        con,
        source,
        columns=mapped,
        all_columns=(dedupe == "all"),
        delimiter=delimiter,
        encoding=encoding,
    )
    types = dict(columns)
    extra = [n for n, _ in columns if n not in mapped] if dedupe == "all" else []
    parsed = parse_rows_sql(
        "src",
        types,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        order_col=order_col,
        date_format=date_format,
        decimal=decimal,
        extra=extra,
    )
    # One row per input row (bad rows with their raw values); never stored: every query on it
    # reads the input again, which is cheaper than holding a copy of every row.
    _replace_relation(con, "parsed", "VIEW", parsed)
    _replace_relation(con, "grouped", "VIEW", group_rows_sql("SELECT * FROM parsed", dedupe="none"))
    repeats = 0
    if dedupe == "none":
        counts = _one(con, load_counts_sql("grouped", as_of_date))
    else:
        keys = [CUSTOMER_ID, TIMESTAMP, AMOUNT, ORDER_ID, *parsed_extra_columns(extra)]
        _replace_relation(con, "load_stats", "TABLE", load_stats_sql("parsed", keys, as_of_date))
        read, quarantined, after_rows, first, last, n_candidates = _one(
            con,
            "SELECT rows_read, rows_quarantined, good_rows_after_as_of, first_date, last_date, "
            "len(candidates) FROM load_stats",
        )
        repeats_after = 0
        con.execute("DROP TABLE IF EXISTS load_repeats").fetchall()
        if n_candidates:
            _replace_relation(
                con,
                "load_repeats",
                "TABLE",
                repeated_rows_sql("parsed", keys, "load_stats", as_of_date),
            )
            repeats, repeats_after = _one(
                con, "SELECT count(*), count(*) FILTER (WHERE after_as_of) FROM load_repeats"
            )
        # The counts of load_counts_sql on rows grouped by value (as the Spark engine groups).
        counts = (
            read,
            quarantined,
            repeats,
            after_rows - repeats_after,
            after_rows,
            first,
            last,
        )
    # The clean rows: the good rows up to as_of, less the repeats when they are removed. A
    # condition the counts show to hold for every row is left out (the reason of every row
    # costs a tenth of a read). They stay a view (read again by each query) unless the caller
    # reads them several times (batch scoring by chunks): then a table of five columns is
    # cheaper.
    conds = ["reason IS NULL"] if counts[1] else []
    conds += [f"NOT ({after_as_of_sql(as_of_date)})"] if counts[4] else []
    conds += (
        [f"{_ROW} NOT IN (SELECT {_ROW} FROM load_repeats)"] if remove_dupes and repeats else []
    )
    clean_sql = f"SELECT {_ROW}, {CUSTOMER_ID}, {TIMESTAMP}, {AMOUNT}, {ORDER_ID} FROM parsed"
    if conds:
        clean_sql += " WHERE " + " AND ".join(conds)
    _replace_relation(con, "clean", "TABLE" if materialize else "VIEW", clean_sql)
    if counts[0] == 0:
        raise DataValidationError(
            f"{_source_label(source)} has a header but no rows",
            hint="check that the export finished and the file is complete",
        )
    quarantine_sql = quarantine_rows_sql("grouped")
    if not counts[1]:
        # Nothing quarantined: the same (empty) columns without another pass over the input.
        quarantine_sql = f"SELECT * FROM ({quarantine_sql}) LIMIT 0"
    quarantine = con.sql(quarantine_sql).to_arrow_table().to_pandas()
    customers = (
        int(_one(con, f"SELECT count(DISTINCT {CUSTOMER_ID}) FROM clean")[0])
        if count_customers
        else None
    )
    report = load_report(
        counts,
        quarantine,
        source=source_name or _source_label(source),
        remove_dupes=remove_dupes,
        as_of=as_of_date,
        timezone=timezone,
        customers=customers,
        max_quarantine_share=max_quarantine_share,
        columns=(customer_col, date_col, amount_col),
    )
    return TransactionTable(con=con, view="clean", rows=report.rows_used), report


def empty_load_error(table: TransactionTable, report: LoadReport) -> DataValidationError:
    """Return the error for a load of :func:`load_transactions` that left no row to use.

    A job that needs rows raises it: every good row lies after the as-of date (the message
    names the log's dates and the as-of date), or every row was quarantined. The load
    itself is not an error: its report accounts for every row.
    """
    if report.rows_after_as_of:
        first, last = _one(
            table.con,
            f"SELECT min(CAST({TIMESTAMP} AS DATE)), max(CAST({TIMESTAMP} AS DATE)) "
            "FROM parsed WHERE reason IS NULL",
        )
        return DataValidationError(
            f"no transaction on or before the as-of date {report.as_of}: the log's "
            f"{report.rows_after_as_of:,} usable rows run from {first} to {last} "
            f"({report.timezone})",
            hint=f"pick an as-of date on or after {first} (--as-of YYYY-MM-DD), or drop it to "
            f"use the last date, {last}",
        )
    return DataValidationError(  # every row quarantined, with max_quarantine_share = 1
        f"no usable row in {report.source}: all {report.rows_read:,} rows were quarantined "
        f"({', '.join(f'{r}: {n:,}' for r, n in sorted(report.quarantine_by_reason.items()))})",
        hint="see the quarantine file for the rows and their reasons",
        rows=report.quarantine,
    )


def _customer_sql(col: str) -> str:
    raw = f"CAST({_ident(col)} AS VARCHAR)"
    # trim() copies every string, so it runs only on ids that start or end with a space.
    return f"CASE WHEN {raw} LIKE ' %' OR {raw} LIKE '% ' THEN trim({raw}) ELSE {raw} END"


# Blank ids and the usual spreadsheet null markers are missing ids, not customers. The test
# sits in the ``reason`` expression (a constant result) rather than in the id expression (a
# CASE returning the id after this test costs 10x more in DuckDB), and lower() runs only on
# ids short enough to be a marker (ids are trimmed by then).
_MISSING_CUSTOMER = "c IS NULL OR (length(c) <= 4 AND lower(c) IN ('', 'nan', 'null', 'none'))"


def parse_rows_sql(
    source: str,
    types: Mapping[str, str],
    *,
    customer_col: str = CUSTOMER_ID,
    date_col: str = TIMESTAMP,
    amount_col: str = AMOUNT,
    order_col: str | None = None,
    date_format: str | Sequence[str] | None = None,
    decimal: str = ".",
    extra: Sequence[str] = (),
) -> str:
    """Return SQL (DuckDB dialect) that parses every row of ``source`` and names what is wrong.

    ``source`` is a relation with the input's columns and :data:`ROW_COLUMN` (the row number);
    ``types`` maps its column names to DuckDB type names (``VARCHAR``, ``TIMESTAMP``,
    ``TIMESTAMP WITH TIME ZONE``, ``DATE``, ``DOUBLE`` ...), which decide how a column is
    parsed. The result has the row number, the canonical ``customer_id``, ``timestamp``,
    ``amount`` and ``order_id``, ``reason`` (NULL for a good row; one of :data:`REASONS`
    otherwise), the raw values ``raw_c``, ``raw_t``, ``raw_a`` and the ``extra`` columns as
    they are (for ``dedupe="all"``), named :func:`parsed_extra_columns` so that an input column
    called ``order_id``, ``reason`` or the like cannot be confused with the parser's own.
    """
    cust_raw = f"CAST({_ident(customer_col)} AS VARCHAR)"
    cust = _customer_sql(customer_col)
    ts = _timestamp_sql(date_col, types[date_col], date_format)
    amt = _amount_sql(amount_col, types[amount_col], decimal)
    order = f"CAST({_ident(order_col)} AS VARCHAR)" if order_col else "CAST(NULL AS VARCHAR)"
    aliases = parsed_extra_columns(extra)
    extra_in = "".join(f", {_ident(n)} AS {a}" for n, a in zip(extra, aliases, strict=True))
    extra_sel = "".join(f", {a}" for a in aliases)
    return f"""
        SELECT {_ROW}, c AS {CUSTOMER_ID}, t AS {TIMESTAMP}, a AS {AMOUNT}, o AS {ORDER_ID},
          CASE
            WHEN {_MISSING_CUSTOMER} THEN 'missing customer_id'
            -- The raw text is looked at only when parsing failed: formatting every good
            -- timestamp or amount as text would cost more than the whole load.
            WHEN t IS NULL THEN
              CASE WHEN raw_t IS NULL OR trim(CAST(raw_t AS VARCHAR)) = ''
                   THEN 'missing timestamp' ELSE 'unparseable timestamp' END
            WHEN a IS NULL THEN
              CASE WHEN raw_a IS NULL OR trim(CAST(raw_a AS VARCHAR)) = ''
                   THEN 'missing amount' ELSE 'non-numeric amount' END
            WHEN isnan(a) OR abs(a) = CAST('Infinity' AS DOUBLE) THEN 'non-finite amount'
          END AS reason,
          raw_c, raw_t, raw_a {extra_sel}
        FROM (SELECT {_ROW}, {cust} AS c, {ts} AS t, {amt} AS a, {order} AS o,
                     {cust_raw} AS raw_c, {_ident(date_col)} AS raw_t,
                     {_ident(amount_col)} AS raw_a {extra_in}
              FROM {source})"""


def parsed_extra_columns(extra: Sequence[str]) -> list[str]:
    """Return the names :func:`parse_rows_sql` gives the ``extra`` input columns, in order."""
    return [f"extra_{i}" for i in range(len(extra))]


def group_rows_sql(parsed: str, *, dedupe: DedupePolicy, extra: Sequence[str] = ()) -> str:
    """Return SQL (DuckDB dialect) grouping identical good rows of :func:`parse_rows_sql`.

    Identical good rows become one group (``n`` = how many times it was seen; the smallest
    row number stands for it; ``dedupe="all"`` compares ``extra`` too: the names
    :func:`parsed_extra_columns` gives the other input columns) and carry
    NULL raw values. Bad rows pass through one by one with their raw values (``bad_row``,
    their row number; ``n = 1``). With ``dedupe="none"`` nothing is grouped (``n = 1``).
    """
    bad = "reason IS NOT NULL"
    extra_sel = "".join(f", {_ident(n)}" for n in extra)
    if dedupe == "none":
        # Nothing is grouped: every good row is used as it is (identical rows are not counted).
        return f"""
        SELECT {CUSTOMER_ID}, {TIMESTAMP}, {AMOUNT}, {ORDER_ID}, reason,
               {_ROW} AS bad_row,
               CASE WHEN {bad} THEN raw_c END AS raw_c,
               CASE WHEN {bad} THEN CAST(raw_t AS VARCHAR) END AS raw_t,
               CASE WHEN {bad} THEN CAST(raw_a AS VARCHAR) END AS raw_a,
               {_ROW}, 1 AS n
        FROM ({parsed})"""
    # Good rows are grouped on their values alone; bad rows pass through one by one. Two scans
    # of the input, but a hash aggregation on four keys instead of nine: 1 s less on 10M rows.
    return f"""
        SELECT {CUSTOMER_ID}, {TIMESTAMP}, {AMOUNT}, {ORDER_ID},
               CAST(NULL AS VARCHAR) AS reason {extra_sel},
               CAST(NULL AS BIGINT) AS bad_row, CAST(NULL AS VARCHAR) AS raw_c,
               CAST(NULL AS VARCHAR) AS raw_t, CAST(NULL AS VARCHAR) AS raw_a,
               min({_ROW}) AS {_ROW}, count(*) AS n
        FROM ({parsed})
        WHERE reason IS NULL
        GROUP BY {CUSTOMER_ID}, {TIMESTAMP}, {AMOUNT}, {ORDER_ID} {extra_sel}
        UNION ALL
        SELECT {CUSTOMER_ID}, {TIMESTAMP}, {AMOUNT}, {ORDER_ID}, reason {extra_sel},
               CAST({_ROW} AS BIGINT) AS bad_row, raw_c, CAST(raw_t AS VARCHAR) AS raw_t,
               CAST(raw_a AS VARCHAR) AS raw_a, {_ROW}, 1 AS n
        FROM ({parsed})
        WHERE {bad}"""


def after_as_of_sql(as_of: date | None) -> str:
    """Return the SQL condition "this row is dated after ``as_of``" (``false`` without one)."""
    if as_of is None:
        return "false"
    return f"CAST({TIMESTAMP} AS DATE) > DATE '{as_of.isoformat()}'"


def load_counts_sql(grouped: str, as_of: date | None) -> str:
    """Return SQL (DuckDB dialect) for the counts :func:`load_report` takes, from ``grouped``.

    One row: rows read, rows quarantined, repeats of good rows, good groups and good rows
    after ``as_of``, and the first and last date of the good rows up to ``as_of``.
    """
    after = after_as_of_sql(as_of)
    good = f"reason IS NULL AND NOT ({after})"
    return f"""SELECT coalesce(sum(n), 0), coalesce(sum(n) FILTER (WHERE reason IS NOT NULL), 0),
                   coalesce(sum(n - 1) FILTER (WHERE reason IS NULL), 0),
                   count(*) FILTER (WHERE reason IS NULL AND {after}),
                   coalesce(sum(n) FILTER (WHERE reason IS NULL AND {after}), 0),
                   min(CAST({TIMESTAMP} AS DATE)) FILTER (WHERE {good}),
                   max(CAST({TIMESTAMP} AS DATE)) FILTER (WHERE {good})
            FROM {grouped}"""


def quarantine_rows_sql(grouped: str) -> str:
    """Return SQL (DuckDB dialect) for the quarantined rows of ``grouped``, by row number."""
    return f"""SELECT bad_row AS {ROW_NUMBER}, reason, raw_c AS {CUSTOMER_ID},
                   raw_t AS {TIMESTAMP}, raw_a AS {AMOUNT}, {ORDER_ID}
            FROM {grouped} WHERE reason IS NOT NULL ORDER BY bad_row"""


def _row_hash_sql(columns: Sequence[str]) -> str:
    """Return SQL hashing a row's values in ``columns`` (equal values, equal hash)."""
    return f"hash({', '.join(_ident(c) for c in columns)})"


def load_stats_sql(rows: str, keys: Sequence[str], as_of: date | None) -> str:
    """Return SQL (DuckDB dialect) for the counts of a load and the candidate repeated rows.

    ``rows`` is the relation of :func:`parse_rows_sql` (one row per input row). One pass, one
    row: ``rows_read``, ``rows_quarantined``, ``good_rows_after_as_of``, ``first_date`` and
    ``last_date`` (of the good rows up to ``as_of``), and ``candidates``: the hashes of the
    ``keys`` columns that more than one good row has. Identical good rows always share a hash,
    so every group of identical rows is among the candidates; a candidate may also be two
    different rows whose hashes collide: :func:`repeated_rows_sql` compares the values.

    Grouping on one 64-bit hash (and the date) instead of the values of every key column
    takes a third of the memory and half the time on 10M rows.
    """
    after = "false" if as_of is None else f"d > DATE '{as_of.isoformat()}'"
    return f"""
        SELECT coalesce(sum(n), 0) AS rows_read,
               coalesce(sum(n) FILTER (WHERE k IS NULL), 0) AS rows_quarantined,
               coalesce(sum(n) FILTER (WHERE k IS NOT NULL AND {after}), 0)
                 AS good_rows_after_as_of,
               min(d) FILTER (WHERE k IS NOT NULL AND NOT ({after})) AS first_date,
               max(d) FILTER (WHERE k IS NOT NULL AND NOT ({after})) AS last_date,
               coalesce(list(k) FILTER (WHERE k IS NOT NULL AND n > 1), []) AS candidates
        FROM (SELECT k, d, count(*) AS n
              FROM (SELECT CASE WHEN reason IS NULL THEN {_row_hash_sql(keys)} END AS k,
                           CAST({TIMESTAMP} AS DATE) AS d
                    FROM {rows})
              GROUP BY k, d)"""


def repeated_rows_sql(rows: str, keys: Sequence[str], stats: str, as_of: date | None) -> str:
    """Return SQL (DuckDB dialect) for the good rows that repeat an earlier identical row.

    ``rows`` as in :func:`load_stats_sql`, ``stats`` its result. Among the good rows whose
    hash is a candidate, rows identical in every ``keys`` column form a group; every row of a
    group but the first (smallest row number) is returned, with ``after_as_of``. These are
    the rows :func:`group_rows_sql` folds into their group: ``n - 1`` per group.
    """
    part = ", ".join(_ident(c) for c in keys)
    return f"""
        SELECT {_ROW}, after_as_of
        FROM (SELECT {_ROW}, {after_as_of_sql(as_of)} AS after_as_of,
                     min({_ROW}) OVER (PARTITION BY {part}) AS first_row
              FROM {rows}
              WHERE reason IS NULL
                AND {_row_hash_sql(keys)} IN (SELECT unnest(candidates) FROM {stats}))
        WHERE {_ROW} <> first_row"""


def _replace_relation(con: duckdb.DuckDBPyConnection, name: str, kind: str, sql: str) -> None:
    """Create the temporary view or table ``name`` from ``sql``, replacing any earlier one."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}").fetchall()
    except duckdb.CatalogException:
        # An earlier load made it the other kind (a table where a view goes, or the reverse).
        other = "VIEW" if kind == "TABLE" else "TABLE"
        con.execute(f"DROP {other} IF EXISTS {name}").fetchall()
        con.execute(f"CREATE TEMP {kind} {name} AS {sql}").fetchall()


def load_report(
    counts: Sequence[Any],
    quarantine: pd.DataFrame,
    *,
    source: str,
    remove_dupes: bool,
    as_of: date | None,
    timezone: str,
    customers: int | None,
    max_quarantine_share: float,
    columns: tuple[str, str, str],
) -> LoadReport:
    """Return the :class:`LoadReport` of a load from the row of :func:`load_counts_sql`.

    ``columns`` are the input's customer, date and amount column names (for the error).

    Raises
    ------
    DataValidationError
        If more than ``max_quarantine_share`` of the rows were quarantined; the error
        carries the quarantined rows.
    """
    read, quarantined, dup_extra, after_groups, after_rows, first, last = counts
    valid_n = int(read) - int(quarantined)
    if remove_dupes:
        duplicates_removed, identical_kept, after_count = int(dup_extra), 0, int(after_groups)
    else:
        duplicates_removed, identical_kept, after_count = 0, int(dup_extra), int(after_rows)
    rows_used = valid_n - duplicates_removed - after_count
    by_reason = {str(r): int(n) for r, n in quarantine["reason"].value_counts(sort=False).items()}
    report = LoadReport(
        source=source,
        rows_read=int(read),
        rows_used=int(rows_used),
        rows_quarantined=int(quarantined),
        duplicates_removed=int(duplicates_removed),
        rows_after_as_of=int(after_count),
        identical_rows_kept=int(identical_kept),
        quarantine_by_reason=by_reason,
        customers=customers,
        first_date=first,
        last_date=last,
        as_of=as_of,
        timezone=timezone,
        quarantine=quarantine,
    )
    if not report.reconciles:  # pragma: no cover - a bug, not a data problem
        raise AssertionError(f"load counts do not reconcile: {report.to_dict()}")
    if report.quarantined_share > max_quarantine_share:
        customer_col, date_col, amount_col = columns
        reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(by_reason.items()))
        worst = max(by_reason, key=by_reason.__getitem__)
        column = {
            "missing customer_id": customer_col,
            "missing timestamp": date_col,
            "unparseable timestamp": date_col,
        }.get(worst, amount_col)
        hint = _quarantine_hint(worst, column)
        raise DataValidationError(
            f"{report.rows_quarantined:,} of {report.rows_read:,} rows "
            f"({report.quarantined_share:.2%}) could not be used, more than the limit of "
            f"{max_quarantine_share:.2%} ({reasons}); worst column: {column!r}",
            column=column,
            rows=quarantine,
            hint=hint,
        )
    return report


def _quarantine_hint(reason: str, column: str) -> str:
    if "timestamp" in reason:
        return (
            f"timestamps in {column!r} are read as ISO 8601 (2024-03-31 or "
            "2024-03-31T12:00:00+02:00); for other layouts pass date_format='%d/%m/%Y' "
            "(CLI: --date-format). Raise max_quarantine_share to accept the loss."
        )
    if "amount" in reason:
        return (
            f"amounts in {column!r} must be numbers; for '1.234,56' pass decimal=',' "
            "(CLI: --decimal ,). Raise max_quarantine_share to accept the loss."
        )
    return (
        f"fill in {column!r} or remove those rows; raise max_quarantine_share "
        "(CLI: --max-quarantine-share) to accept the loss."
    )


def _to_date(value: str | date | datetime | pd.Timestamp, name: str) -> date:
    return parse_date(value, name)


def read_transactions(
    source: Source,
    *,
    customer_col: str = CUSTOMER_ID,
    date_col: str = TIMESTAMP,
    amount_col: str = AMOUNT,
    order_col: str | None = None,
    as_of: str | date | datetime | pd.Timestamp | None = None,
    timezone: str = "UTC",
    date_format: str | Sequence[str] | None = None,
    decimal: str = ".",
    delimiter: str | None = None,
    encoding: str = "utf-8",
    dedupe: DedupePolicy = "auto",
    max_quarantine_share: float = 0.01,
    threads: int | None = None,
) -> LoadResult:
    """Read a transaction log into canonical columns, validating and accounting for every row.

    Parameters
    ----------
    source
        A CSV file, a Parquet file, a folder of Parquet files, or a pandas DataFrame.
    customer_col, date_col, amount_col, order_col
        The input's column names for customer id, timestamp, amount and (optional) order id.
        Customer ids are kept as text: ``"00042"`` stays ``"00042"``.
    as_of
        Rows dated after this day are counted in ``rows_after_as_of`` and left out.
    timezone
        The business time zone. A timestamp with an offset is converted to it before its date
        is taken; a timestamp without one is taken to be local time there already.
    date_format
        strptime format(s) for text timestamps that are not ISO 8601, e.g. ``"%Y%m%d"`` or
        ``["%d/%m/%Y", "%d/%m/%Y %H:%M"]``.
    decimal
        Decimal mark of text amounts: ``"."`` (thousands ``,``) or ``","`` (thousands ``.``).
        Currency symbols, codes, spaces and thousands separators are removed; ``(12.50)``
        reads as -12.50.
    delimiter, encoding
        For CSV input: the field separator (sniffed when ``None``) and the text encoding.
    dedupe
        ``"auto"`` removes exact duplicate rows when ``order_col`` is given (same order id and
        fields) and keeps identical rows otherwise, counting them in ``identical_rows_kept``
        (without an order id, two equal lines are often two real orders, as in CDNOW);
        ``"all"`` removes rows identical in every input column; ``"none"`` keeps everything.
    max_quarantine_share
        If more than this share of rows is quarantined, raise instead of returning.
    threads
        DuckDB worker threads.

    Returns
    -------
    LoadResult
        ``transactions`` with ``customer_id`` (str), ``timestamp`` (datetime64, business time
        zone, no offset), ``amount`` (float; negative = return) and ``order_id`` (str or
        missing), in input order; ``report`` accounts for every row read.

    Raises
    ------
    DataValidationError
        A mapped column is missing (the message lists the columns that exist), the input is
        empty or unreadable, or too many rows are quarantined (the error carries them).
    """
    con = connect(threads=threads, timezone=timezone)
    try:
        table, report = load_transactions(
            con,
            source,
            customer_col=customer_col,
            date_col=date_col,
            amount_col=amount_col,
            order_col=order_col,
            as_of=as_of,
            timezone=timezone,
            date_format=date_format,
            decimal=decimal,
            delimiter=delimiter,
            encoding=encoding,
            dedupe=dedupe,
            max_quarantine_share=max_quarantine_share,
        )
        transactions = table.to_pandas()
    finally:
        con.close()
    return LoadResult(transactions=transactions, report=report)
