"""Gamma-Gamma: expected spend per purchase from the mean spend of a customer's repeat purchases."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.special import gammaln

from churnmodel.exceptions import ConfigError, DataValidationError, ModelFitError
from churnmodel.models._base import (
    DegenerateFitWarning,
    FitProblem,
    ProbabilisticModel,
    compressed_problem,
    import_lifetimes,
)
from churnmodel.models._summary import RFMData, read_summary, read_weights

__all__ = ["GammaGammaModel"]


class GammaGammaModel(ProbabilisticModel):
    """Gamma-Gamma spend model: expected spend per purchase, shrunk towards the population mean.

    A customer's purchases have values ``z ~ Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)`` across
    customers; lifetimes and this class call ``gamma`` ``v``. Only repeat buyers (frequency > 0)
    with ``monetary_value`` (the mean value of their repeat purchases) > 0 are fitted on; one-time
    buyers are predicted the population mean ``p * v / (q - 1)``, and repeat buyers with
    ``monetary_value = 0`` that mean shrunk towards 0.

    Parameters
    ----------
    penalizer
        L2 penalty on the parameters, as lifetimes' ``penalizer_coef`` (0: maximum likelihood).
    initial_params
        Starting values ``{"p", "q", "v"}``; default: derived from the data.
    min_q
        If the fit gives ``q < min_q``, the model warns (:class:`DegenerateFitWarning`) and refits
        with ``q >= min_q``. ``q <= 1`` means the population mean spend is infinite (spend is
        heavy-tailed across customers), so expected spend of one-time buyers would be infinite
        or negative. Must be > 1.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v``.
    log_likelihood_ : float
        Total log-likelihood of the repeat buyers' mean spend.
    covariance_ : numpy.ndarray or None
        Asymptotic covariance of ``log(params)`` in ``param_names`` order.
    n_customers_ : int
        Number of repeat buyers fitted on.
    spend_frequency_correlation_ : float
        Pearson correlation of frequency and mean spend among repeat buyers; the model assumes
        they are independent, so a large value (say above 0.3) is a reason for caution.
    fit_strategy_ : str
        Which fitting strategy converged (``"+q>=min_q"`` appended after a constrained refit).

    References
    ----------
    Fader, P. S. and Hardie, B. G. S. (2013), "The Gamma-Gamma Model of Monetary Value",
    http://brucehardie.com/notes/025/.

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: Using Iso-Value Curves
    for Customer Base Analysis", Journal of Marketing Research 42(4), 415-430.
    """

    _param_names = ("p", "q", "v")
    _scale_params: ClassVar[tuple[str, ...]] = ("v",)

    def __init__(
        self,
        *,
        penalizer: float = 0.0,
        initial_params: Mapping[str, float] | None = None,
        min_q: float = 1.01,
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params
        self.min_q = min_q

    # --------------------------------------------------------------------------- fitting
    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        min_q = self.min_q
        if not isinstance(min_q, int | float) or not math.isfinite(min_q) or min_q <= 1:
            raise ConfigError(f"'min_q' must be a number > 1, got {min_q!r}")

    def fit(
        self,
        summary: pd.DataFrame,
        *,
        time_unit: str | None = None,
        weights: str | Any | None = None,
        compress: bool | None = None,
    ) -> Self:
        """Fit on the repeat buyers of an RFM summary.

        Repeat buyers sharing (frequency, monetary_value) are fitted once with a weight when
        that pays (same estimate, log-likelihood and covariance as the uncompressed fit).

        Parameters
        ----------
        summary
            One row per customer with ``frequency`` and ``monetary_value`` (mean spend of the
            repeat purchases, >= 0). Only repeat buyers with ``monetary_value > 0`` are fitted
            on: one-time buyers carry no spend information, and repeat buyers with
            ``monetary_value = 0`` are left out with a :class:`DegenerateFitWarning` that
            counts them (a mean spend of 0 has zero likelihood under the model).
        time_unit
            Accepted for symmetry with the purchase models; spend has no time unit.
        weights
            The number of customers each row stands for, as for the purchase models: a column
            name of ``summary`` or an array, finite and >= 0. One row per distinct (frequency,
            monetary_value) with its count is fitted exactly as the full summary.
        compress
            None (default): compress when the distinct rows are fewer than 98 % of the
            repeat buyers (``churnmodel.models._base.COMPRESSION_SHARE``); True or False forces it.
            ``fit_rows_`` says how many likelihood rows the fit evaluated.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            Missing columns, non-integer frequency, negative spend of a repeat buyer, ...
        ModelFitError
            Fewer than 3 repeat buyers with positive spend, or no strategy converged.
        """
        self._check_hyperparameters()
        data = read_summary(summary, time_unit=time_unit, monetary=True, purchases=False)
        given = read_weights(summary, weights)
        w = np.ones(len(data)) if given is None else given
        money = np.asarray(data.monetary_value)
        zero_spend = (data.frequency > 0) & (money <= 0) & (w > 0)
        n_zero = round(float(w[zero_spend].sum()))
        if n_zero:
            # The Gamma-Gamma density of a mean spend of 0 is 0 (log-likelihood -inf): these
            # customers carry no information the model can use, so they are left out of the fit
            # and predicted like everyone else (expected_spend shrinks them towards the mean).
            warnings.warn(
                f"GammaGammaModel: {n_zero} of {round(float(w[data.frequency > 0].sum()))} "
                "repeat buyers have monetary_value = 0 (their repeat purchases net to nothing) "
                "and are left out of the fit; expected_spend still predicts them, shrunk towards "
                "the population mean",
                DegenerateFitWarning,
                stacklevel=2,
            )
        repeat = (data.frequency > 0) & ~zero_spend & (w > 0)
        n_repeat = round(float(w[repeat].sum()))
        if n_repeat < 3:
            zeros = f" ({n_zero} more have monetary_value = 0)" if n_zero else ""
            raise ModelFitError(
                f"GammaGammaModel cannot be fitted: only {n_repeat} of "
                f"{round(float(w.sum()))} customers made a repeat purchase with positive mean "
                f"spend{zeros}, and the model learns from repeat buyers' mean spend. What to "
                "change: use a longer calibration period or more customers",
                details={"cause": "fewer than 3 repeat buyers"},
            )
        x = data.frequency[repeat]
        m = money[repeat]
        rows = w[repeat]
        corr = _weighted_correlation(x, m, rows)
        compact = RFMData(
            frequency=x,
            recency=x,
            T=x,
            time_unit="D",
            index=pd.RangeIndex(x.size),
            monetary_value=m,
        )
        problem = compressed_problem(
            compact,
            ("frequency", "monetary_value"),
            None if given is None else rows,
            n_repeat,
            compress,
        )
        self._fit_problem(problem)
        self.fit_rows_: int = len(problem.data)
        self.spend_frequency_correlation_: float = corr
        return self

    def _log_likelihood_rows(self, params: np.ndarray, data: RFMData) -> np.ndarray:
        # Fader and Hardie (2013), eq. (1a): the density of the mean spend m of x purchases.
        p, q, v = params
        if "gamma_gamma" not in data._cache:  # parameter-free parts, reused by every evaluation
            x = data.frequency
            m = np.asarray(data.monetary_value)
            first, inverse = data.groups("frequency")
            log_m = np.log(m)
            data._cache["gamma_gamma"] = (x, x * m, log_m + np.log(x), log_m, first, inverse)
        x, xm, log_xm, log_m, first, inverse = data._cache["gamma_gamma"]
        px_distinct = p * x[first]
        by_frequency = gammaln(px_distinct + q) - gammaln(px_distinct)
        px = p * x
        return np.asarray(
            by_frequency[inverse]
            - gammaln(q)
            + q * np.log(v)
            + px * log_xm
            - log_m
            - (px + q) * np.log(xm + v)
        )

    def _start(self, problem: FitProblem) -> np.ndarray:
        m = np.asarray(problem.data.monetary_value)
        mean_m = float(np.average(m, weights=problem.weights))
        # p = 2, q = 3 and v chosen so that the population mean p v / (q - 1) is the mean spend.
        return np.array([2.0, 3.0, mean_m])

    def _lifetimes_fit(
        self, problem: FitProblem, start: np.ndarray, penalizer: float
    ) -> np.ndarray:
        lifetimes = import_lifetimes()
        fitter = lifetimes.GammaGammaFitter(penalizer_coef=penalizer)
        fitter.fit(
            problem.data.frequency,
            problem.data.monetary_value,
            weights=problem.weights,
            initial_params=np.log(start),
        )
        return np.array([float(fitter.params_[k]) for k in self._param_names])

    def _alternative_start(self, problem: FitProblem, start: np.ndarray) -> np.ndarray:
        return np.array([1.0, 2.0, float(start[2]) / 2.0])

    def _after_fit(
        self, problem: FitProblem, params: np.ndarray, strategy: str
    ) -> tuple[np.ndarray, str]:
        q = float(params[1])
        if q >= self.min_q:
            return params, strategy
        warnings.warn(
            f"GammaGammaModel: q = {q:.4g} < min_q = {self.min_q}: spend is so heavy-tailed "
            "across customers that the population mean spend p * v / (q - 1) does not exist "
            f"(infinite or negative for q <= 1); refitting with q >= {self.min_q}. Check "
            "monetary_value for outliers (e.g. B2B orders) before trusting one-time buyers' "
            "expected spend",
            DegenerateFitWarning,
            stacklevel=4,
        )
        start = params.copy()
        start[1] = self.min_q * 1.5
        bounds: list[tuple[float | None, float | None]] = [
            (None, None),
            (math.log(self.min_q), None),
            (None, None),
        ]
        _, refit = self._run_strategies(
            problem,
            [("l-bfgs-b", lambda: self._own_fit(problem, start, self.penalizer, bounds=bounds))],
        )
        return refit, f"{strategy}+q>={self.min_q}"

    def _diagnose(self, problem: FitProblem) -> tuple[str, str]:
        m = np.asarray(problem.data.monetary_value)
        w = problem.weights
        mean = float(np.average(m, weights=w))
        spread = math.sqrt(float(np.average((m - mean) ** 2, weights=w))) / mean
        if spread < 1e-6:
            return (
                "every repeat buyer has the same mean spend, so the spread parameters diverge",
                "the Gamma-Gamma model needs spend that varies; predict the common value instead",
            )
        ratio = float(m.max() / np.median(m))
        if ratio > 1e4:
            return (
                f"extreme spend outliers (largest mean spend is {ratio:.3g} times the median)",
                "check monetary_value for data errors or B2B orders, and cap or drop them",
            )
        return (
            "the likelihood is flat or ill-conditioned at these data",
            "pass initial_params close to the expected values, or a penalizer (e.g. 0.01)",
        )

    # ------------------------------------------------------------------------ persistence
    def _extra_state(self) -> dict[str, Any]:
        corr = self.spend_frequency_correlation_
        return {"spend_frequency_correlation": corr if math.isfinite(corr) else None}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        if self.params_["q"] <= 1:
            raise DataValidationError(
                f"the saved GammaGammaModel has q = {self.params_['q']} <= 1, for which expected "
                "spend is undefined"
            )
        corr = state.get("spend_frequency_correlation", 0.0)
        self.spend_frequency_correlation_ = math.nan if corr is None else float(corr)

    @classmethod
    def from_params(
        cls, params: Mapping[str, float], *, covariance: np.ndarray | None = None
    ) -> Self:
        """Return a model with known parameters, as if fitted (no data behind it).

        Parameters
        ----------
        params
            ``{"p", "q", "v"}``, all > 0 and ``q > 1`` (for ``q <= 1`` expected spend is
            undefined).
        covariance
            Covariance of the log-parameters (3 x 3), for intervals; none by default.

        Returns
        -------
        GammaGammaModel
            ``log_likelihood_`` and ``spend_frequency_correlation_`` are NaN,
            ``n_customers_`` is 0 and ``fit_strategy_`` is ``"given"``.
        """
        state = cls._from_params_state(params, covariance, spend_frequency_correlation=None)
        return cls.from_dict(state)

    def sample_params(
        self, n_draws: int, seed: int | np.random.Generator | None = None
    ) -> np.ndarray:
        """Draw parameter vectors from the asymptotic normal of the log-parameters, given q > 1.

        As :meth:`ProbabilisticModel.sample_params`, except that draws with ``q <= 1`` (for
        which the population mean spend ``p v / (q - 1)``, and so the expected spend of
        one-time buyers, is infinite or negative) are redrawn: the normal approximation is
        conditioned on ``q > 1``, the region where the model predicts at all. The fitted
        ``q > 1`` is the mean of ``log q``, so at least about half of the draws are kept.
        """
        rng = np.random.default_rng(seed)
        q_col = self._param_names.index("q")
        draws = super().sample_params(n_draws, rng)  # the same draws as before when none fails
        kept = draws[draws[:, q_col] > 1.0]
        for _ in range(200):
            if len(kept) >= n_draws:
                return kept[:n_draws]
            more = super().sample_params(max(2 * (n_draws - len(kept)), 16), rng)
            kept = np.vstack([kept, more[more[:, q_col] > 1.0]])
        raise ModelFitError(
            f"GammaGammaModel: fewer than {n_draws} of the parameter draws have q > 1 "
            f"(fitted q = {self.params_['q']:.6g}); the spend fit is too uncertain for "
            "intervals. Refit on more repeat buyers, or pass interval=None"
        )

    # ------------------------------------------------------------------------ predictions
    @staticmethod
    def _expected_spend(
        params: Mapping[str, float], frequency: np.ndarray, monetary_value: np.ndarray
    ) -> np.ndarray:
        # E[Z | x, m] = (q - 1)/(p x + q - 1) * p v/(q - 1) + p x/(p x + q - 1) * m
        #             = p (v + x m) / (p x + q - 1): no cancellation as q approaches 1, and
        #             finite and > 0 for m = 0 (a repeat buyer whose purchases net to nothing).
        p, q, v = params["p"], params["q"], params["v"]
        x = frequency
        m = np.where(x > 0, monetary_value, 0.0)
        return np.asarray(p * (v + x * m) / (p * x + q - 1.0))

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Return the expected spend per future purchase of each customer.

        A weighted average of the customer's mean repeat spend and the population mean, with
        more weight on the customer the more repeat purchases they made.

        Parameters
        ----------
        summary
            ``frequency`` and ``monetary_value`` (ignored where frequency is 0). A repeat buyer
            with ``monetary_value = 0`` gets ``p v / (p x + q - 1)``: the population mean
            shrunk towards 0 by their ``x`` purchases.

        Returns
        -------
        pandas.Series
            ``expected_spend``, indexed like ``summary``; finite and > 0.

        Raises
        ------
        DataValidationError
            If a repeat buyer has a negative or missing ``monetary_value`` (the message names
            the customers and the fix).

        References
        ----------
        Fader, P. S. and Hardie, B. G. S. (2013), "The Gamma-Gamma Model of Monetary Value",
        http://brucehardie.com/notes/025/, eq. (5).
        """
        self._check_fitted()
        data = read_summary(summary, monetary=True, purchases=False)
        values = self._expected_spend(self.params_, data.frequency, np.asarray(data.monetary_value))
        return pd.Series(values, index=data.index, name="expected_spend")


def _weighted_correlation(x: np.ndarray, m: np.ndarray, weights: np.ndarray) -> float:
    """Pearson correlation of ``x`` and ``m``, each row counted ``weights`` times (0 if flat)."""
    if np.ptp(x) == 0 or np.ptp(m) == 0:
        return 0.0
    if np.all(weights == 1):
        return float(np.corrcoef(x, m)[0, 1])
    cov = np.cov(np.vstack([x, m]), fweights=None, aweights=weights, ddof=0)
    return float(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]))
