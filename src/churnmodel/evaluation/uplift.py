"""Uplift metrics: Qini curves and the Qini coefficient, from a randomized campaign.

The data are the customers of a campaign, each with an outcome ``y`` (a purchase, 0/1, or
the spend in the campaign window), ``treatment`` (1 contacted, 0 held out at random) and a
targeting score (predicted uplift, ``p_churn``, ``value_at_risk``, ...). Customers are
ranked by the score, highest first; ties form one step.

**Qini curve** (Radcliffe 2007): after the top ``n`` customers, with ``N_t``, ``N_c`` treated
and control customers among them and ``Y_t``, ``Y_c`` their summed outcomes,

    Q(n) = Y_t - Y_c * N_t / N_c      (0 while N_c = 0),

the incremental outcome of contacting the treated among the top ``n``, measured against the
control customers of the same part of the ranking. ``Q(N)`` is the campaign's whole
incremental outcome; a random ranking gives the straight line from 0 to it.

**Qini coefficient**: the area between the curve and that random line, divided by the same
area of the *perfect* ranking (treated customers by descending outcome, then the controls by
ascending outcome, scored ``y * t - y * (1 - t)``): 1 for the perfect ranking, 0 for a random
one, negative for one that ranks backwards. The definitions match scikit-uplift's
``qini_curve`` and ``qini_auc_score`` (``negative_effect=True``) for binary outcomes; here
the outcome may be any number (the spend in the window), as in Radcliffe's gains charts.
Areas are trapezoids over ``n``.

References
----------
Radcliffe, N. J. (2007). Using control groups to target on predicted lift: building and
assessing uplift models. Direct Marketing Analytics Journal 1, 14-21.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "QiniInterval",
    "plot_qini",
    "qini_coefficient",
    "qini_curve",
    "qini_interval",
]


def _inputs(y: object, score: object, treatment: object) -> tuple[np.ndarray, ...]:
    yy = np.asarray(y, dtype=float)
    ss = np.asarray(score, dtype=float)
    tt = np.asarray(treatment, dtype=float)
    if not (yy.ndim == ss.ndim == tt.ndim == 1) or not (len(yy) == len(ss) == len(tt)):
        raise DataValidationError(
            f"y ({yy.shape}), score ({ss.shape}) and treatment ({tt.shape}) must be 1-D "
            "arrays of the same length"
        )
    if not np.isin(tt, (0.0, 1.0)).all():
        raise DataValidationError("'treatment' must be 0 (control) or 1 (treated)")
    for name, values in (("y", yy), ("score", ss)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataValidationError(
                f"{name!r} has {int(bad.sum())} missing or infinite value(s), e.g. at "
                f"position(s) {np.flatnonzero(bad)[:5].tolist()}"
            )
    return yy, ss, tt


def _curve(y: np.ndarray, score: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-score, kind="mergesort")
    ys, ss, ts = y[order], score[order], t[order]
    ends = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1] if len(ss) else np.empty(0, int)
    n_t = np.cumsum(ts)[ends]
    y_t = np.cumsum(ys * ts)[ends]
    y_c = np.cumsum(ys * (1.0 - ts))[ends]
    n = ends + 1.0
    n_c = n - n_t
    q = y_t - np.divide(y_c * n_t, n_c, out=np.zeros_like(y_c), where=n_c > 0)
    return np.r_[0.0, n], np.r_[0.0, q]


def qini_curve(y: object, score: object, treatment: object) -> pd.DataFrame:
    """Return the Qini curve of ``score`` (module docstring).

    Returns
    -------
    pandas.DataFrame
        ``n`` (customers targeted, from 0), ``share`` (``n / N``) and ``qini`` (the
        incremental outcome ``Q(n)``), one row per distinct score (ties are one step).
    """
    yy, ss, tt = _inputs(y, score, treatment)
    n, q = _curve(yy, ss, tt)
    return pd.DataFrame({"n": n, "share": n / max(len(yy), 1), "qini": q})


def _area_above_random(n: np.ndarray, q: np.ndarray) -> float:
    return float(np.trapezoid(q, n) - q[-1] * n[-1] / 2.0)


def _coefficient(y: np.ndarray, score: np.ndarray, t: np.ndarray) -> float:
    n, q = _curve(y, score, t)
    n_p, q_p = _curve(y, y * t - y * (1.0 - t), t)
    perfect = _area_above_random(n_p, q_p)
    if perfect <= 0:
        return float("nan")
    return _area_above_random(n, q) / perfect


def qini_coefficient(y: object, score: object, treatment: object) -> float:
    """Return the Qini coefficient of ``score`` (module docstring); NaN when undefined.

    Undefined (NaN) when the perfect ranking does no better than a random one, for example
    when every outcome is 0.
    """
    yy, ss, tt = _inputs(y, score, treatment)
    return _coefficient(yy, ss, tt)


@dataclass(frozen=True)
class QiniInterval:
    """A Qini coefficient with its bootstrap percentile interval."""

    value: float
    low: float
    high: float
    level: float
    n_boot: int


def qini_interval(
    y: object,
    score: object,
    treatment: object,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> QiniInterval:
    """Return the Qini coefficient and a bootstrap percentile interval.

    Customers are resampled with replacement, separately within the treated and the control
    group (each keeps its size), and the coefficient is recomputed with the same scores;
    the interval holds the central ``level`` of the replicates.
    """
    if n_boot < 0 or not 0 < level < 1:
        raise ConfigError(f"need n_boot >= 0 and 0 < level < 1, got {n_boot}, {level}")
    yy, ss, tt = _inputs(y, score, treatment)
    value = _coefficient(yy, ss, tt)
    if n_boot == 0:
        return QiniInterval(value, float("nan"), float("nan"), level, 0)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(tt == 1.0), np.flatnonzero(tt == 0.0)]
    reps = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups if len(g)])
        reps[b] = _coefficient(yy[idx], ss[idx], tt[idx])
    alpha = (1.0 - level) / 2.0
    low, high = np.nanquantile(reps, [alpha, 1.0 - alpha])
    return QiniInterval(value, float(low), float(high), level, n_boot)


def plot_qini(
    y: object,
    treatment: object,
    scores: Mapping[str, object],
    *,
    ax: Axes | None = None,
    ylabel: str = "incremental outcome",
) -> Axes:
    """Plot the Qini curve of each named score, with the random line; return the Axes."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.0, 4.5)).add_subplot()
    total = None
    for name, score in scores.items():
        curve = qini_curve(y, score, treatment)
        coefficient = qini_coefficient(y, score, treatment)
        ax.plot(curve["share"], curve["qini"], label=f"{name} (Qini {coefficient:.3f})")
        total = curve["qini"].iloc[-1]
    if total is not None:
        ax.plot([0, 1], [0, total], linestyle="--", color="grey", label="random")
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set_xlabel("share of customers targeted")
    ax.set_ylabel(ylabel)
    ax.set_title("Qini curves")
    ax.legend(loc="best", fontsize="small")
    return ax
