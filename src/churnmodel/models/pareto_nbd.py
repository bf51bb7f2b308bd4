"""Pareto/NBD: Poisson purchases at a gamma rate, exponential lifetimes at a gamma dropout rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from scipy.special import gammaln, hyp2f1, roots_legendre, xlogy

from churnmodel.models._base import FitProblem, import_lifetimes
from churnmodel.models._numerics import expm1_ratio, log1mexp
from churnmodel.models._purchase import Params, PurchaseModel
from churnmodel.models._summary import RFMData

__all__ = ["ParetoNBDModel"]

# Quadrature for P(X(t) = x): panels [0, 1e-6 t], [1e-6 t, 1e-5 t], ..., [0.1 t, t] follow the
# integrand's scale whatever alpha and beta are relative to t.
_PANEL_EDGES = np.concatenate([[0.0], np.logspace(-6, 0, 7)])
_NODES, _NODE_WEIGHTS = roots_legendre(24)


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD purchase model: expected purchases, P(alive), P(no purchase in a horizon).

    While alive, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; their
    lifetime is exponential with rate ``mu ~ Gamma(s, beta)``. ``alpha`` and ``beta`` are in the
    time unit of the summary the model was fitted on.

    Parameters
    ----------
    penalizer
        L2 penalty on the parameters, as lifetimes' ``penalizer_coef`` (0: maximum likelihood).
    initial_params
        Starting values ``{"r", "alpha", "s", "beta"}``; default: derived from the data.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta``.
    log_likelihood_ : float
        Total log-likelihood on the original data (comparable with published values).
    covariance_ : numpy.ndarray or None
        Asymptotic covariance of ``log(params)`` in ``param_names`` order.
    time_unit_ : str
        Unit of ``alpha`` and ``beta``.
    n_customers_ : int
        Number of customers the model was fitted on.
    fit_strategy_ : str
        Which fitting strategy converged.

    Notes
    -----
    The likelihood, P(alive) and P(no purchase) share the term
    ``A0 = G(t_x) - G(T)`` of Fader and Hardie (2005). With Euler's transformation of the Gauss
    hypergeometric function, ``G(t) = (alpha+t)^-(r+x) (beta+t)^-s H(t)`` where ``H`` is a
    ``2F1(1, .; r+s+x+1; z)`` that stays finite for any frequency, so every quantity is evaluated
    in log space as a ratio to ``(alpha+T)^-(r+x) (beta+T)^-s``; lifetimes' form overflows for
    customers with a thousand purchases.

    References
    ----------
    Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987), "Counting Your Customers: Who Are
    They and What Will They Do Next?", Management Science 33(1), 1-24.

    Fader, P. S. and Hardie, B. G. S. (2005), "A Note on Deriving the Pareto/NBD Model and Related
    Expressions", http://brucehardie.com/notes/009/.

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy
    Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.
    """

    _param_names = ("r", "alpha", "s", "beta")
    _scale_params: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def __init__(
        self, *, penalizer: float = 0.0, initial_params: Mapping[str, float] | None = None
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params

    # ------------------------------------------------------------------ shared closed forms
    @staticmethod
    def _log_h(
        r: float, alpha: float, s: float, beta: float, x: np.ndarray, t: np.ndarray
    ) -> np.ndarray:
        """``log H(t)``, with ``G(t) = (alpha+t)^-(r+x) (beta+t)^-s H(t)``."""
        c = r + s + x + 1.0
        if alpha >= beta:
            return np.asarray(np.log(hyp2f1(1.0, r + x, c, (alpha - beta) / (alpha + t))))
        ratio = np.log(alpha + t) - np.log(beta + t)
        return np.asarray(ratio + np.log(hyp2f1(1.0, s + 1.0, c, (beta - alpha) / (beta + t))))

    def _log_d(self, params: Params | np.ndarray, data: RFMData) -> np.ndarray:
        """``log D`` with ``L = Gamma-terms * (alpha+T)^-(r+x) (beta+T)^-s * D``; P(alive) = 1/D."""
        r, alpha, s, beta = _unpack(params)
        x, t_x, T = data.frequency, data.recency, data.T
        first, inverse = data.groups("frequency", "recency", "T")
        xu, txu, tu = x[first], t_x[first], T[first]
        log_h_tx = self._log_h(r, alpha, s, beta, xu, txu)
        log_h_t = self._log_h(r, alpha, s, beta, xu, tu)
        u = (
            (r + xu) * (np.log(alpha + tu) - np.log(alpha + txu))
            + s * (np.log(beta + tu) - np.log(beta + txu))
            + log_h_tx
        )
        # log(G(t_x) - G(T)) relative to the common factor; G is decreasing so u >= log_h_t.
        log_a0 = u + log1mexp(u - log_h_t)
        log_d = np.logaddexp(0.0, np.log(s) - np.log(r + s + xu) + log_a0)
        return np.asarray(log_d[inverse])

    # ------------------------------------------------------------------------- likelihood
    def _log_likelihood_rows(self, params: np.ndarray, data: RFMData) -> np.ndarray:
        r, alpha, s, beta = params
        x, T = data.frequency, data.T
        base = (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + s * np.log(beta)
            - (r + x) * np.log(alpha + T)
            - s * np.log(beta + T)
        )
        return np.asarray(base + self._log_d(params, data))

    def _start(self, problem: FitProblem) -> np.ndarray:
        w = problem.weights
        mean_x = float(np.average(problem.data.frequency, weights=w))
        mean_t = max(float(np.average(problem.data.T, weights=w)), 1e-9)
        r = 0.5
        return np.array([r, r * mean_t / max(mean_x, 1e-9), 0.5, mean_t])

    def _lifetimes_fit(
        self, problem: FitProblem, start: np.ndarray, penalizer: float
    ) -> np.ndarray:
        lifetimes = import_lifetimes()
        data = problem.data
        scale = 1.0 / float(data.T.max())
        x0 = start * np.array([1.0, scale, 1.0, scale])
        fitter = lifetimes.ParetoNBDFitter(penalizer_coef=penalizer)
        # A fixed start makes lifetimes' fit deterministic (it otherwise draws a random one).
        fitter.fit(
            data.frequency.astype(np.int64),
            data.recency,
            data.T,
            weights=problem.weights,
            initial_params=x0,
            tol=1e-6,
            maxiter=4000,
        )
        return np.array([float(fitter.params_[k]) for k in self._param_names])

    # ------------------------------------------------------------------------ predictions
    def _p_alive(self, params: Params, data: RFMData) -> np.ndarray:
        return np.asarray(np.exp(-self._log_d(params, data)))

    def _purchases_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, times: np.ndarray, weights: np.ndarray
    ) -> np.ndarray:
        # E[Y(t) | alive] = (r + x) (beta + T) / ((alpha + T) (s - 1))
        #                  * [1 - ((beta + T) / (beta + T + t))^(s - 1)]
        r, alpha, s, beta = _unpack(params)
        t = np.asarray(times, dtype=np.float64)[None, :]
        log_growth = np.log1p(t / (beta + T)[:, None])
        shape = ((r + x) * (beta + T) / (alpha + T))[:, None]
        cumulative = shape * expm1_ratio(1.0 - s, log_growth)
        increments = np.diff(cumulative, axis=1, prepend=0.0)
        return np.asarray(increments @ np.asarray(weights, dtype=np.float64))

    def _no_purchase_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        # Given alive at T: lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T), and
        # P(no purchase in h) = E[exp(-(lambda+mu) h)]
        #                       + E[mu / (lambda+mu) (1 - exp(-(lambda+mu) h))]
        #                     = rho + s / (r + s + x) * (H(T) - rho * H(T + h)),
        # rho = ((alpha+T)/(alpha+T+h))^(r+x) ((beta+T)/(beta+T+h))^s.
        r, alpha, s, beta = _unpack(params)
        log_rho = -(r + x) * np.log1p(horizon / (alpha + T)) - s * np.log1p(horizon / (beta + T))
        h_now = np.exp(self._log_h(r, alpha, s, beta, x, T))
        h_later = np.exp(log_rho + self._log_h(r, alpha, s, beta, x, T + horizon))
        value = np.exp(log_rho) + s / (r + s + x) * np.maximum(h_now - h_later, 0.0)
        return np.asarray(np.clip(value, 0.0, 1.0))

    def _count_distribution(self, params: Params, T: np.ndarray, max_count: int) -> np.ndarray:
        # P(X(t) = k) = NBD(k; t) (beta/(beta+t))^s + int_0^t f(tau) NBD(k; tau) dtau, where
        # f(tau) = s beta^s / (beta+tau)^(s+1) is the lifetime density (Gauss-Legendre panels).
        r, alpha, s, beta = _unpack(params)
        t = np.asarray(T, dtype=np.float64)
        k = np.arange(max_count, dtype=np.float64)

        def nbd(tau: np.ndarray) -> np.ndarray:
            p = alpha / (alpha + tau)[..., None]
            log_p = gammaln(r + k) - gammaln(r) - gammaln(k + 1.0) + r * np.log(p)
            return np.asarray(np.exp(log_p + xlogy(k, 1.0 - p)))

        lo, hi = _PANEL_EDGES[:-1], _PANEL_EDGES[1:]
        frac = (lo[:, None] + (hi - lo)[:, None] * (_NODES[None, :] + 1.0) / 2.0).ravel()
        wfrac = ((hi - lo)[:, None] / 2.0 * _NODE_WEIGHTS[None, :]).ravel()
        tau = t[:, None] * frac[None, :]
        density = s * np.exp(s * np.log(beta) - (s + 1.0) * np.log(beta + tau))
        integral = np.einsum("ij,ijk->ik", density * wfrac[None, :] * t[:, None], nbd(tau))
        survive = np.exp(s * (np.log(beta) - np.log(beta + t)))[:, None]
        probs = survive * nbd(t) + integral
        rest = np.clip(1.0 - probs.sum(axis=1, keepdims=True), 0.0, 1.0)
        return np.asarray(np.hstack([probs, rest]))


def _unpack(params: Params | np.ndarray) -> tuple[float, float, float, float]:
    if isinstance(params, Mapping):
        params = np.array([params[k] for k in ("r", "alpha", "s", "beta")])
    r, alpha, s, beta = (float(v) for v in params)
    return r, alpha, s, beta
