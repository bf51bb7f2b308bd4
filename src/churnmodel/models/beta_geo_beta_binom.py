"""BG/BB: discrete transaction opportunities (donations, yearly renewals, events).

At each opportunity after the first, a customer who is alive transacts with probability
``p ~ Beta(alpha, beta)``; before each opportunity they die with probability
``theta ~ Beta(gamma, delta)``. The data are ``x`` (opportunities with a transaction), ``t_x``
(the opportunity of the last one) and ``n`` (opportunities observed), in the summary's
``frequency``, ``recency`` and ``T`` columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1, logsumexp, poch, polygamma

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models._base import FitProblem, import_lifetimes
from churnmodel.models._purchase import Params, PurchaseModel
from churnmodel.models._summary import RFMData, check_positive, read_discrete_summary

__all__ = ["BetaGeoBetaBinomModel"]

# Up to this many future opportunities the expected purchases are summed term by term (exact);
# beyond, the telescoped closed form, whose 1 / (gamma - 1) loses digits near gamma = 1.
_DIRECT_SUM_MAX = 4096
# Within this distance of 1, the log-gamma differences of the closed form are Taylor series in
# gamma - 1 (five terms: an error below 1e-12), where differences of log-gammas would cancel.
_GAMMA_NEAR_ONE = 1e-2


class BetaGeoBetaBinomModel(PurchaseModel):
    """BG/BB purchase model for discrete transaction opportunities, fitted by maximum likelihood.

    Transactions can only happen at discrete opportunities (a yearly appeal, a renewal date,
    an event). While alive, a customer transacts at each opportunity with probability
    ``p ~ Beta(alpha, beta)``; at the start of each opportunity an alive customer dies with
    probability ``theta ~ Beta(gamma, delta)``. The discrete-time analogue of Pareto/NBD.

    The summary has one row per customer (or per pattern, with ``weights``): ``frequency`` =
    x, the number of opportunities after the first with a transaction; ``recency`` = t_x, the
    opportunity of the last one (0 without one); ``T`` = n, the number of opportunities since
    the first. Horizons are numbers of future opportunities (whole numbers), and
    ``time_unit_`` is ``"P"`` (the opportunity). Methods and fitted attributes are those of
    the other purchase models; :meth:`dert` discounts per opportunity (discrete), and the
    continuous-time CLV of :func:`customer_lifetime_value` does not apply (the residual value
    is :meth:`dert` times the spend per transaction).

    Parameters
    ----------
    penalizer
        L2 penalty on the parameters, as lifetimes' ``penalizer_coef`` (0: maximum likelihood).
    initial_params
        Starting values ``{"alpha", "beta", "gamma", "delta"}``; default ``(1, 1, 0.5, 3)``.

    Attributes
    ----------
    params_ : dict
        ``alpha``, ``beta``, ``gamma``, ``delta``.
    log_likelihood_ : float
        Total log-likelihood.
    covariance_ : numpy.ndarray or None
        Asymptotic covariance of ``log(params)`` in ``param_names`` order.
    time_unit_ : str
        ``"P"``: horizons count opportunities.
    n_customers_ : int
        Number of customers the model was fitted on.
    fit_strategy_ : str
        Which fitting strategy converged.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Shang, J. (2010), "Customer-Base Analysis in a
    Discrete-Time Noncontractual Setting", Marketing Science 29(6), 1086-1108.
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _scale_params: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, *, penalizer: float = 0.0, initial_params: Mapping[str, float] | None = None
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params

    # ------------------------------------------------------------------ discrete-time hooks
    def _read_summary(self, summary: pd.DataFrame, time_unit: str | None) -> RFMData:
        if time_unit not in (None, "P"):
            raise DataValidationError(
                f"BG/BB counts transaction opportunities (time_unit 'P'), got time_unit="
                f"{time_unit!r}",
                hint="drop the time_unit argument",
            )
        return read_discrete_summary(summary)

    def _read(self, summary: pd.DataFrame, time_unit: str | None) -> tuple[RFMData, float]:
        self._check_fitted()
        return self._read_summary(summary, time_unit), 1.0

    def _horizon(self, value: Any, factor: float, *, allow_zero: bool = False) -> float:
        number = check_positive("horizon", value, allow_zero=allow_zero)
        if number != round(number):
            raise ConfigError(f"'horizon' must be a whole number of opportunities, got {value!r}")
        return number

    def _check_times(self, name: str, times: np.ndarray) -> None:
        if np.any(times != np.round(times)):
            raise ConfigError(f"{name!r} must be whole numbers of opportunities, got {times!r}")

    def _new_customer_factor(self, time_unit: str | None) -> float:
        self._check_fitted()
        if time_unit not in (None, "P"):
            raise ConfigError(f"BG/BB horizons count opportunities ('P'), got {time_unit!r}")
        return 1.0

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, float],
        *,
        time_unit: str = "P",
        covariance: np.ndarray | None = None,
    ) -> Self:
        """Return a BG/BB model with known parameters, as if fitted (no data behind it).

        Parameters
        ----------
        params
            ``{"alpha", "beta", "gamma", "delta"}``, all > 0 (e.g. Fader, Hardie and Shang's
            1.204, 0.750, 0.657, 2.783).
        time_unit
            ``"P"`` (opportunities), the only unit of this model.
        covariance
            Covariance of the log-parameters, for ``summary_``; none by default.
        """
        if time_unit != "P":
            raise ConfigError(
                f"BG/BB counts opportunities: 'time_unit' must be 'P', got {time_unit!r}"
            )
        return cls.from_dict(cls._from_params_state(params, covariance, time_unit="P"))

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        if state.get("time_unit") != "P":
            raise DataValidationError(
                f"the saved BetaGeoBetaBinomModel has time_unit {state.get('time_unit')!r}, "
                "expected 'P'"
            )
        self.time_unit_ = "P"

    # ------------------------------------------------------------------------- likelihood
    def _log_likelihood_rows(self, params: np.ndarray, data: RFMData) -> np.ndarray:
        # Fader, Hardie and Shang (2010), eq. (5):
        # L = B(a+x, b+n-x)/B(a,b) B(g, d+n)/B(g,d)
        #   + sum_{i=0}^{n-t_x-1} B(a+x, b+t_x-x+i)/B(a,b) B(g+1, d+t_x+i)/B(g,d).
        alpha, beta, gamma, delta = (float(v) for v in params)
        return _log_likelihood(alpha, beta, gamma, delta, data.frequency, data.recency, data.T)

    def _start(self, problem: FitProblem) -> np.ndarray:
        return np.array([1.0, 1.0, 0.5, 3.0])

    def _lifetimes_fit(
        self, problem: FitProblem, start: np.ndarray, penalizer: float
    ) -> np.ndarray:
        lifetimes = import_lifetimes()
        data = problem.data
        fitter = lifetimes.BetaGeoBetaBinomFitter(penalizer_coef=penalizer)
        fitter.fit(
            data.frequency.astype(np.int64),
            data.recency.astype(np.int64),
            data.T.astype(np.int64),
            weights=problem.weights,
            initial_params=np.log(start),
        )
        return np.array([float(fitter.params_[k]) for k in self._param_names])

    # ------------------------------------------------------------------------ predictions
    def _p_alive(self, params: Params, data: RFMData) -> np.ndarray:
        # P(alive at n | x, t_x, n) = B(a+x, b+n-x)/B(a,b) B(g, d+n)/B(g,d) / L (FHS 2010, A10).
        alpha, beta, gamma, delta = _unpack(params)
        x, t_x, n = data.frequency, data.recency, data.T
        log_alive = (
            betaln(alpha + x, beta + n - x)
            - betaln(alpha, beta)
            + betaln(gamma, delta + n)
            - betaln(gamma, delta)
        )
        log_l = _log_likelihood(alpha, beta, gamma, delta, x, t_x, n)
        return np.asarray(np.exp(np.minimum(log_alive - log_l, 0.0)))

    def _alive_survival(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        # Given alive at n, theta ~ Beta(g, d + n): alive at n + h with E[(1 - theta)^h].
        _, _, gamma, delta = _unpack(params)
        return np.asarray(np.exp(betaln(gamma, delta + T + horizon) - betaln(gamma, delta + T)))

    def _cumulative_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, times: np.ndarray
    ) -> np.ndarray:
        # E[X(n, n + t) | alive at n] = E[p] sum_{k=1}^t E[(1 - theta)^k], with p ~ Beta(a + x,
        # b + n - x) and theta ~ Beta(g, d') (d' = d + n) given alive. The sum telescopes:
        # d' / (g - 1) [1 - G(t)], G(t) = Gamma(g + d') Gamma(d' + t + 1) / (Gamma(d' + 1)
        # Gamma(g + d' + t)) (FHS 2010, eq. 13); its limit at g = 1 is d' (psi(d' + t + 1) -
        # psi(d' + 1)).
        alpha, beta, gamma, delta = _unpack(params)
        t = np.asarray(times, dtype=np.float64)
        t = t[None, :] if t.ndim == 1 else t
        d1 = (delta + T)[:, None]
        mean_p = ((alpha + x) / (alpha + beta + T))[:, None]
        longest = float(np.max(t)) if t.size else 0.0
        if longest <= _DIRECT_SUM_MAX:
            k = np.arange(1, int(longest) + 1, dtype=np.float64)[None, :]
            terms = np.exp(betaln(gamma, d1 + k) - betaln(gamma, d1))
            sums = np.hstack([np.zeros((d1.shape[0], 1)), np.cumsum(terms, axis=1)])
            index = np.broadcast_to(np.round(t).astype(np.int64), (d1.shape[0], t.shape[1]))
            return np.asarray(mean_p * np.take_along_axis(sums, index, axis=1))
        m = gamma - 1.0
        if m == 0.0:
            total = d1 * (digamma(d1 + t + 1.0) - digamma(d1 + 1.0))
        else:
            if abs(m) < _GAMMA_NEAR_ONE:
                log_g = sum(
                    m**j
                    / math.factorial(j)
                    * (polygamma(j - 1, d1 + 1.0) - polygamma(j - 1, d1 + t + 1.0))
                    for j in range(1, 6)
                )
            else:
                log_g = _log_rising(d1 + 1.0, m) - _log_rising(d1 + t + 1.0, m)
            total = d1 * -np.expm1(log_g) / m
        return np.asarray(mean_p * np.where(t > 0, total, 0.0))

    def _no_purchase_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        return self._counts_if_alive(params, x, T, horizon, np.zeros(1))[:, 0]

    def _counts_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float, counts: np.ndarray
    ) -> np.ndarray:
        # Given alive at n, the customer stays alive for j of the next h opportunities with
        # probability E[theta (1 - theta)^j] (j < h) or E[(1 - theta)^h] (j = h), and makes k
        # transactions in those j with probability C(j, k) E[p^k (1 - p)^(j - k)]:
        #   P(k | alive) = sum_{j=k}^h w_j C(j, k) B(a' + k, b' + j - k) / B(a', b').
        alpha, beta, gamma, delta = _unpack(params)
        h = round(float(horizon))
        a1 = (alpha + x)[:, None]
        b1 = (beta + T - x)[:, None]
        d1 = (delta + T)[:, None]
        j = np.arange(h + 1, dtype=np.float64)[None, :]
        log_w = np.where(
            j < h,
            betaln(gamma + 1.0, d1 + j) - betaln(gamma, d1),
            betaln(gamma, d1 + j) - betaln(gamma, d1),
        )
        out = np.zeros((x.size, len(counts)))
        for col, k in enumerate(np.asarray(counts, dtype=np.float64)):
            if k > h:
                continue
            jj = j[:, int(k) :]
            terms = (
                log_w[:, int(k) :]
                + gammaln(jj + 1.0)
                - gammaln(k + 1.0)
                - gammaln(jj - k + 1.0)
                + betaln(a1 + k, b1 + jj - k)
                - betaln(a1, b1)
            )
            out[:, col] = np.exp(logsumexp(terms, axis=1))
        return np.asarray(np.clip(out, 0.0, 1.0))

    def _dert_kernel(
        self, params: Params, x: np.ndarray, T: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        raise NotImplementedError("BG/BB discounts per opportunity: see dert")  # pragma: no cover

    def _count_distribution(self, params: Params, T: np.ndarray, max_count: int) -> np.ndarray:
        # A new customer (x = t_x = n = 0, alive) over their own T opportunities.
        out = np.empty((T.size, max_count + 1))
        for value in np.unique(T):
            rows = np.asarray(T) == value
            probs = self._counts_if_alive(
                params, np.zeros(1), np.zeros(1), float(value), np.arange(max_count, dtype=float)
            )
            rest = np.clip(1.0 - probs.sum(), 0.0, 1.0)
            out[rows] = np.append(probs[0], rest)
        return out

    def dert(
        self, summary: pd.DataFrame, discount_rate: float, *, time_unit: str | None = None
    ) -> pd.Series:
        """Discounted expected residual transactions, discounting per opportunity.

        ``DERT(d) = sum_{k >= 1} E[transaction at opportunity n + k | x, t_x, n] / (1 + d)^k``
        (Fader, Hardie and Shang 2010, eq. 14): with the posterior given alive, ``P(alive)
        E[p] B(g, d' + 1) / B(g, d') / (1 + d) 2F1(1, d' + 1; g + d' + 1; 1 / (1 + d))``,
        ``d' = delta + n``. Multiplied by the value of a transaction it is the customer's
        residual lifetime value.

        Parameters
        ----------
        summary
            Discrete-time summary (``frequency``, ``recency``, ``T`` in opportunities).
        discount_rate
            Discount rate per opportunity (> 0), e.g. 0.1 for 10 % a year with yearly
            opportunities, as in BTYD's ``bgbb.DERT``.
        time_unit
            ``None`` or ``"P"``.

        Returns
        -------
        pandas.Series
            ``dert``, indexed like ``summary``; finite and >= 0.

        References
        ----------
        Fader, P. S., Hardie, B. G. S. and Shang, J. (2010), "Customer-Base Analysis in a
        Discrete-Time Noncontractual Setting", Marketing Science 29(6), 1086-1108, eq. 14.
        """
        data, _ = self._read(summary, time_unit)
        d = check_positive("discount_rate", discount_rate)
        alpha, beta, gamma, delta = _unpack(self.params_)
        first, inverse = data.groups("frequency", "T")
        x, n = data.frequency[first], data.T[first]
        d1 = delta + n
        z = 1.0 / (1.0 + d)
        series = _hyp2f1_one(d1 + 1.0, gamma + d1 + 1.0, z)
        per_pair = (
            (alpha + x)
            / (alpha + beta + n)
            * np.exp(betaln(gamma, d1 + 1.0) - betaln(gamma, d1))
            * z
            * series
        )
        alive = np.clip(self._p_alive(self.params_, data), 0.0, 1.0)
        return pd.Series(alive * per_pair[inverse], index=data.index, name="dert")


def _unpack(params: Params | np.ndarray) -> tuple[float, float, float, float]:
    if isinstance(params, Mapping):
        params = np.array([params[k] for k in ("alpha", "beta", "gamma", "delta")])
    alpha, beta, gamma, delta = (float(v) for v in params)
    return alpha, beta, gamma, delta


def _log_likelihood(
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    x: np.ndarray,
    t_x: np.ndarray,
    n: np.ndarray,
) -> np.ndarray:
    """Log of FHS (2010) eq. (5) per row; the sum over i is a masked log-sum-exp."""
    base_ab = betaln(alpha, beta)
    base_gd = betaln(gamma, delta)
    alive = betaln(alpha + x, beta + n - x) - base_ab + betaln(gamma, delta + n) - base_gd
    gaps = (n - t_x).astype(np.int64)
    width = int(gaps.max()) if gaps.size else 0
    if width == 0:
        return np.asarray(alive)
    i = np.arange(width, dtype=np.float64)[None, :]
    died = (
        betaln(alpha + x[:, None], beta + (t_x - x)[:, None] + i)
        - base_ab
        + betaln(gamma + 1.0, delta + t_x[:, None] + i)
        - base_gd
    )
    died = np.where(i < gaps[:, None], died, -np.inf)
    return np.asarray(logsumexp(np.column_stack([alive, died]), axis=1))


def _log_rising(u: np.ndarray, m: float) -> np.ndarray:
    """``log Gamma(u + m) - log Gamma(u)``, accurate for small ``m`` (via ``poch``)."""
    if abs(m) < 1.0:
        with np.errstate(all="ignore"):
            value = np.log(poch(u, m))
        good = np.isfinite(value)
        if np.all(good):
            return np.asarray(value)
        return np.asarray(np.where(good, value, gammaln(u + m) - gammaln(u)))
    return np.asarray(gammaln(u + m) - gammaln(u))


def _hyp2f1_one(b: np.ndarray, c: np.ndarray, z: float) -> np.ndarray:
    """``2F1(1, b; c; z)`` for ``0 < z < 1``: scipy's, or the series summed where it fails."""
    with np.errstate(all="ignore"):
        value = np.asarray(hyp2f1(1.0, b, c, z), dtype=np.float64)
    bad = ~np.isfinite(value) | (value < 1.0)
    if np.any(bad):
        # Terms (b)_k / (c)_k z^k, each the previous times (b + k - 1) / (c + k - 1) z.
        bb, cc = b[bad], c[bad]
        total = np.ones(bb.size)
        term = np.ones(bb.size)
        k = 0
        while True:
            term = term * (bb + k) / (cc + k) * z
            total += term
            k += 1
            if np.all(term < 1e-17 * total) or k > 1_000_000:
                break
        value[bad] = total
    return value
