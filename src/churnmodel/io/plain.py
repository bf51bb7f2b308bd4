"""Read a small table of plainly valid transactions without DuckDB (a scoring request).

:func:`~churnmodel.io.load_transactions` validates any input in DuckDB, which for a dozen rows
costs about 12 ms of statement planning. Most scoring requests hold nothing to quarantine:
text ids, ISO 8601 timestamps and numeric amounts. :func:`plain_transactions` reads such a
table with pandas, exactly as ``load_transactions`` would read it
(``tests/io/test_plain.py``), and returns ``None`` for anything else; the caller then loads
the table with ``load_transactions``, which names what is wrong. So this is a shortcut, never a
second set of rules.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP

__all__ = ["plain_transactions"]

# ISO 8601 as DuckDB casts it to TIMESTAMPTZ, narrowed to what pandas reads the same way: a
# date, optionally a time to at most microseconds, optionally an offset ("Z", +02, +0200, +02:00).
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?"
)
_NULL_MARKERS = frozenset({"", "nan", "null", "none"})


def _plain_ids(ids: pd.Series) -> pd.Series | None:
    """Return the ids as text if DuckDB would keep every one unchanged, else None."""
    if ids.dtype == object:
        if not all(isinstance(v, str) for v in ids.to_numpy()):
            return None
        ids = ids.astype("str")
    elif not pd.api.types.is_string_dtype(ids.dtype):
        return None
    if ids.isna().any():
        return None
    text = ids.str
    # load_transactions trims spaces off ids and refuses blank ids and null markers.
    if (text.startswith(" ") | text.endswith(" ")).any():
        return None
    short = ids[text.len() <= 4]
    if len(short) and short.str.lower().isin(_NULL_MARKERS).any():
        return None
    return ids


def _plain_timestamps(stamps: pd.Series, timezone: str) -> pd.Series | None:
    """Return naive timestamps in the business time zone as DuckDB reads them; None if in doubt."""
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        out = stamps.dt.tz_convert(timezone).dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(stamps.dtype):
        out = stamps
    elif stamps.dtype == object or pd.api.types.is_string_dtype(stamps.dtype):
        values = stamps.to_numpy(dtype=object)
        if not all(isinstance(v, str) for v in values):
            return None
        matches = [_ISO.fullmatch(v) for v in values]
        if not all(matches):
            return None
        offsets = {m.group("offset") is not None for m in matches if m is not None}
        if len(offsets) != 1:  # some with an offset, some without
            return None
        try:
            if offsets == {True}:
                parsed = pd.to_datetime(pd.Series(values), format="ISO8601", utc=True)
                out = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
            else:
                out = pd.to_datetime(pd.Series(values), format="ISO8601")
                # Local wall times stay as they are, except those that do not exist (skipped
                # by a daylight-saving change), which DuckDB moves by the size of the gap.
                if timezone != "UTC":
                    local = out.dt.tz_localize(
                        timezone, ambiguous=np.zeros(len(out), dtype=bool), nonexistent="NaT"
                    )
                    if local.isna().any():
                        return None
        except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            return None  # a date that does not exist (2023-02-30) or out of pandas' range
    else:
        return None
    if out.isna().any():
        return None
    return pd.Series(out.to_numpy(), index=stamps.index)


def _plain_amounts(amounts: pd.Series) -> pd.Series | None:
    """Return the amounts as float64 if all are finite numbers (not text or booleans)."""
    if amounts.dtype == object:
        values = amounts.to_numpy()
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return None
        amounts = pd.Series(values.astype(np.float64), index=amounts.index)
    elif pd.api.types.is_bool_dtype(amounts.dtype) or not pd.api.types.is_numeric_dtype(
        amounts.dtype
    ):
        return None
    out = amounts.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(out).all():
        return None
    return pd.Series(out, index=amounts.index)


def plain_transactions(frame: pd.DataFrame, *, timezone: str = "UTC") -> pd.DataFrame | None:
    """Return ``frame`` (canonical columns) as clean transactions when every row is plainly good.

    Plainly good: the id is text with no spaces around it that is not blank or a null marker;
    the timestamp a datetime, or ISO 8601 text (all with an offset or all without; local wall
    times that exist in ``timezone``); the amount a finite number. The result holds
    ``customer_id`` (text), ``timestamp`` (in ``timezone``, without an offset) and ``amount``
    (float64), the values :meth:`~churnmodel.io.TransactionTable.to_pandas` gives after
    ``load_transactions``, rows in their order. Returns ``None`` for an empty frame or any
    other input: load that with :func:`~churnmodel.io.load_transactions`.
    """
    if frame.empty or any(c not in frame.columns for c in (CUSTOMER_ID, TIMESTAMP, AMOUNT)):
        return None
    ids = _plain_ids(frame[CUSTOMER_ID])
    if ids is None:
        return None
    stamps = _plain_timestamps(frame[TIMESTAMP], timezone)
    if stamps is None:
        return None
    amounts = _plain_amounts(frame[AMOUNT])
    if amounts is None:
        return None
    return pd.DataFrame(
        {
            CUSTOMER_ID: ids.to_numpy(),
            TIMESTAMP: stamps.to_numpy(),
            AMOUNT: amounts.to_numpy(),
        }
    )
