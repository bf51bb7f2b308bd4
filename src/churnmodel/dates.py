"""Dates given by people: ISO 8601 (``YYYY-MM-DD``) and nothing else.

A cut-off, an as-of date or a simulated log's first and last day arrive as text from the
command line, a config file, the environment or a REST request. Text such as ``01/06/2024``
is the 1st of June in most of the world and the 6th of January in the United States; a
guess turns one into the other without a word, so only the ISO form is accepted, and the
message says so. Timestamps inside data files are another matter: they follow the
``date_format`` setting (``--date-format``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Final

from churnmodel.exceptions import ConfigError

__all__ = ["DATE_FORM", "date_help", "parse_date"]

#: The accepted form of a date, as the messages and ``--help`` show it.
DATE_FORM: Final = "YYYY-MM-DD"

# YYYY-MM-DD, optionally followed by an ISO time ("2024-06-30T10:00", "2024-06-30 10:00:00Z").
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def date_help(name: str) -> str:
    """Return what ``name`` must look like: the accepted form and an example."""
    return f"{name!r} must be an ISO 8601 date, {DATE_FORM} (for example 2024-06-30)"


def parse_date(value: Any, name: str = "as_of") -> date:
    """Return ``value`` as a :class:`datetime.date`.

    Parameters
    ----------
    value
        A ``date``, ``datetime`` (``pandas.Timestamp`` is one), ``numpy.datetime64``, or text
        in ISO 8601 form: ``YYYY-MM-DD``, optionally with a time (``2024-06-30T10:00``),
        whose date is taken as written.
    name
        The setting or argument, for the message.

    Raises
    ------
    ConfigError
        If ``value`` is anything else, such as ``"01/06/2024"`` (which day is it?) or
        ``"2024-02-30"``; the message shows the accepted form.
    """
    if isinstance(value, datetime):
        if value != value:  # pandas.NaT is a datetime that is not equal to itself
            raise ConfigError(f"{date_help(name)}, got {value!r}")
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _ISO.fullmatch(text):
            try:
                return datetime.fromisoformat(text.replace(",", ".")).date()
            except ValueError:
                pass  # 2024-02-30: the form is right, the day does not exist
        raise ConfigError(f"{date_help(name)}, got {value!r}")
    if type(value).__name__ == "datetime64":  # numpy, without importing it
        import pandas as pd

        return parse_date(pd.Timestamp(value), name)
    raise ConfigError(f"{date_help(name)}, got {type(value).__name__} {value!r}")
