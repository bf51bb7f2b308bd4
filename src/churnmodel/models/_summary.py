"""The RFM summary frame as the models read it: validated arrays in an explicit time unit.

Every model in this package takes lifetimes' RFM summary (one row per customer; ``frequency`` =
repeat purchases, ``recency`` = time from first to last purchase, ``T`` = time from first
purchase to the cut-off, ``monetary_value`` = mean spend of the repeat purchases). ``recency`` and
``T`` are in the unit named by ``summary.attrs["time_unit"]`` ("D", "W" or "M"), which
:mod:`churnmodel.features` sets. This module turns such a frame into plain float arrays once,
with errors that name the failing rows, the column and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.schemas import days_per_unit

__all__ = [
    "RFMData",
    "check_positive",
    "read_covariates",
    "read_discrete_summary",
    "read_summary",
    "read_weights",
    "resolve_time_unit",
]

_PURCHASE_COLUMNS = ("frequency", "recency", "T")
_BUILD_HINT = (
    "build the summary with churnmodel.features.rfm_summary (columns frequency, recency, T, "
    "monetary_value; recency and T in the unit of attrs['time_unit'])"
)


@dataclass(frozen=True)
class RFMData:
    """Validated RFM columns as float64 arrays in ``time_unit``.

    ``frequency`` holds whole numbers stored as floats so that the formulas broadcast without
    casts. ``monetary_value`` is ``None`` unless it was asked for; ``covariates`` (one column per
    name of ``covariate_names``) unless a model with covariates read the summary.
    """

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    time_unit: str
    index: pd.Index
    monetary_value: np.ndarray | None = None
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.frequency.shape[0])

    def in_unit(self, time_unit: str) -> RFMData:
        """Return the same data with ``recency`` and ``T`` expressed in ``time_unit``."""
        if time_unit == self.time_unit:
            return self
        factor = days_per_unit(self.time_unit) / days_per_unit(time_unit)
        return RFMData(
            frequency=self.frequency,
            recency=self.recency * factor,
            T=self.T * factor,
            time_unit=time_unit,
            index=self.index,
            monetary_value=self.monetary_value,
            covariates=self.covariates,
            covariate_names=self.covariate_names,
        )

    def take(self, rows: np.ndarray | slice) -> RFMData:
        """Return the customers at ``rows`` (positions), without the cache."""
        money = None if self.monetary_value is None else self.monetary_value[rows]
        covariates = None if self.covariates is None else self.covariates[rows]
        return RFMData(
            frequency=self.frequency[rows],
            recency=self.recency[rows],
            T=self.T[rows],
            time_unit=self.time_unit,
            index=self.index[rows],
            monetary_value=money,
            covariates=covariates,
            covariate_names=self.covariate_names,
        )

    def groups(self, *names: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(first_row, inverse)`` of the distinct value combinations of ``names``.

        ``first_row[k]`` is a row holding the k-th distinct combination and ``inverse[i]`` is the
        combination of row ``i``, so ``values[first_row][inverse] == values``. Hash-based (pandas
        factorize), O(n); cached per combination of columns.
        """
        key = "groups:" + ",".join(names)
        if key not in self._cache:
            self._cache[key] = _distinct_rows([getattr(self, name) for name in names])
        first, inverse = self._cache[key]
        return first, inverse


def read_covariates(summary: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    """Return the covariate columns ``names`` of ``summary`` as a float matrix (rows x names).

    Raises
    ------
    DataValidationError
        For a missing column, a column that is not numeric (booleans are 0/1), or a missing or
        infinite value (the message names the rows).
    """
    out = np.empty((len(summary), len(names)))
    for j, name in enumerate(names):
        if name not in summary.columns:
            raise DataValidationError(
                f"the summary has no covariate column {name!r} "
                f"(columns present: {list(map(str, summary.columns))})",
                column=name,
                hint="add the customer's covariate values to the summary, one column each",
            )
        column = summary[name]
        if pd.api.types.is_bool_dtype(column):
            column = column.astype(np.float64)
        if not pd.api.types.is_numeric_dtype(column):
            raise DataValidationError(
                f"covariate {name!r} must be numeric, got dtype {column.dtype}",
                column=name,
                hint="encode a category as 0/1 columns (e.g. pd.get_dummies(..., drop_first=True))",
            )
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        _fail_rows(summary, ~np.isfinite(values), name, "is missing or infinite", "fill them")
        out[:, j] = values
    return out


def _distinct_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    codes = np.zeros(columns[0].shape[0], dtype=np.int64)
    for column in columns:
        col_codes, uniques = pd.factorize(column)
        codes = codes * np.int64(len(uniques)) + col_codes
        # Keep the combined code small so that the product never overflows.
        codes, _ = pd.factorize(codes)
        codes = codes.astype(np.int64, copy=False)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    first = np.full(n_groups, -1, dtype=np.int64)
    # Reversed assignment leaves the first occurrence of each code in ``first``.
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1, dtype=np.int64)
    return first, codes


