"""BG/NBD: Poisson purchases at a gamma-distributed rate, dropout after each repeat purchase."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import betainc, betaln, expit, gammaln, hyp2f1, xlogy

from churnmodel.models._base import FitProblem, import_lifetimes
from churnmodel.models._purchase import Params, PurchaseModel
from churnmodel.models._summary import RFMData

__all__ = ["BetaGeoModel"]

# (a - 1) appears as a divisor in E[Y(t)]; the formula is continuous at a = 1, so a is kept at
# least this far from 1 (a relative change far below the parameters' standard errors).
_A_MIN_GAP = 1e-6


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

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b``.
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
    """

    _param_names = ("r", "alpha", "a", "b")
    _lifetimes_fitter = "BetaGeoFitter"
    # Offset of the dropout opportunities: BG/NBD has x of them, MBG/NBD x + 1 (also at time 0).
    _dropout_offset = 0

    def __init__(
        self, *, penalizer: float = 0.0, initial_params: Mapping[str, float] | None = None
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params

    # ------------------------------------------------------------------------- likelihood
    def _log_likelihood_rows(self, params: np.ndarray, data: RFMData) -> np.ndarray:
        r, alpha, a, b = params
        x, t_x, T = data.frequency, data.recency, data.T
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + t_x)
        return np.asarray(a1 + a2 + np.where(x > 0, np.logaddexp(a3, a4), a3))

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
                "and 1, and expected purchases of one-time buyers are numerically unreliable; "
                "a longer calibration period usually helps"
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

    def _purchases_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, times: np.ndarray, weights: np.ndarray
    ) -> np.ndarray:
        # E[Y(t) | alive] = c / (a - 1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+o; c; z)]
        # with c = a + b + x - 1 + o and z = t / (alpha + T + t). Euler's transformation
        # 2F1(A, B; c; z) = (1 - z)^(c - A - B) 2F1(c - A, c - B; c; z) turns the bracket into
        # 1 - (1 - z)^(a - 1) 2F1(a + b - 1 + o - r, a - 1; c; z), which stays finite for any x.
        r, alpha, a, b = (params[k] for k in self._param_names)
        gap = a - 1.0
        if abs(gap) < _A_MIN_GAP:
            gap = _A_MIN_GAP if gap >= 0 else -_A_MIN_GAP
        o = float(self._dropout_offset)
        c = (a + b - 1.0 + o + x)[:, None]
        base = (alpha + T)[:, None]
        t = np.asarray(times, dtype=np.float64)[None, :]
        log1mz = -np.log1p(t / base)
        z = -np.expm1(log1mz)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_f = np.log(hyp2f1(a + b - 1.0 + o - r, gap, c, z))
        cumulative = c / gap * -np.expm1(gap * log1mz + log_f)
        increments = np.diff(cumulative, axis=1, prepend=0.0)
        return np.asarray(increments @ np.asarray(weights, dtype=np.float64))

    def _no_purchase_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        r, alpha = params["r"], params["alpha"]
        return np.asarray(np.exp(-(r + x) * np.log1p(horizon / (alpha + T))))

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
