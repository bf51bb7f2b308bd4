"""Errors raised by churnmodel.

Every error the package raises on purpose derives from :class:`ChurnModelError`, so a caller
(or the ``churnmodel`` command) can tell a problem with the user's data or settings from a bug::

    ChurnModelError
    ├── DataValidationError   (also a ValueError) bad input data; carries the failing rows
    ├── ConfigError           (also a ValueError) a setting that cannot be used
    ├── ModelFitError         (also a RuntimeError) a model did not converge; says what to change
    └── NotFittedError        (also an AttributeError) a method needs a fitted model

The command line turns a ``ChurnModelError`` into one line on stderr and exit code 2; any
other exception keeps its traceback because it is a bug.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ChurnModelError",
    "ConfigError",
    "DataValidationError",
    "ModelFitError",
    "NotFittedError",
]


class ChurnModelError(Exception):
    """Root of every error churnmodel raises on purpose."""


class DataValidationError(ChurnModelError, ValueError):
    """Input data breaks a rule.

    Parameters
    ----------
    message
        What is wrong, which column, and how to fix it.
    column
        The column at fault, if one is.
    rows
        The failing rows (a sample when there are many), with their row number in the input.
    hint
        What the user can change to get past the error.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: pd.DataFrame | None = None,
        hint: str | None = None,
    ) -> None:
        self.column = column
        self.rows = rows
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        text = super().__str__()
        if self.rows is not None and len(self.rows) > 0:
            sample = self.rows.head(5).to_string(max_colwidth=40)
            text = f"{text}\nFirst failing rows:\n{sample}"
        if self.hint:
            text = f"{text}\nHint: {self.hint}"
        return text


class ConfigError(ChurnModelError, ValueError):
    """A setting has a value that cannot be used."""


class ModelFitError(ChurnModelError, RuntimeError):
    """A model could not be fitted; the message names the data property behind it and the fix."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        self.details = details or {}
        super().__init__(message)


class NotFittedError(ChurnModelError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""