def resolve_time_unit(summary: pd.DataFrame, time_unit: str | None) -> str:
    """Return the summary's time unit: ``attrs["time_unit"]``, or ``time_unit`` if it has none.

    Raises
    ------
    DataValidationError
        If neither names a unit, if the two disagree, or if the unit is not "D", "W" or "M".
    """
    attr = summary.attrs.get("time_unit") if hasattr(summary, "attrs") else None
    if attr is None and time_unit is None:
        raise DataValidationError(
            "the summary does not say which unit recency and T are in "
            "(summary.attrs has no 'time_unit')",
            hint="pass time_unit='D' (days) or time_unit='W' (weeks), or set "
            "summary.attrs['time_unit']",
        )
    if attr is not None and time_unit is not None and attr != time_unit:
        raise DataValidationError(
            f"time_unit={time_unit!r} was passed but summary.attrs['time_unit'] is {attr!r}",
            hint="drop the time_unit argument, or fix summary.attrs['time_unit']",
        )
    unit = str(attr if attr is not None else time_unit)
    if unit not in ("D", "W", "M"):
        raise DataValidationError(
            f"'time_unit' must be 'D', 'W' or 'M', got {unit!r}",
            hint="recency and T must be in days ('D'), weeks ('W') or months of 365.25 / 12 "
            "days ('M')",
        )
    return unit


def read_summary(
    summary: pd.DataFrame,
    *,
    time_unit: str | None = None,
    monetary: bool = False,
    purchases: bool = True,
) -> RFMData:
    """Validate an RFM summary frame and return its columns as arrays.

    Parameters
    ----------
    summary
        One row per customer with ``frequency`` and, as asked, ``recency``, ``T`` and
        ``monetary_value``.
    time_unit
        Unit of ``recency`` and ``T`` when ``summary.attrs`` has no ``"time_unit"``.
    monetary
        Also read ``monetary_value`` (must be finite and >= 0 where ``frequency`` > 0; 0 is a
        repeat buyer whose repeat purchases net to nothing, which the Gamma-Gamma fit leaves out
        and its predictions handle).
    purchases
        Read ``recency`` and ``T`` (False for the spend model, which needs neither).

    Raises
    ------
    DataValidationError
        Naming the column, the failing rows and the fix: missing columns, non-numeric, missing or
        infinite values, negative values, non-integer ``frequency``, ``recency`` > ``T``,
        ``recency`` > 0 with ``frequency`` = 0, ``monetary_value`` < 0 for a repeat buyer.
    """
    if not isinstance(summary, pd.DataFrame):
        raise DataValidationError(
            f"the summary must be a pandas DataFrame, got {type(summary).__name__}",
            hint=_BUILD_HINT,
        )
    unit = resolve_time_unit(summary, time_unit) if purchases else (time_unit or "D")
    needed = ["frequency"]
    if purchases:
        needed += ["recency", "T"]
    if monetary:
        needed.append("monetary_value")
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise DataValidationError(
            f"the summary has no column {', '.join(map(repr, missing))} "
            f"(columns present: {list(map(str, summary.columns))})",
            column=missing[0],
            hint=_BUILD_HINT,
        )
    if len(summary) == 0:
        raise DataValidationError("the summary has no rows", hint=_BUILD_HINT)

    arrays: dict[str, np.ndarray] = {}
    for name in needed:
        column = summary[name]
        if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
            raise DataValidationError(
                f"column {name!r} must be numeric, got dtype {column.dtype}",
                column=name,
                hint=f"convert {name!r} to numbers (e.g. pd.to_numeric) before fitting",
            )
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        check = ~np.isfinite(values)
        if name == "monetary_value":
            # Spend only matters for repeat buyers; one-time buyers carry 0 by convention.
            check &= arrays["frequency"] > 0
        _fail_rows(summary, check, name, "is missing or infinite", "drop or fill those rows")
        arrays[name] = values

    frequency = arrays["frequency"]
    _fail_rows(
        summary,
        frequency < 0,
        "frequency",
        "is negative",
        "frequency counts repeat purchases and must be >= 0",
    )
    _fail_rows(
        summary,
        frequency != np.round(frequency),
        "frequency",
        "is not a whole number",
        "frequency counts repeat purchases (purchase days after the first)",
    )
    recency = T = np.zeros(0)
    if purchases:
        recency, T = arrays["recency"], arrays["T"]
        _fail_rows(
            summary,
            recency < 0,
            "recency",
            "is negative",
            "recency is the time from the first to the last purchase",
        )
        _fail_rows(
            summary,
            T < 0,
            "T",
            "is negative",
            "T is the time from the first purchase to the cut-off",
        )
        _fail_rows(
            summary,
            recency > T,
            "recency",
            "is larger than T",
            "recency must be <= T; check that both are measured to the same cut-off "
            "and in the same unit",
        )
        _fail_rows(
            summary,
            (frequency == 0) & (recency > 0),
            "recency",
            "is > 0 for a customer with frequency 0",
            "a customer without repeat purchases has recency 0",
        )
    money = None
    if monetary:
        money = arrays["monetary_value"]
        negative = (frequency > 0) & (money < 0)
        if negative.any():
            count = int(negative.sum())
            ids = ", ".join(repr(c) for c in summary.index[negative][:5])
            shown = [
                c for c in ("frequency", "recency", "T", "monetary_value") if c in summary.columns
            ]
            raise DataValidationError(
                f"column 'monetary_value' is negative for {count} repeat buyer(s) (customers "
                f"{ids}{', ...' if count > 5 else ''})",
                column="monetary_value",
                rows=summary.loc[negative, shown],
                hint="monetary_value is the mean spend of the repeat purchases and cannot be "
                "< 0: check how returns were netted (by default churnmodel.features.rfm_summary "
                "counts days with a positive net amount and $0 orders as purchases), or drop "
                "those customers",
            )
        money = np.where(frequency > 0, money, 0.0)
    return RFMData(
        frequency=frequency,
        recency=recency,
        T=T,
        time_unit=unit,
        index=summary.index,
        monetary_value=money,
    )


