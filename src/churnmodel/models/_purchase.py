"""What the BG/NBD-family purchase models share: fitting on a summary and predicting from one.

Every prediction uses one decomposition. For a customer with history (x, t_x, T),

    E[Y(t) | x, t_x, T] = P(alive at T | x, t_x, T) * E[Y(t) | alive at T, x, T]

and, in the same way, P(no purchase in (T, T + H]) = 1 - P(alive) + P(alive) * P(no purchase in
(T, T + H] | alive at T, x, T). The alive-conditional factor depends on (x, T) only, so it is
computed once per distinct (x, T) pair (a few thousand at day resolution, whatever the number of
customers) and only P(alive) is evaluated per customer. This is what makes CLV fast.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError, ModelFitError
from churnmodel.models._base import FitProblem, ProbabilisticModel
from churnmodel.models._summary import RFMData, check_positive, read_summary
from churnmodel.schemas import days_per_unit

__all__ = ["PurchaseModel"]

Params = Mapping[str, float]


class PurchaseModel(ProbabilisticModel):
    """Base of :class:`BetaGeoModel`, :class:`ModifiedBetaGeoModel` and :class:`ParetoNBDModel`.

    Fitted attributes (after :meth:`fit`): ``params_`` (dict, scale parameters in ``time_unit_``),
    ``log_likelihood_`` (total, on the unscaled data), ``covariance_`` (of the log-parameters,
    order ``param_names``; ``None`` if the Hessian was singular), ``time_unit_``,
    ``n_customers_``, ``fit_strategy_``.
    """

    _scale_params: ClassVar[tuple[str, ...]] = ("alpha",)

    # --------------------------------------------------------------- model-specific formulas
    @abstractmethod
    def _p_alive(self, params: Params, data: RFMData) -> np.ndarray:
        """P(alive at T | x, t_x, T) per customer."""

    @abstractmethod
    def _purchases_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, times: np.ndarray, weights: np.ndarray
    ) -> np.ndarray:
        """``sum_k weights[k] * (E[Y(times[k]) | alive] - E[Y(times[k-1]) | alive])``, per (x, T).

        ``times`` is increasing, with an implicit ``times[-1] = 0``; ``weights`` are discount
        factors (all 1 for a plain expectation at ``times[-1]``).
        """

    @abstractmethod
    def _no_purchase_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        """P(no purchase in (T, T + horizon] | alive at T, x, T), per (x, T)."""

    @abstractmethod
    def _count_distribution(self, params: Params, T: np.ndarray, max_count: int) -> np.ndarray:
        """P(X(T) = k) for k < max_count and P(X(T) >= max_count), shape (len(T), max_count + 1)."""

    # --------------------------------------------------------------------------- fitting
    def fit(self, summary: pd.DataFrame, *, time_unit: str | None = None) -> Self:
        """Fit the model on an RFM summary.

        Identical (frequency, recency, T) rows are fitted once with a weight (the number of
        customers sharing them). See the module docstring of ``churnmodel.models._base`` for
        the fallback strategies.

        Parameters
        ----------
        summary
            One row per customer: ``frequency``, ``recency``, ``T`` (``monetary_value`` ignored).
        time_unit
            Unit of ``recency`` and ``T`` ("D" or "W") if ``summary.attrs`` has no
            ``"time_unit"``. The fitted scale parameters are in this unit.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            If the summary breaks a rule (the message names the rows and the fix).
        ModelFitError
            If no customer made a repeat purchase, or no strategy converged.
        """
        self._check_hyperparameters()
        data = read_summary(summary, time_unit=time_unit)
        problem = _purchase_problem(data, type(self).__name__)
        self._fit_problem(problem)
        self.time_unit_: str = data.time_unit
        return self

    def _penalty_vector(self, params: np.ndarray, problem: FitProblem) -> np.ndarray:
        scale = 1.0 / float(problem.data.T.max())
        factors = [scale if n in self._scale_params else 1.0 for n in self._param_names]
        return params * np.array(factors)

    def _diagnose(self, problem: FitProblem) -> tuple[str, str]:
        data, w = problem.data, problem.weights
        repeat = data.frequency > 0
        n_repeat = int(w[repeat].sum())
        at_cutoff = float(w[repeat & (data.recency >= data.T)].sum()) / max(n_repeat, 1)
        x_rep = np.repeat(data.frequency[repeat], w[repeat].astype(np.int64))
        p99 = float(np.quantile(x_rep, 0.99)) if x_rep.size else 0.0
        x_max = float(data.frequency.max())
        if n_repeat < 20:
            return (
                f"only {n_repeat} customers made a repeat purchase, too few to separate the "
                "purchase rate from the dropout",
                "use a longer calibration period or more customers",
            )
        if at_cutoff > 0.9:
            return (
                f"{at_cutoff:.0%} of repeat buyers purchased at the cut-off (recency = T), so the "
                "data show no dropout",
                "check that recency and T are measured to the same cut-off, or move the cut-off",
            )
        if x_max > 50 * max(p99, 1.0):
            return (
                f"a few customers have extreme frequencies (max {x_max:.0f}, 99th percentile "
                f"{p99:.0f})",
                "check for duplicated transactions or resellers, and cap or drop those customers",
            )
        return (
            "the likelihood is flat or ill-conditioned at these data",
            "pass initial_params close to the expected values, or a penalizer (e.g. 0.01)",
        )

    # ------------------------------------------------------------------------ persistence
    def _extra_state(self) -> dict[str, Any]:
        return {"time_unit": self.time_unit_}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        unit = state.get("time_unit")
        if unit not in ("D", "W"):
            raise DataValidationError(
                f"the saved {type(self).__name__} has time_unit {unit!r}, expected 'D' or 'W'"
            )
        self.time_unit_ = str(unit)

    # ------------------------------------------------------------------------ predictions
    def _read(self, summary: pd.DataFrame, time_unit: str | None) -> tuple[RFMData, float]:
        """Return the validated data in the model's unit and the factor from the summary's unit."""
        self._check_fitted()
        data = read_summary(summary, time_unit=time_unit)
        factor = days_per_unit(data.time_unit) / days_per_unit(self.time_unit_)
        return data.in_unit(self.time_unit_), factor

    def _discounted_purchases(
        self, params: Params, data: RFMData, times: np.ndarray, weights: np.ndarray
    ) -> np.ndarray:
        """Per customer ``sum_k weights[k] * (E[Y(times[k])] - E[Y(times[k-1])])``."""
        first, inverse = data.groups("frequency", "T")
        per_pair = self._purchases_if_alive(
            params, data.frequency[first], data.T[first], times, weights
        )
        return np.maximum(self._p_alive(params, data) * per_pair[inverse], 0.0)

    def expected_purchases(
        self, summary: pd.DataFrame, horizon: float, *, time_unit: str | None = None
    ) -> pd.Series:
        """Return the expected number of purchases in the next ``horizon``, per customer.

        Parameters
        ----------
        summary
            RFM summary (``frequency``, ``recency``, ``T``) at the cut-off.
        horizon
            Length of the future period, in the summary's time unit (> 0).
        time_unit
            Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

        Returns
        -------
        pandas.Series
            ``expected_purchases``, indexed like ``summary``; finite and >= 0.

        References
        ----------
        Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy
        Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284, eq. (10).
        """
        data, factor = self._read(summary, time_unit)
        values = self._expected_purchases(data, check_positive("horizon", horizon) * factor)
        return pd.Series(values, index=data.index, name="expected_purchases")

    def _expected_purchases(self, data: RFMData, horizon: float) -> np.ndarray:
        """:meth:`expected_purchases` of validated data and horizon in the model's unit."""
        return self._discounted_purchases(self.params_, data, np.array([horizon]), np.array([1.0]))

    def probability_alive(
        self, summary: pd.DataFrame, *, time_unit: str | None = None
    ) -> pd.Series:
        """Probability that each customer is still active at the cut-off.

        Not a churn score: under BG/NBD every one-time buyer has P(alive) = 1, because dropout can
        only happen right after a repeat purchase. Use :meth:`probability_no_purchase` instead.

        Returns
        -------
        pandas.Series
            ``p_alive``, indexed like ``summary``, in [0, 1].
        """
        data, _ = self._read(summary, time_unit)
        return pd.Series(self._probability_alive(data), index=data.index, name="p_alive")

    def _probability_alive(self, data: RFMData) -> np.ndarray:
        """:meth:`probability_alive` of validated data in the model's unit."""
        return np.clip(self._p_alive(self.params_, data), 0.0, 1.0)

    def probability_no_purchase(
        self, summary: pd.DataFrame, horizon: float, *, time_unit: str | None = None
    ) -> pd.Series:
        """Probability of no purchase in the next ``horizon``: the model's lapse score.

        ``(1 - P(alive)) + P(alive) * P(no purchase in horizon | alive)``; for BG/NBD the second
        factor is ``((alpha + T) / (alpha + T + horizon)) ** (r + x)``.

        Parameters
        ----------
        summary
            RFM summary at the cut-off.
        horizon
            Length of the future period, in the summary's time unit (> 0).
        time_unit
            Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

        Returns
        -------
        pandas.Series
            ``p_no_purchase``, indexed like ``summary``, in [0, 1].
        """
        data, factor = self._read(summary, time_unit)
        values = self._probability_no_purchase(data, check_positive("horizon", horizon) * factor)
        return pd.Series(values, index=data.index, name="p_no_purchase")

    def _probability_no_purchase(
        self, data: RFMData, horizon: float, alive: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`probability_no_purchase` of validated data and horizon in the model's unit.

        ``alive``: :meth:`_probability_alive` of ``data`` if the caller has it already.
        """
        first, inverse = data.groups("frequency", "T")
        quiet = self._no_purchase_if_alive(
            self.params_, data.frequency[first], data.T[first], horizon
        )
        if alive is None:
            alive = self._probability_alive(data)
        return np.clip(1.0 - alive + alive * quiet[inverse], 0.0, 1.0)

    def expected_cumulative_purchases(
        self, summary: pd.DataFrame, times: Any, *, time_unit: str | None = None
    ) -> pd.Series:
        """Return expected total purchases by the customers in ``summary`` within each ``times``.

        The model side of a holdout tracking plot: for each ``t`` in ``times`` (time since the
        cut-off, in the summary's unit), the sum over customers of E[Y(t) | x, t_x, T].

        Returns
        -------
        pandas.Series
            Indexed by ``times``, named ``expected_cumulative_purchases``.
        """
        data, factor = self._read(summary, time_unit)
        grid = np.asarray(times, dtype=np.float64).ravel()
        if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
            raise ConfigError(f"'times' must be finite and >= 0, got {times!r}")
        first, inverse = data.groups("frequency", "T")
        alive_per_pair = np.bincount(
            inverse, weights=self._p_alive(self.params_, data), minlength=first.size
        )
        totals = np.zeros(grid.size)
        for k, t in enumerate(grid):
            if t > 0:
                per_pair = self._purchases_if_alive(
                    self.params_,
                    data.frequency[first],
                    data.T[first],
                    np.array([t * factor]),
                    np.array([1.0]),
                )
                totals[k] = float(np.dot(alive_per_pair, per_pair))
        index = pd.Index(grid, name="t")
        return pd.Series(totals, index=index, name="expected_cumulative_purchases")

    def frequency_distribution(
        self, summary: pd.DataFrame, *, max_frequency: int = 7, time_unit: str | None = None
    ) -> pd.DataFrame:
        """Model probability of each number of repeat purchases over each customer's own T.

        Summing a column over customers gives the expected number of customers with that many
        repeat purchases in the calibration period (the model side of the frequency histogram).

        Parameters
        ----------
        summary
            RFM summary; only ``T`` matters.
        max_frequency
            Columns are ``0 .. max_frequency - 1`` and ``"{max_frequency}+"``.
        time_unit
            Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

        Returns
        -------
        pandas.DataFrame
            One row per customer, rows sum to 1.
        """
        if not isinstance(max_frequency, int | np.integer) or max_frequency < 1:
            raise ConfigError(f"'max_frequency' must be an integer >= 1, got {max_frequency!r}")
        data, _ = self._read(summary, time_unit)
        first, inverse = data.groups("T")
        probs = self._count_distribution(self.params_, data.T[first], int(max_frequency))
        probs = np.clip(probs, 0.0, 1.0)[inverse]
        columns = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
        return pd.DataFrame(probs, index=data.index, columns=columns)


def _purchase_problem(data: RFMData, model_name: str) -> FitProblem:
    """Compress identical (frequency, recency, T) rows into weights, after sanity checks."""
    n = len(data)
    if not np.any(data.frequency > 0):
        raise ModelFitError(
            f"{model_name} cannot be fitted: none of the {n} customers made a repeat purchase "
            "(frequency is 0 in every row), so the purchase rate and the dropout cannot be "
            "separated. What to change: use a longer calibration period, or check that "
            "frequency counts repeat purchases (purchase days after the first)",
            details={"cause": "no repeat buyers"},
        )
    if float(data.T.max()) <= 0:
        raise ModelFitError(
            f"{model_name} cannot be fitted: every customer has T = 0 (first purchase at the "
            "cut-off), so no time has been observed. What to change: move the cut-off later",
            details={"cause": "T = 0 for every customer"},
        )
    first, inverse = data.groups("frequency", "recency", "T")
    weights = np.bincount(inverse, minlength=first.size)
    distinct = RFMData(
        frequency=data.frequency[first],
        recency=data.recency[first],
        T=data.T[first],
        time_unit=data.time_unit,
        index=pd.RangeIndex(first.size),
    )
    return FitProblem(data=distinct, weights=weights, n_customers=n)
