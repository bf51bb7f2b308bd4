"""Small numerical building blocks shared by the models: log-space helpers and a Hessian."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["expm1_ratio", "log1mexp", "numerical_hessian"]


def log1mexp(d: np.ndarray) -> np.ndarray:
    """Return ``log(1 - exp(-d))`` for ``d >= 0``, accurately for small and large ``d``.

    ``d = 0`` gives ``-inf`` without a floating-point warning.

    References
    ----------
    Mächler, M. (2012), "Accurately computing log(1 - exp(-|a|))", R package Rmpfr vignette.
    """
    d = np.maximum(np.asarray(d, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore"):
        small = d <= np.log(2.0)
        return np.where(
            small,
            np.log(-np.expm1(-np.where(small, d, 1.0))),
            np.log1p(-np.exp(-np.where(small, 1.0, d))),
        )


def expm1_ratio(k: float, u: np.ndarray) -> np.ndarray:
    """Return ``(exp(k * u) - 1) / k``, continuous at ``k = 0`` (where it equals ``u``)."""
    if abs(k) < 1e-12:
        return np.asarray(u, dtype=np.float64)
    return np.expm1(k * np.asarray(u, dtype=np.float64)) / k


def numerical_hessian(
    fun: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-4
) -> np.ndarray:
    """Return the Hessian of ``fun`` at ``x`` by central differences.

    Used on the log-parameter scale, where a fixed absolute ``step`` is a fixed relative change
    of the parameter. ``2 n^2 + 1`` evaluations for ``n`` parameters.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    f0 = fun(x)
    eye = np.eye(n) * step
    hess = np.empty((n, n))
    plus = [fun(x + eye[i]) for i in range(n)]
    minus = [fun(x - eye[i]) for i in range(n)]
    for i in range(n):
        hess[i, i] = (plus[i] - 2.0 * f0 + minus[i]) / step**2
        for j in range(i + 1, n):
            fpp = fun(x + eye[i] + eye[j])
            fpm = fun(x + eye[i] - eye[j])
            fmp = fun(x - eye[i] + eye[j])
            fmm = fun(x - eye[i] - eye[j])
            hess[i, j] = hess[j, i] = (fpp - fpm - fmp + fmm) / (4.0 * step**2)
    return hess
