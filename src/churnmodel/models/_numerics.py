"""Small numerical building blocks shared by the models: log-space helpers and a Hessian."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["expm1_ratio", "log1mexp", "log_sinh_trapezoid", "numerical_hessian"]


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


def log_sinh_trapezoid(
    log_f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    mode: np.ndarray,
    scale: np.ndarray,
    reach: np.ndarray,
    *,
    half_nodes: tuple[int, ...] = (48, 96, 192, 384),
    tolerance: float = 1e-11,
) -> np.ndarray:
    """Return ``log int exp(log_f(y)) dy`` over the real line, per row, for unimodal integrands.

    The trapezoid rule in ``u``, ``y = mode + scale * sinh(u)``, ``|u| <= asinh(reach / scale)``,
    resolves the peak near ``mode`` (width about ``scale``) and reaches ``reach`` either side of
    it; for an integrand analytic in a strip around the real line it converges geometrically,
    so the node count is doubled for the rows whose rule on every other node differs by more
    than ``tolerance`` (in log), up to the last entry of ``half_nodes``.

    Parameters
    ----------
    log_f
        ``log_f(rows, y)``: the log-integrand of the rows ``rows`` (indices) at ``y`` (shape
        ``(len(rows), nodes)``).
    mode, scale, reach
        Per row: centre, width of the peak (> 0) and how far from the centre the integrand
        is non-negligible (> 0).
    """
    mode = np.asarray(mode, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    half_width = np.arcsinh(np.asarray(reach, dtype=np.float64) / scale)
    out = np.empty(mode.shape)
    rows = np.arange(mode.size)
    for k in half_nodes:
        steps = np.arange(-k, k + 1) / k
        u = half_width[rows, None] * steps[None, :]
        y = mode[rows, None] + scale[rows, None] * np.sinh(u)
        log_terms = log_f(rows, y) + np.log(np.cosh(u))
        log_step = np.log(half_width[rows] * scale[rows] / k)
        peak = np.max(log_terms, axis=1)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        terms = np.exp(log_terms - peak[:, None])
        with np.errstate(divide="ignore"):
            fine = peak + log_step + np.log(terms.sum(axis=1))
            coarse = peak + log_step + np.log(2.0 * terms[:, ::2].sum(axis=1))
        out[rows] = fine
        unsettled = np.abs(fine - coarse) > tolerance
        unsettled &= np.isfinite(fine)
        rows = rows[unsettled]
        if rows.size == 0:
            break
    return out
