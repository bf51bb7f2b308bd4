"""Input drift: the population stability index (PSI) of each feature between two snapshots.

The PSI compares the distribution of one variable in a *reference* population (the customers
a model was trained on) with a *current* one (the customers it scores now):

    PSI = sum over bins b of (c_b - r_b) * ln(c_b / r_b)

with ``r_b`` and ``c_b`` the shares of the reference and current values in bin ``b``. It is 0
for identical distributions and grows with the shift; by the usual rule of thumb below 0.1 is
stable, 0.1-0.25 a moderate shift and above 0.25 a large one (Yurdakul 2018).

Bins come from the reference: its quantiles (``bins`` of them, right-closed, so a value equal
to a cut point falls in the lower bin) for a variable with more distinct values than bins, or
one bin per distinct value otherwise (counts such as purchases in the last 30 days, mostly 0,
whose quantiles would collapse). Missing values (a one-time buyer has no gap between
purchases) form a bin of their own. Shares are floored at ``eps`` so that an empty bin does
not make the index infinite.

References
----------
Yurdakul, B. (2018). Statistical properties of population stability index. Dissertation,
Western Michigan University.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError

__all__ = ["drift_table", "population_stability_index"]

_EPS = 1e-4


def _bins(reference: np.ndarray, bins: int) -> tuple[np.ndarray, bool]:
    """Return the cut points (or the distinct values) of the reference and which it is."""
    finite = reference[~np.isnan(reference)]
    distinct = np.unique(finite)
    if distinct.size <= bins:
        return distinct, True
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return edges, False


def _shares(values: np.ndarray, cuts: np.ndarray, categorical: bool) -> np.ndarray:
    """Return the share of ``values`` in each bin; the last bin holds missing values."""
    missing = np.isnan(values)
    finite = values[~missing]
    if categorical and cuts.size == 0:  # the reference has no value at all
        counts = np.array([finite.size])
    elif categorical:
        # one bin per distinct reference value, plus one for values the reference never had
        index = np.searchsorted(cuts, finite)
        known = (index < cuts.size) & (cuts[np.minimum(index, cuts.size - 1)] == finite)
        counts = np.bincount(np.where(known, index, cuts.size), minlength=cuts.size + 1)
    else:
        counts = np.bincount(np.searchsorted(cuts, finite, side="left"), minlength=cuts.size + 1)
    counts = np.append(counts, missing.sum())
    total = max(values.size, 1)
    return counts / total


def population_stability_index(
    reference: Iterable[float] | pd.Series,
    current: Iterable[float] | pd.Series,
    *,
    bins: int = 10,
    eps: float = _EPS,
) -> float:
    """Return the PSI of ``current`` against ``reference`` (module docstring).

    Parameters
    ----------
    reference, current
        Values of one variable (NaN = missing) in the two populations.
    bins
        Quantile bins of the reference (at least 2).
    eps
        Floor of a bin's share.

    Raises
    ------
    ConfigError
        If ``bins`` < 2, ``eps`` is not in (0, 0.1], or a population is empty.
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
        raise ConfigError(f"'bins' must be an integer >= 2, got {bins!r}")
    if not 0 < eps <= 0.1:
        raise ConfigError(f"'eps' must be in (0, 0.1], got {eps!r}")
    ref = np.asarray(pd.to_numeric(pd.Series(reference), errors="coerce"), dtype=np.float64)
    cur = np.asarray(pd.to_numeric(pd.Series(current), errors="coerce"), dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        raise ConfigError("the PSI needs a non-empty reference and current population")
    cuts, categorical = _bins(ref, bins)
    r = np.maximum(_shares(ref, cuts, categorical), eps)
    c = np.maximum(_shares(cur, cuts, categorical), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Iterable[str] | None = None,
    bins: int = 10,
) -> pd.DataFrame:
    """Return the PSI of every numeric column shared by the two frames, largest first.

    Columns: ``feature``, ``psi``, ``reference_mean``, ``current_mean`` (of the values
    present), ``reference_missing``, ``current_missing`` (shares of missing values). Boolean
    and non-numeric columns are left out unless named in ``columns``.
    """
    if columns is None:
        columns = [
            c
            for c in reference.columns
            if c in current.columns
            and pd.api.types.is_numeric_dtype(reference[c])
            and not pd.api.types.is_bool_dtype(reference[c])
        ]
    rows = []
    for column in columns:
        ref = pd.to_numeric(reference[column], errors="coerce").astype(np.float64)
        cur = pd.to_numeric(current[column], errors="coerce").astype(np.float64)
        rows.append(
            {
                "feature": column,
                "psi": population_stability_index(ref, cur, bins=bins),
                "reference_mean": float(ref.mean()),
                "current_mean": float(cur.mean()),
                "reference_missing": float(ref.isna().mean()),
                "current_missing": float(cur.isna().mean()),
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "feature",
            "psi",
            "reference_mean",
            "current_mean",
            "reference_missing",
            "current_missing",
        ],
    )
    return table.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)