def read_discrete_summary(summary: pd.DataFrame) -> RFMData:
    """Validate a discrete-time summary (BG/BB) and return its columns as arrays.

    ``frequency`` = x, the number of transaction opportunities after the first with a
    transaction; ``recency`` = t_x, the opportunity of the last one (0 without one); ``T`` = n,
    the number of opportunities observed. All whole numbers with ``0 <= x <= t_x <= n``. The
    time unit is the opportunity (``"P"``, whatever ``summary.attrs`` says).

    Raises
    ------
    DataValidationError
        Naming the column, the failing rows and the fix.
    """
    if isinstance(summary, pd.DataFrame) and "T" not in summary.columns:
        for other in ("periods", "n_periods", "n.cal", "n_cal"):
            if other in summary.columns:
                raise DataValidationError(
                    f"the summary has no column 'T' but has {other!r}",
                    column="T",
                    hint=f"rename {other!r} (lifetimes' or BTYD's name for the number of "
                    "transaction opportunities) to 'T'",
                )
    plain = summary
    if isinstance(summary, pd.DataFrame) and summary.attrs.get("time_unit") is not None:
        plain = summary.copy(deep=False)
        plain.attrs = {}
    data = read_summary(plain, time_unit="D")
    for name, values in (("recency", data.recency), ("T", data.T)):
        _fail_rows(
            summary,
            values != np.round(values),
            name,
            "is not a whole number",
            "BG/BB counts transaction opportunities: recency is the opportunity of the last "
            "transaction and T the number of opportunities",
        )
    _fail_rows(
        summary,
        data.frequency > data.recency,
        "frequency",
        "is larger than recency",
        "x transactions in different opportunities end at opportunity t_x >= x",
    )
    return RFMData(
        frequency=data.frequency,
        recency=data.recency,
        T=data.T,
        time_unit="P",
        index=data.index,
    )


def read_weights(summary: pd.DataFrame, weights: Any) -> np.ndarray | None:
    """Return the customers each summary row stands for, or None (one each).

    ``weights`` is a column name of ``summary`` or an array of its length: finite, >= 0 and
    not all 0 (lifetimes' ``weights``, BTYD's ``custs``).

    Raises
    ------
    DataValidationError
        Naming the rows whose weight is missing, infinite or negative, or a column that is
        not there.
    """
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in summary.columns:
            raise DataValidationError(
                f"the summary has no weights column {weights!r} "
                f"(columns present: {list(map(str, summary.columns))})",
                column=weights,
                hint="pass the name of the column that counts the customers of each row",
            )
        column = summary[weights]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise DataValidationError(
                f"the weights column {weights!r} must be numeric, got dtype {column.dtype}",
                column=weights,
            )
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        name = weights
    else:
        try:
            values = np.asarray(weights, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise DataValidationError(
                f"'weights' must be numbers, got {type(weights).__name__}"
            ) from None
        if values.size != len(summary):
            raise DataValidationError(
                f"'weights' has {values.size} values but the summary has {len(summary)} rows",
                hint="pass one weight per summary row",
            )
        name = "weights"
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        first = summary.index[np.flatnonzero(bad)[0]]
        raise DataValidationError(
            f"{name!r} is missing, infinite or negative in {int(bad.sum())} row(s) (first at "
            f"index {first!r}, value {float(values[bad][0])!r})",
            column=name,
            hint="a weight counts the customers a row stands for: a number >= 0",
        )
    if not np.any(values > 0):
        raise DataValidationError(
            f"every weight in {name!r} is 0: no customer to fit on",
            column=name,
        )
    return values


def _fail_rows(summary: pd.DataFrame, mask: np.ndarray, column: str, what: str, hint: str) -> None:
    if not mask.any():
        return
    count = int(mask.sum())
    shown = [c for c in ("frequency", "recency", "T", "monetary_value") if c in summary.columns]
    rows = summary.loc[mask, shown]
    raise DataValidationError(
        f"column {column!r} {what} in {count} row(s) (first at index {rows.index[0]!r})",
        column=column,
        rows=rows,
        hint=hint,
    )


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is finite and > 0 (>= 0 with ``allow_zero``)."""
    bound = ">= 0" if allow_zero else "> 0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name!r} must be a number {bound}, got {value!r}") from None
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ConfigError(f"{name!r} must be {bound}, got {value!r}")
    return number
