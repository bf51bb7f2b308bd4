"""BG/NBD: Poisson purchases at a gamma-distributed rate, dropout after each repeat purchase."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.special import (
    betainc,
    betaln,
    expit,
    gammaln,
    hyp2f1,
    logsumexp,
    roots_jacobi,
    xlogy,
)

from churnmodel.models._base import FitProblem, import_lifetimes
from churnmodel.models._purchase import Params, PurchaseModel
from churnmodel.models._summary import RFMData

__all__ = ["BetaGeoModel"]

# (a - 1) appears as a divisor in E[Y(t)]; the formula is continuous at a = 1, so a is kept at
# least this far from 1 (a relative change far below the parameters' standard errors).
_A_MIN_GAP = 1e-6
# Gauss-Jacobi nodes of the quadrature used where the closed form of E[Y(t) | alive] fails.
_QUADRATURE_NODES = 48
# Below this shape parameter the Beta(a, b) of the dropout probability is, up to a mass of order
# min(a, b), two atoms at 0 and 1, and the quadrature takes the atoms exactly (`_beta_mean`);
# a fit that runs to the edge of the parameter space can give a = 3e-20, where a - 1 rounds to
# the -1 that no Gauss-Jacobi rule accepts.
_TINY_SHAPE = 1e-4


class BetaGeoModel(PurchaseModel):
    """BG/NBD purchase model: expected purchases, P(alive), P(no purchase in a horizon).

    While active, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``;
    after each repeat purchase they drop out with probability ``p ~ Beta(a, b)``. ``alpha`` is in
    the time unit of the summary the model was fitted on.

    Parameters
    ----------
    penalizer
        L2 penalty on the parameters, as lifetimes' ``penalizer_coef`` (0: maximum likelihood).
    initial_params
        Starting values ``{"r", "alpha", "a", "b"}``; default: derived from the data.
    purchase_covariates
        Names of summary columns (static customer covariates, numeric; 0/1 for a category)
        that scale the purchase rate: a customer with covariates z has
        ``alpha_i = alpha * exp(-gamma . z)``, so a coefficient > 0 means more purchases.
    dropout_covariates
        Columns that move the dropout: ``a_i = a * exp(delta_a . z)`` and
        ``b_i = b * exp(delta_b . z)`` (separate coefficients, as in PyMC-Marketing; the
        mean dropout probability is ``a_i / (a_i + b_i)``).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b`` (with covariates: at covariates 0).
    coefficients_ : dict
        With covariates: ``purchase[name]``, ``dropout_a[name]``, ``dropout_b[name]``.
    log_likelihood_ : float
        Total log-likelihood on the original data (comparable with published values).
    covariance_ : numpy.ndarray or None
        Asymptotic covariance of ``log(params)`` in ``param_names`` order.
    time_unit_ : str
        Unit of ``alpha`` and of the summaries used to predict by default.
    n_customers_ : int
        Number of customers the model was fitted on.
    fit_strategy_ : str
        Which fitting strategy converged (``"lifetimes"``, ``"nelder-mead"`` or ``"penalized"``).

    Notes
    -----
    ``1 - P(alive)`` is not offered as a churn score: under BG/NBD a customer can only drop out
    right after a repeat purchase, so every one-time buyer has P(alive) = 1 however long ago
    they bought. :meth:`probability_no_purchase` is the lapse score.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy
    Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2008), "Computing P(alive) Using the BG/NBD
    Model", http://brucehardie.com/notes/021/.

    Fader, P. S. and Hardie, B. G. S. (2007), "Incorporating Time-Invariant Covariates into the
    Pareto/NBD and BG/NBD Models", http://brucehardie.com/notes/019/.
    """

    _param_names = ("r", "alpha", "a", "b")
    _lifetimes_fitter = "BetaGeoFitter"
    # Offset of the dropout opportunities: BG/NBD has x of them, MBG/NBD x + 1 (also at time 0).
    _dropout_offset = 0
    _coefficient_groups: ClassVar[tuple[tuple[str, str, str, float], ...]] = (
        ("purchase", "purchase_covariates", "alpha", -1.0),
        ("dropout_a", "dropout_covariates", "a", 1.0),
        ("dropout_b", "dropout_covariates", "b", 1.0),
    )

    def __init__(
        self,
        *,
        penalizer: float = 0.0,
        initial_params: Mapping[str, float] | None = None,
        purchase_covariates: Sequence[str] = (),
        dropout_covariates: Sequence[str] = (),
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates

    # ------------------------------------------------------------------------- likelihood
    def _log_likelihood_rows(self, params: np.ndarray, data: RFMData) -> np.ndarray:
        r, alpha, a, b = params
        x, t_x, T = data.frequency, data.recency, data.T
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + t_x)
        return np.asarray(a1 + a2 + np.where(x > 0, np.logaddexp(a3, a4), a3))

    def _log_likelihood_row_params(self, row_params: list[np.ndarray], data: RFMData) -> np.ndarray:
        # The closed form is elementwise: per-row alpha, a, b broadcast as they are.
        return self._log_likelihood_rows(np.vstack(row_params), data)

    def _start(self, problem: FitProblem) -> np.ndarray:
        w = problem.weights
        mean_x = float(np.average(problem.data.frequency, weights=w))
        mean_t = float(np.average(problem.data.T, weights=w))
        r = 0.5
        return np.array([r, r * max(mean_t, 1e-9) / max(mean_x, 1e-9), 0.8, 2.5])

    def _lifetimes_fit(
        self, problem: FitProblem, start: np.ndarray, penalizer: float
    ) -> np.ndarray:
        lifetimes = import_lifetimes()
        data = problem.data
        scale = 1.0 / float(data.T.max())
        x0 = np.log(start * np.array([1.0, scale, 1.0, 1.0]))
        fitter = getattr(lifetimes, self._lifetimes_fitter)(penalizer_coef=penalizer)
        fitter.fit(
            data.frequency.astype(np.int64),
            data.recency,
            data.T,
            weights=problem.weights,
            initial_params=x0,
        )
        return np.array([float(fitter.params_[k]) for k in self._param_names])

    def _degeneracies(self, params: Mapping[str, float]) -> list[str]:
        out = super()._degeneracies(params)
        a, b = params["a"], params["b"]
        if a + b < 1:
            out.append(
                f"a + b = {a + b:.4g} < 1: the dropout probability p ~ Beta(a, b) piles up at 0 "
                "and 1 (customers almost never drop out, or drop out at once); a longer "
                "calibration period usually helps. Predictions stay exact (one-time buyers' "
                "expected purchases are computed by quadrature)"
            )
        return out

    # ------------------------------------------------------------------------ predictions
    def _p_alive(self, params: Params, data: RFMData) -> np.ndarray:
        r, alpha, a, b = (params[k] for k in self._param_names)
        x, t_x, T = data.frequency, data.recency, data.T
        # BG/NBD: odds(dead) = a / (b + x - 1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0 and
        # P(alive) = 1 for x = 0; MBG/NBD: a / (b + x) * (...) for every x (FHL note 021;
        # Batislam et al. 2007, appendix A).
        bg = self._dropout_offset == 0
        dropouts = b + x - 1.0 + self._dropout_offset
        if bg:
            dropouts = np.where(x > 0, dropouts, b)
        log_odds_dead = (
            np.log(a) - np.log(dropouts) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        alive = expit(-log_odds_dead)
        if bg:
            alive = np.where(x > 0, alive, 1.0)
        return np.asarray(alive)

    def _cumulative_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, times: np.ndarray
    ) -> np.ndarray:
        # E[Y(t) | alive] = c / (a - 1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+o; c; z)]
        # with c = a + b + x - 1 + o and z = t / (alpha + T + t). Euler's transformation
        # 2F1(A, B; c; z) = (1 - z)^(c - A - B) 2F1(c - A, c - B; c; z) turns the bracket into
        # 1 - (1 - z)^(a - 1) 2F1(a + b - 1 + o - r, a - 1; c; z), finite for any x when c > 0.
        # For c <= 0 (BG/NBD one-time buyers when a + b <= 1) the hypergeometric function can be
        # negative or undefined, so those rows, and any row where the closed form is not finite,
        # are computed by quadrature over the dropout probability instead.
        r, alpha, a, b = (params[k] for k in self._param_names)
        o = float(self._dropout_offset)
        t = np.asarray(times, dtype=np.float64)
        t = np.broadcast_to(t[None, :] if t.ndim == 1 else t, (x.size, t.shape[-1]))
        c = a + b - 1.0 + o + x
        cumulative = np.full(t.shape, np.nan)
        gap = a - 1.0
        if abs(gap) < _A_MIN_GAP:
            gap = _A_MIN_GAP if gap >= 0 else -_A_MIN_GAP
        first = a + b - 1.0 + o - r

        def closed_form(rows: np.ndarray, first: float) -> np.ndarray:
            c_ok = c[rows][:, None]
            log1mz = -np.log1p(t[rows] / (alpha + T[rows])[:, None])
            z = -np.expm1(log1mz)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                log_f = np.log(hyp2f1(first, gap, c_ok, z))
                return np.asarray(c_ok / gap * -np.expm1(gap * log1mz + log_f))

        closed = c > 0
        if np.any(closed):
            cumulative[closed] = closed_form(closed, first)
        # scipy's hyp2f1 returns NaN for some parameters in its own special cases (e.g. equal
        # first two parameters with z near 1); the value is analytic in them, so a relative
        # nudge of 1e-9 gives the value to about that accuracy.
        retry = closed & ~np.all(np.isfinite(cumulative), axis=1)
        if np.any(retry):
            cumulative[retry] = closed_form(retry, first * (1.0 + 1e-9) + 1e-12)
        fallback = ~np.all(np.isfinite(cumulative), axis=1)
        if np.any(fallback):
            cumulative[fallback] = _purchases_if_alive_by_quadrature(
                r, alpha, a, b + o, x[fallback], T[fallback], t[fallback]
            )
        return cumulative

    def _no_purchase_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        r, alpha = params["r"], params["alpha"]
        return np.asarray(np.exp(-(r + x) * np.log1p(horizon / (alpha + T))))

    def _alive_survival(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        # Given alive at T: lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x + o), and the
        # customer survives (T, T + h] with probability E[exp(-lambda p h)].
        r, alpha, a, b = (params[k] for k in self._param_names)
        o = float(self._dropout_offset)
        tau = (horizon / (alpha + T))[:, None]
        return _beta_survival(a, b + x + o, a + b + o - r, r + x, tau)[:, 0]

    def _counts_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float, counts: np.ndarray
    ) -> np.ndarray:
        # Given alive at T the future is a BG/NBD new customer's (dropout after each purchase)
        # at (r + x, alpha + T, a, b + x + o): FHL (2005) eq. (8),
        #   P(Y = k) = B(a, b' + k) / B(a, b') NBD(k; r', alpha', h)
        #            + [k > 0] B(a + 1, b' + k - 1) / B(a, b') P(NBD >= k).
        r, alpha, a, b = (params[k] for k in self._param_names)
        o = float(self._dropout_offset)
        n = (r + x)[:, None]
        bp = (b + x + o)[:, None]
        scale = (alpha + T)[:, None]
        k = np.asarray(counts, dtype=np.float64)[None, :]
        log_p = -np.log1p(horizon / scale)  # log(alpha' / (alpha' + h))
        log_q = np.log(horizon) - np.log(scale + horizon)
        log_nbd = gammaln(n + k) - gammaln(n) - gammaln(k + 1.0) + n * log_p + k * log_q
        still = np.exp(betaln(a, bp + k) - betaln(a, bp) + log_nbd)
        tail = betainc(np.maximum(k, 1.0), n, np.exp(log_q))
        gone = np.exp(betaln(a + 1.0, bp + np.maximum(k, 1.0) - 1.0) - betaln(a, bp)) * tail
        return np.asarray(still + np.where(k > 0, gone, 0.0))

    def _dert_kernel(
        self, params: Params, x: np.ndarray, T: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        # DERT(alive) = E[lambda / (delta + lambda p)]
        #             = int exp(-delta u) E[lambda exp(-lambda p u)] du
        #             = (r + x) / (alpha + T) int exp(-delta u) E_p[(1 + p u / A)^-(r + x + 1)] du.
        r, alpha, a, b = (params[k] for k in self._param_names)
        o = float(self._dropout_offset)
        big_a = alpha + T
        rate = (r + x) / big_a
        scale = big_a / (r + x + 1.0)

        def survival(u: np.ndarray) -> np.ndarray:
            tau = u / big_a[:, None]
            return _beta_survival(a, b + x + o, a + b + o - r - 1.0, r + x + 1.0, tau)

        return rate, scale, survival

    def _count_distribution(self, params: Params, T: np.ndarray, max_count: int) -> np.ndarray:
        # FHL (2005) eq. (8): P(X(t) = x) = B(a, b + x + o) / B(a, b) * NBD(x; r, alpha, t)
        #   + B(a + 1, b + x - 1 + o) / B(a, b) * P(NBD >= x), the second term for x > 0 only
        #   in BG/NBD (o = 0) and for every x in MBG/NBD (o = 1, dropout also at time 0).
        r, alpha, a, b = (params[k] for k in self._param_names)
        o = float(self._dropout_offset)
        t = np.asarray(T, dtype=np.float64)[:, None]
        k = np.arange(max_count, dtype=np.float64)[None, :]
        p = alpha / (alpha + t)
        log_nbd = gammaln(r + k) - gammaln(r) - gammaln(k + 1.0) + r * np.log(p) + xlogy(k, 1 - p)
        still = np.exp(betaln(a, b + k + o) - betaln(a, b) + log_nbd)
        tail = np.where(k > 0, betainc(np.maximum(k, 1.0), r, 1.0 - p), 1.0)
        gone_weight = np.exp(betaln(a + 1.0, np.maximum(b + k - 1.0 + o, 1e-300)) - betaln(a, b))
        gone = np.where((k > 0) | (o > 0), gone_weight * tail, 0.0)
        probs = still + gone
        rest = np.clip(1.0 - probs.sum(axis=1, keepdims=True), 0.0, 1.0)
        return np.asarray(np.hstack([probs, rest]))


def _beta_survival(a: float, b: Any, first: float, power: Any, tau: np.ndarray) -> np.ndarray:
    """``E[(1 + p tau)^-power]`` for ``p ~ Beta(a, b)``, per row of ``tau`` (rows, nodes).

    ``b`` and ``power`` are per row (arrays of ``len(tau)``) and ``first = a + b - power``,
    passed on its own because for BG/NBD it does not depend on the frequency (computing it as
    ``a + b - power`` would cancel for heavy buyers). By Pfaff's transformation the
    expectation, ``2F1(power, a; a + b; -tau)``, equals ``(1 + tau)^-a 2F1(first, a; a + b;
    tau / (1 + tau))``, whose argument is in [0, 1). Where scipy's ``hyp2f1`` is not finite,
    its first parameter is nudged by 1e-9 relative; where it still is not, the expectation is
    a 48-node Gauss-Jacobi rule over p.
    """
    b = np.broadcast_to(np.asarray(b, dtype=np.float64).reshape(-1, 1), tau.shape)
    power = np.broadcast_to(np.asarray(power, dtype=np.float64).reshape(-1, 1), tau.shape)
    z = tau / (1.0 + tau)

    def closed(rows: Any, first_: float) -> np.ndarray:
        with np.errstate(all="ignore"):
            value = hyp2f1(first_, a, a + b[rows], z[rows])
            return np.asarray(np.exp(-a * np.log1p(tau[rows]) + np.log(value)))

    out = closed(slice(None), first)
    bad = ~np.isfinite(out)
    if np.any(bad):
        out[bad] = closed(bad, first * (1.0 + 1e-9) + 1e-12)
        bad = ~np.isfinite(out)
    if np.any(bad):
        for value in np.unique(b[bad]):
            cells = bad & (b == value)
            pw, tc = power[cells][:, None], tau[cells][:, None]

            def integrand(p: np.ndarray, q: np.ndarray, pw: Any = pw, tc: Any = tc) -> np.ndarray:
                return np.asarray(np.exp(-pw * np.log1p(p[None, :] * tc)))

            out[cells] = _beta_mean(a, float(value), integrand)
    return np.asarray(np.clip(out, 0.0, 1.0))


def _purchases_if_alive_by_quadrature(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, T: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """E[Y(t) | alive at T, x, T] per row of ``x`` and ``T`` and each ``t`` of its row of ``times``.

    ``b`` includes the dropout offset (``b + 1`` for MBG/NBD). Given alive at ``T`` after ``x``
    repeat purchases, the rate and the dropout probability are independent a posteriori, with
    ``lambda ~ Gamma(s, alpha + T)``, ``s = r + x``, and ``p ~ Beta(a, beta)``, ``beta = b + x``.
    While alive the customer is alive just before time ``u`` with probability
    ``exp(-lambda p u)``, so ``E[Y(t) | lambda, p] = (1 - exp(-lambda p t)) / p`` and, over
    lambda, ``E[Y(t) | alive] = E_p[(1 - (1 + p tau)^-s) / p]`` with ``tau = t / (alpha + T)``.
    The integrand varies on the scale ``1 / tau`` near ``p = 0``; substituting
    ``p = (e^y - 1) / tau`` (``y`` in ``[0, L]``, ``L = log(1 + tau)``) and ``y = L (1 + u) / 2``
    gives

        E = tau^(2 - a - beta) L^(a + beta - 1) * sum_i w_i F(y_i),
        F(y) = phi1^(a - 1) phi2^(beta - 1) e^y (1 - e^(-s y)) / (e^y - 1),
        phi1 = (e^y - 1) / y,  phi2 = (e^L - e^y) / (L - y),

    with ``w_i`` the Gauss-Jacobi weights of ``(1 - u)^(beta - 1) (1 + u)^(a - 1)`` normalised
    to sum to 1. F is smooth on ``[0, L]`` (its nearest singularities are ``2 pi`` off the real
    axis), so 48 nodes agree with the closed form to about 1e-9 relative wherever both apply
    (checked for frequencies up to 30; the closed form is the better tool for heavy buyers).
    """
    times = np.asarray(times, dtype=np.float64)
    times = np.broadcast_to(times[None, :] if times.ndim == 1 else times, (x.size, times.shape[-1]))
    out = np.empty(times.shape)
    for value in np.unique(x):
        rows = x == value
        s, beta = r + value, b + value
        tau = times[rows] / (alpha + T[rows])[:, None]
        big_l = np.log1p(tau)[..., None]

        def log_f(
            v: np.ndarray, q: np.ndarray, big_l: Any = big_l, s: float = s, beta: float = beta
        ) -> np.ndarray:
            # v in [0, 1] and q = 1 - v, passed apart so that both ends are exact.
            y, rest = big_l * v, big_l * q
            return np.asarray(
                (a - 1.0) * np.log(np.expm1(y) / y)
                + (beta - 1.0) * (y + np.log(np.expm1(rest) / rest))
                + y
                + np.log(-np.expm1(-s * y))
                - np.log(np.expm1(y))
            )

        log_scale = (2.0 - a - beta) * np.log(tau) + (a + beta - 1.0) * np.log(big_l[..., 0])
        out[rows] = np.exp(_beta_mean(a, beta, log_f, log=True) + log_scale)
    return out


def _beta_mean(
    a: float,
    beta: float,
    integrand: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    log: bool = False,
) -> np.ndarray:
    """``E[f(v)]`` for ``v ~ Beta(a, beta)`` by a 48-node Gauss-Jacobi rule, per leading index.

    ``integrand(v, 1 - v)`` gives ``f`` (or ``log f`` with ``log=True``, when the mean is
    returned as a log too) with the nodes on its last axis. ``f`` must be smooth on [0, 1].
    When ``a`` or ``beta`` is below ``_TINY_SHAPE`` the Beta is almost two atoms, and the mean is
    split exactly as ``f(v) = f(0) (1 - v) + f(1) v + v (1 - v) k(v)``:

        E[f] = beta / (a + beta) f(0) + a / (a + beta) f(1)
               + a beta / ((a + beta) (a + beta + 1)) E_{Beta(a + 1, beta + 1)}[k],

    whose rule has exponents ``a`` and ``beta`` (never near -1) and whose last term weighs at most
    ``min(a, beta)``.
    """
    if min(a, beta) >= _TINY_SHAPE:
        # scipy's recurrence divides 0 by 0 in a branch it then discards when a + beta = 1.
        with np.errstate(divide="ignore", invalid="ignore"):
            nodes, w = roots_jacobi(_QUADRATURE_NODES, beta - 1.0, a - 1.0)
        values = integrand((1.0 + nodes) / 2.0, (1.0 - nodes) / 2.0)
        if log:
            return np.asarray(logsumexp(values + np.log(w) - np.log(np.sum(w)), axis=-1))
        return np.asarray(values @ (w / np.sum(w)))
    nodes, w = roots_jacobi(_QUADRATURE_NODES, beta, a)
    v, q = (1.0 + nodes) / 2.0, (1.0 - nodes) / 2.0
    # The ends themselves: 1e-200 stands for 0 where the integrand has a removable 0 / 0.
    ends = integrand(np.array([1e-200, 1.0]), np.array([1.0, 1e-200]))
    values = integrand(v, q)
    if log:  # values relative to the largest, so that the split is done on numbers near 1
        top = np.maximum(np.max(values, axis=-1), np.max(ends, axis=-1))[..., None]
        ends, values = np.exp(ends - top), np.exp(values - top)
    left, right = ends[..., :1], ends[..., 1:]
    k = (values - left * q - right * v) / (v * q)
    total = a + beta
    mean = (
        beta / total * left[..., 0]
        + a / total * right[..., 0]
        + a * beta / (total * (total + 1.0)) * (k @ (w / np.sum(w)))
    )
    if log:
        return np.asarray(np.log(mean) + top[..., 0])
    return np.asarray(mean)
