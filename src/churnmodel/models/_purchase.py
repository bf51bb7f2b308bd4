"""What the BG/NBD-family purchase models share: fitting on a summary and predicting from one.

Every prediction uses one decomposition. For a customer with history (x, t_x, T),

    E[Y(t) | x, t_x, T] = P(alive at T | x, t_x, T) * E[Y(t) | alive at T, x, T]

and, in the same way, P(no purchase in (T, T + H]) = 1 - P(alive) + P(alive) * P(no purchase in
(T, T + H] | alive at T, x, T). The alive-conditional factor depends on (x, T) only, so it is
computed once per distinct (x, T) pair (a few thousand at day resolution, whatever the number of
customers) and only P(alive) is evaluated per customer. This is what makes CLV fast.

The same decomposition gives the other predictions: P(alive at T + h) = P(alive) * P(still
alive at T + h | alive at T), P(n purchases in (T, T + h]) = (1 - P(alive)) [n = 0] + P(alive)
* P(n | alive), and DERT = P(alive) * DERT(alive). A new customer is a customer observed at
(x, t_x, T) = (0, 0, 0).
"""

from __future__ import annotations

import math
import warnings
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Self, overload

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError, ModelFitError
from churnmodel.models._base import (
    DegenerateFitWarning,
    FitProblem,
    ProbabilisticModel,
    compressed_problem,
)
from churnmodel.models._numerics import numerical_hessian
from churnmodel.models._summary import (
    RFMData,
    _distinct_rows,
    check_positive,
    read_covariates,
    read_summary,
    read_weights,
)
from churnmodel.schemas import days_per_unit

__all__ = ["PurchaseModel"]

Params = Mapping[str, float]

# DERT: trapezoid rule in w = log(u) over the discounted survival, with this step. The
# integrand is analytic for |Im w| < pi / 2, so the error is about exp(-pi^2 / step) ~ 1e-17.
_DERT_STEP = 0.25
# Customer-time pairs per block of the DERT quadrature (bounds the memory of the grid).
_DERT_BLOCK = 2048


class PurchaseModel(ProbabilisticModel):
    """Base of :class:`BetaGeoModel`, :class:`ModifiedBetaGeoModel` and :class:`ParetoNBDModel`.

    Fitted attributes (after :meth:`fit`): ``params_`` (dict, scale parameters in ``time_unit_``),
    ``log_likelihood_`` (total, on the unscaled data), ``covariance_`` (of the log-parameters,
    order ``param_names``; ``None`` if the Hessian was singular), ``time_unit_``,
    ``n_customers_``, ``fit_strategy_``.
    """

    _scale_params: ClassVar[tuple[str, ...]] = ("alpha",)
    #: Static covariates, for the models that take them (BG/NBD, Pareto/NBD): groups of
    #: coefficients as (prefix, hyperparameter naming the covariates, base parameter, sign).
    #: A customer with covariates z has that parameter ``base * exp(sign * coefficients . z)``.
    _coefficient_groups: ClassVar[tuple[tuple[str, str, str, float], ...]] = ()

    # ------------------------------------------------------------------------- covariates
    def _covariates_of(self, attribute: str) -> tuple[str, ...]:
        return tuple(getattr(self, attribute, ()) or ())

    def _covariate_names(self) -> tuple[str, ...]:
        """Every covariate the model reads, in order of first mention."""
        names: list[str] = []
        for _, attribute, _, _ in self._coefficient_groups:
            names += [n for n in self._covariates_of(attribute) if n not in names]
        return tuple(names)

    def _coefficient_names(self) -> tuple[str, ...]:
        return tuple(
            f"{prefix}[{name}]"
            for prefix, attribute, _, _ in self._coefficient_groups
            for name in self._covariates_of(attribute)
        )

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters, then the covariate coefficients, in ``covariance_`` order."""
        return self._param_names + self._coefficient_names()

    def _full_params(self) -> dict[str, float]:
        """Return the parameters and the covariate coefficients, as :meth:`_split` reads them."""
        return {**self.params_, **getattr(self, "coefficients_", {})}

    def _split(self, params: Params, data: RFMData) -> list[tuple[np.ndarray | None, Params]]:
        """Return the customers of ``data`` by covariate pattern, with each pattern's parameters.

        Without covariates: every row (``None``) with ``params``. With covariates, the
        distinct covariate rows of ``data`` (a category is one pattern, however many customers
        share it) with the base parameters scaled by ``exp(sign * coefficients . z)``.
        """
        coefficients = self._coefficient_names()
        if not coefficients:
            return [(None, params)]
        if data.covariates is None:
            raise DataValidationError(
                f"this {type(self).__name__} has covariates {list(self._covariate_names())} "
                "but the data carry none",
                hint="pass a summary with the covariate columns",
            )
        if "patterns" not in data._cache:
            columns = [data.covariates[:, j] for j in range(data.covariates.shape[1])]
            first, inverse = _distinct_rows(columns)
            order = np.argsort(inverse, kind="stable")
            bounds = np.searchsorted(inverse[order], np.arange(first.size + 1))
            rows = [order[bounds[g] : bounds[g + 1]] for g in range(first.size)]
            data._cache["patterns"] = (data.covariates[first], rows)
        patterns, rows = data._cache["patterns"]
        position = {name: j for j, name in enumerate(data.covariate_names)}
        out: list[tuple[np.ndarray | None, Params]] = []
        for g, z in enumerate(patterns):
            pattern = {name: float(params[name]) for name in self._param_names}
            for prefix, attribute, target, sign in self._coefficient_groups:
                covariates = self._covariates_of(attribute)
                if covariates:
                    eta = sum(params[f"{prefix}[{c}]"] * z[position[c]] for c in covariates)
                    pattern[target] *= math.exp(sign * eta)
            out.append((rows[g], pattern))
        return out

    def _each(
        self,
        params: Params,
        data: RFMData,
        compute: Callable[[Params, RFMData], np.ndarray],
    ) -> np.ndarray:
        """Apply ``compute(pattern_params, pattern_data)`` to each covariate pattern; reassemble."""
        groups = self._split(params, data)
        if len(groups) == 1 and groups[0][0] is None:
            return compute(groups[0][1], data)
        out: np.ndarray | None = None
        for rows, pattern in groups:
            assert rows is not None
            part = np.asarray(compute(pattern, data.take(rows)))
            if out is None:
                out = np.empty((len(data), *part.shape[1:]))
            out[rows] = part
        assert out is not None
        return out

    # --------------------------------------------------------------- model-specific formulas
    @abstractmethod
    def _p_alive(self, params: Params, data: RFMData) -> np.ndarray:
        """P(alive at T | x, t_x, T) per customer."""

    @abstractmethod
    def _cumulative_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, times: np.ndarray
    ) -> np.ndarray:
        """E[Y(t) | alive at T, x, T] for each time: shape (len(x), K).

        ``times`` is shared by every row, shape (K,), or one row per (x, T), shape (len(x), K).
        """

    def _purchases_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, times: np.ndarray, weights: np.ndarray
    ) -> np.ndarray:
        """``sum_k weights[k] * (E[Y(times[k]) | alive] - E[Y(times[k-1]) | alive])``, per (x, T).

        ``times`` is increasing, with an implicit ``times[-1] = 0``; ``weights`` are discount
        factors (all 1 for a plain expectation at ``times[-1]``).
        """
        cumulative = self._cumulative_if_alive(params, x, T, times)
        increments = np.diff(cumulative, axis=1, prepend=0.0)
        return np.asarray(increments @ np.asarray(weights, dtype=np.float64))

    @abstractmethod
    def _no_purchase_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        """P(no purchase in (T, T + horizon] | alive at T, x, T), per (x, T)."""

    @abstractmethod
    def _count_distribution(self, params: Params, T: np.ndarray, max_count: int) -> np.ndarray:
        """P(X(T) = k) for k < max_count and P(X(T) >= max_count), shape (len(T), max_count + 1)."""

    @abstractmethod
    def _alive_survival(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        """P(alive at T + horizon | alive at T, x, T), per (x, T)."""

    @abstractmethod
    def _counts_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, horizon: float, counts: np.ndarray
    ) -> np.ndarray:
        """P(k purchases in (T, T + horizon] | alive at T, x, T), shape (len(x), len(counts))."""

    @abstractmethod
    def _dert_kernel(
        self, params: Params, x: np.ndarray, T: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Return what DERT given alive integrates, per (x, T): ``(rate, scale, survival)``.

        DERT(delta | alive) = rate * int_0^inf exp(-delta u) survival(u) du, where ``rate``
        is the posterior mean purchase rate, ``survival(u)`` (a callable of a (pairs, nodes)
        array of times, returning the same shape) is the expected discount of the purchase
        rate at time u after T given alive, and ``scale`` the time over which it first falls.
        """

    # --------------------------------------------------------------------------- fitting
    def fit(
        self,
        summary: pd.DataFrame,
        *,
        time_unit: str | None = None,
        weights: str | Any | None = None,
        compress: bool | None = None,
    ) -> Self:
        """Fit the model on an RFM summary.

        Identical (frequency, recency, T) rows are fitted once with a weight (the number of
        customers sharing them) when that pays: the log-likelihood is the same weighted sum, so
        the estimate, ``log_likelihood_`` and covariance are those of the uncompressed fit (to
        rounding, tested to 1e-9). See the module docstring of ``churnmodel.models._base`` for
        the fallback strategies.

        Parameters
        ----------
        summary
            One row per customer: ``frequency``, ``recency``, ``T`` (``monetary_value`` ignored);
            or, with ``weights``, one row per group of customers.
        time_unit
            Unit of ``recency`` and ``T`` ("D", "W" or "M") if ``summary.attrs`` has no
            ``"time_unit"``. The fitted scale parameters are in this unit.
        weights
            The number of customers each row stands for (lifetimes' ``weights``, BTYD's
            ``custs``): a column name of ``summary`` or an array, finite and >= 0. A summary
            with one row per distinct (frequency, recency, T) and its counts is fitted exactly
            as the full summary (same estimate, log-likelihood and covariance).
        compress
            None (default): compress when the distinct rows are fewer than 98 % of the
            rows (``churnmodel.models._base.COMPRESSION_SHARE``); True or False forces it. The
            fitted ``fit_rows_`` says how many likelihood rows the fit evaluated.

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
        data = self._read_summary(summary, time_unit)
        w = read_weights(summary, weights)
        problem = _purchase_problem(data, type(self).__name__, w, compress)
        if self._coefficient_names():
            self._fit_with_covariates(problem)
        else:
            self._fit_problem(problem)
        self.fit_rows_: int = len(problem.data)
        self.time_unit_: str = data.time_unit
        return self

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        for _, attribute, _, _ in self._coefficient_groups:
            value = getattr(self, attribute, ())
            ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
            if not ok or len(set(value)) != len(value):
                raise ConfigError(
                    f"{attribute!r} must be a list of distinct column names, got {value!r}"
                )

    # -------------------------------------------------------------- fitting with covariates
    def _theta(self) -> np.ndarray:
        """Return the estimate ``covariance_`` is about: log-parameters, then coefficients."""
        coefficients = getattr(self, "coefficients_", {})
        return np.concatenate(
            [np.log(self._param_array()), [coefficients[n] for n in self._coefficient_names()]]
        )

    def _params_of(self, theta: np.ndarray) -> dict[str, float]:
        """Return the parameters and coefficients of a vector like :meth:`_theta`'s."""
        base = len(self._param_names)
        out = {n: float(math.exp(v)) for n, v in zip(self._param_names, theta[:base], strict=True)}
        out.update(
            {n: float(v) for n, v in zip(self._coefficient_names(), theta[base:], strict=True)}
        )
        return out

    def _row_params(self, params: Params, data: RFMData) -> list[np.ndarray]:
        """Return each row's parameters (``_param_names`` order) under covariates ``params``."""
        values = {n: np.full(len(data), float(params[n])) for n in self._param_names}
        if data.covariates is not None:
            position = {name: j for j, name in enumerate(data.covariate_names)}
            for prefix, attribute, target, sign in self._coefficient_groups:
                covariates = self._covariates_of(attribute)
                if covariates:
                    eta = sum(
                        params[f"{prefix}[{c}]"] * data.covariates[:, position[c]]
                        for c in covariates
                    )
                    values[target] = values[target] * np.exp(sign * eta)
        return [values[n] for n in self._param_names]

    def _log_likelihood_row_params(self, row_params: list[np.ndarray], data: RFMData) -> np.ndarray:
        """Log-likelihood of each row at its own parameters (a hook; by pattern by default)."""
        raise NotImplementedError  # pragma: no cover - models with covariates override it

    def _rows_log_likelihood(self, params: Params, data: RFMData) -> np.ndarray:
        """Log-likelihood of each row of ``data`` at parameters and coefficients ``params``.

        Every row at its own parameters in one vectorised call (a continuous covariate gives
        every customer parameters of their own).
        """
        return self._log_likelihood_row_params(self._row_params(params, data), data)

    def _fit_with_covariates(self, problem: FitProblem) -> None:
        """Fit the parameters and the covariate coefficients by maximum likelihood.

        The model without covariates is fitted first (with every strategy of
        :meth:`_fit_problem`); from its estimate and coefficients 0, L-BFGS-B maximises the
        log-likelihood of the covariate model over the log-parameters and the coefficients
        (Nelder-Mead polishes it if L-BFGS-B stops early). The covariance is the inverse of the
        numerical Hessian in that vector (log-parameters, coefficients).
        """
        from scipy.optimize import minimize  # slow to import

        plain = type(self)(penalizer=self.penalizer, initial_params=self.initial_params)
        plain._fit_problem(problem)
        names = self._coefficient_names()
        theta0 = np.concatenate([np.log(plain._param_array()), np.zeros(len(names))])
        total = float(problem.weights.sum())
        base = len(self._param_names)

        def log_likelihood(theta: np.ndarray) -> float:
            rows = self._rows_log_likelihood(self._params_of(theta), problem.data)
            return float(np.dot(problem.weights, rows))

        def objective(theta: np.ndarray) -> float:
            with np.errstate(all="ignore"):
                value = -log_likelihood(theta) / total
            if self.penalizer:
                params = np.exp(theta[:base])
                penalty = np.sum(self._penalty_vector(params, problem) ** 2)
                value += self.penalizer * float(penalty + np.sum(theta[base:] ** 2))
            return value if math.isfinite(value) else 1e300

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = minimize(objective, theta0, method="L-BFGS-B")
            strategy = "covariates: L-BFGS-B"
            if not result.success:
                polished = minimize(
                    objective,
                    result.x,
                    method="Nelder-Mead",
                    options={"maxiter": 20_000, "xatol": 1e-8, "fatol": 1e-12, "adaptive": True},
                )
                if polished.fun <= result.fun:
                    result, strategy = polished, "covariates: L-BFGS-B + Nelder-Mead"
        theta = np.asarray(result.x, dtype=np.float64)
        if not (np.all(np.isfinite(theta)) and math.isfinite(log_likelihood(theta))):
            raise ModelFitError(
                f"{type(self).__name__} with covariates could not be fitted on "
                f"{problem.n_customers} customers (the optimiser ended at {theta.tolist()}). "
                "What to change: standardise continuous covariates, drop covariates that are "
                "constant or collinear, or pass a penalizer",
                details={"cause": "covariate fit did not converge"},
            )
        params = self._params_of(theta)
        self.params_: dict[str, float] = {n: params[n] for n in self._param_names}
        self.coefficients_: dict[str, float] = {n: params[n] for n in names}
        self.log_likelihood_: float = log_likelihood(theta)
        self.n_customers_: int = int(problem.n_customers)
        self.fit_strategy_: str = f"{plain.fit_strategy_} + {strategy}"
        with np.errstate(all="ignore"):
            hess = numerical_hessian(lambda v: -log_likelihood(v), theta, step=1e-4)
        self.covariance_: np.ndarray | None = _invert(hess)
        if self.covariance_ is None:
            warnings.warn(
                f"{type(self).__name__}: the log-likelihood is flat in some direction at the "
                "optimum (Hessian not positive definite): no standard errors or intervals. A "
                "covariate may be constant or collinear with another",
                DegenerateFitWarning,
                stacklevel=4,
            )
        for message in self._degeneracies(self.params_):
            warnings.warn(f"{type(self).__name__}: {message}", DegenerateFitWarning, stacklevel=4)

    def sample_params(
        self, n_draws: int, seed: int | np.random.Generator | None = None
    ) -> np.ndarray:
        """Draw parameter vectors (and covariate coefficients) from their asymptotic normal.

        As :meth:`ProbabilisticModel.sample_params`; a model with covariates draws the
        log-parameters and the coefficients jointly and returns the parameters (exp of the
        drawn logs) then the coefficients, in ``param_names`` order.
        """
        if not self._coefficient_names():
            return super().sample_params(n_draws, seed)
        self._check_fitted()
        if self.covariance_ is None:
            raise ModelFitError(
                f"{type(self).__name__} has no parameter covariance, so parameter uncertainty "
                "cannot be sampled; refit on more customers"
            )
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(
            self._theta(), self.covariance_, size=n_draws, method="cholesky"
        )
        base = len(self._param_names)
        draws[:, :base] = np.exp(draws[:, :base])
        return np.asarray(draws)

    def _estimates(self) -> tuple[tuple[str, ...], np.ndarray, int]:
        names = self.param_names
        values = np.concatenate(
            [
                self._param_array(),
                [getattr(self, "coefficients_", {})[n] for n in self._coefficient_names()],
            ]
        )
        return names, values, len(self._param_names)

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, float],
        *,
        time_unit: str,
        covariance: np.ndarray | None = None,
    ) -> Self:
        """Return a model with known parameters, as if fitted (no data behind it).

        Parameters
        ----------
        params
            Every parameter of ``param_names``, > 0 (e.g. ``{"r": 0.243, "alpha": 4.414,
            "a": 0.793, "b": 2.426}`` for the published CDNOW BG/NBD).
        time_unit
            Unit of the scale parameters (``alpha``, Pareto/NBD's ``beta``): "D", "W" or "M".
        covariance
            Covariance of the log-parameters, in ``param_names`` order, for intervals and
            ``summary_``; none by default.

        Returns
        -------
        PurchaseModel
            ``log_likelihood_`` is NaN, ``n_customers_`` 0 and ``fit_strategy_`` ``"given"``.
        """
        days_per_unit(time_unit)  # validates
        return cls.from_dict(cls._from_params_state(params, covariance, time_unit=time_unit))

    def log_likelihood(
        self,
        summary: pd.DataFrame,
        *,
        weights: str | Any | None = None,
        time_unit: str | None = None,
    ) -> float:
        """Return the log-likelihood of an RFM summary at the model's parameters.

        The summary's ``recency`` and ``T`` are converted to the model's unit first: a
        likelihood of times depends on their unit, and the model's is the one its parameters
        (and published values) refer to.

        Parameters
        ----------
        summary
            RFM summary (``frequency``, ``recency``, ``T``).
        weights
            Customers per row (a column name or an array), as in :meth:`fit`.
        time_unit
            Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

        Returns
        -------
        float
            The total log-likelihood (a weighted sum over rows).
        """
        data, _ = self._read(summary, time_unit)
        w = read_weights(summary, weights)
        rows = self._each(
            self._full_params(),
            data,
            lambda p, d: self._log_likelihood_rows(np.array([p[k] for k in self._param_names]), d),
        )
        if w is None:
            return float(np.sum(rows))
        return float(np.dot(w[w > 0], rows[w > 0]))

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
        state: dict[str, Any] = {"time_unit": self.time_unit_}
        if self._coefficient_names():
            state["coefficients"] = dict(self.coefficients_)
        return state

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        unit = state.get("time_unit")
        if unit not in ("D", "W", "M"):
            raise DataValidationError(
                f"the saved {type(self).__name__} has time_unit {unit!r}, expected 'D', 'W' or 'M'"
            )
        self.time_unit_ = str(unit)
        names = self._coefficient_names()
        if names:
            saved = state.get("coefficients")
            if not isinstance(saved, Mapping) or set(saved) != set(names):
                raise DataValidationError(
                    f"the saved {type(self).__name__} has coefficients {saved!r}, expected "
                    f"{list(names)}"
                )
            values = {n: float(saved[n]) for n in names}
            if not all(math.isfinite(v) for v in values.values()):
                raise DataValidationError(f"the saved coefficients are not finite: {values}")
            self.coefficients_ = values

    # ------------------------------------------------------------------------ predictions
    def _read_summary(self, summary: pd.DataFrame, time_unit: str | None) -> RFMData:
        """Validate a summary in its own unit (a hook for discrete-time models).

        A model with covariates also reads their columns (``RFMData.covariates``).
        """
        data = read_summary(summary, time_unit=time_unit)
        names = self._covariate_names()
        if names:
            data = replace(data, covariates=read_covariates(summary, names), covariate_names=names)
        return data

    def _horizon(self, value: Any, factor: float, *, allow_zero: bool = False) -> float:
        """Return a horizon in the model's unit (a hook for discrete-time models)."""
        return check_positive("horizon", value, allow_zero=allow_zero) * factor

    def _check_times(self, name: str, times: np.ndarray) -> None:
        """Refuse times the model cannot take (a hook: discrete-time models take integers)."""
        return None

    def _read(self, summary: pd.DataFrame, time_unit: str | None) -> tuple[RFMData, float]:
        """Return the validated data in the model's unit and the factor from the summary's unit."""
        self._check_fitted()
        data = self._read_summary(summary, time_unit)
        factor = days_per_unit(data.time_unit) / days_per_unit(self.time_unit_)
        return data.in_unit(self.time_unit_), factor

    def _discounted_purchases(
        self, params: Params, data: RFMData, times: np.ndarray, weights: np.ndarray
    ) -> np.ndarray:
        """Per customer ``sum_k weights[k] * (E[Y(times[k])] - E[Y(times[k-1])])``."""

        def compute(p: Params, d: RFMData) -> np.ndarray:
            first, inverse = d.groups("frequency", "T")
            per_pair = self._purchases_if_alive(p, d.frequency[first], d.T[first], times, weights)
            return np.maximum(self._p_alive(p, d) * per_pair[inverse], 0.0)

        return self._each(params, data, compute)

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
        values = self._expected_purchases(data, self._horizon(horizon, factor))
        return pd.Series(values, index=data.index, name="expected_purchases")

    def _expected_purchases(self, data: RFMData, horizon: float) -> np.ndarray:
        """:meth:`expected_purchases` of validated data and horizon in the model's unit."""
        return self._discounted_purchases(
            self._full_params(), data, np.array([horizon]), np.array([1.0])
        )

    def probability_alive(
        self, summary: pd.DataFrame, *, horizon: float = 0.0, time_unit: str | None = None
    ) -> pd.Series:
        """Probability that each customer is still active at the cut-off, or ``horizon`` later.

        Not a churn score: under BG/NBD every one-time buyer has P(alive) = 1 at the cut-off,
        because dropout can only happen right after a repeat purchase. Use
        :meth:`probability_no_purchase` instead.

        P(alive at T + h) = P(alive at T) * P(no dropout in (T, T + h] | alive at T): the
        customer may buy in between, and the model's dropout runs on. Given alive at T the
        purchase rate is ``Gamma(r + x, alpha + T)``; under Pareto/NBD the dropout rate is
        ``Gamma(s, beta + T)``, so the factor is ``((beta + T) / (beta + T + h))^s``; under
        BG/NBD a customer drops out after a purchase with probability ``p ~ Beta(a, b + x)``
        (``b + x + 1`` for MBG/NBD), so the factor is
        ``E[(1 + p h / (alpha + T))^-(r + x)] = 2F1(r + x, a; a + b + x; -h / (alpha + T))``.

        Parameters
        ----------
        summary
            RFM summary at the cut-off.
        horizon
            Time after the cut-off, in the summary's unit (>= 0; 0: at the cut-off).
        time_unit
            Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

        Returns
        -------
        pandas.Series
            ``p_alive``, indexed like ``summary``, in [0, 1]; non-increasing in ``horizon``.

        References
        ----------
        Fader, P. S. and Hardie, B. G. S. (2014), "Additional Results for the Pareto/NBD
        Model", http://brucehardie.com/notes/015/, eq. (18).
        """
        data, factor = self._read(summary, time_unit)
        h = self._horizon(horizon, factor, allow_zero=True)

        def compute(p: Params, d: RFMData) -> np.ndarray:
            alive = np.clip(self._p_alive(p, d), 0.0, 1.0)
            if h > 0:
                first, inverse = d.groups("frequency", "T")
                stay = self._alive_survival(p, d.frequency[first], d.T[first], h)
                alive = np.clip(alive * stay[inverse], 0.0, 1.0)
            return np.asarray(alive)

        values = self._each(self._full_params(), data, compute)
        return pd.Series(values, index=data.index, name="p_alive")

    def probability_of_purchases(
        self, summary: pd.DataFrame, n: int, horizon: float, *, time_unit: str | None = None
    ) -> pd.Series:
        """Probability of exactly ``n`` purchases in the next ``horizon``, per customer.

        ``(1 - P(alive)) [n = 0] + P(alive) * P(n purchases in horizon | alive)``. Given alive
        at T, BG/NBD's future is a new customer's with the posterior parameters ``(r + x,
        alpha + T, a, b + x)`` (``b + x + 1`` for MBG/NBD), so P(n | alive) is Fader, Hardie
        and Lee's eq. (8) at those; Pareto/NBD's is the new customer's pmf at ``(r + x,
        alpha + T, s, beta + T)``: ``NBD(n; t) (B / (B + t))^s + int_0^t s B^s (B + u)^-(s+1)
        NBD(n; u) du`` (``B = beta + T``), the integral evaluated by a trapezoid rule.

        Parameters
        ----------
        summary
            RFM summary at the cut-off.
        n
            Number of purchases (an integer >= 0).
        horizon
            Length of the future period, in the summary's unit (> 0).
        time_unit
            Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

        Returns
        -------
        pandas.Series
            ``p_purchases``, indexed like ``summary``, in [0, 1]; summed over ``n`` it is 1.

        References
        ----------
        Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy
        Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284, eq. (8).

        Fader, P. S. and Hardie, B. G. S. (2014), "Deriving the Conditional PMF of the
        Pareto/NBD Model", http://brucehardie.com/notes/028/.
        """
        count = _check_count(n)
        data, factor = self._read(summary, time_unit)
        h = self._horizon(horizon, factor)
        values = self._probability_of_purchases(self._full_params(), data, count, h)
        return pd.Series(values, index=data.index, name="p_purchases")

    def _probability_of_purchases(
        self, params: Params, data: RFMData, count: int, horizon: float
    ) -> np.ndarray:
        def compute(p: Params, d: RFMData) -> np.ndarray:
            first, inverse = d.groups("frequency", "T")
            if_alive = self._counts_if_alive(
                p, d.frequency[first], d.T[first], horizon, np.array([float(count)])
            )[:, 0]
            alive = np.clip(self._p_alive(p, d), 0.0, 1.0)
            values = alive * np.clip(if_alive[inverse], 0.0, 1.0)
            if count == 0:
                values = values + (1.0 - alive)
            return np.asarray(np.clip(values, 0.0, 1.0))

        return self._each(params, data, compute)

    def probability_of_purchases_new_customer(
        self,
        n: int,
        horizon: float,
        *,
        time_unit: str | None = None,
        covariates: Mapping[str, float] | None = None,
    ) -> float:
        """Probability that a new customer makes exactly ``n`` repeat purchases within ``horizon``.

        A new customer is observed at (x, t_x, T) = (0, 0, 0): lifetimes'
        ``probability_of_n_purchases_up_to_time(horizon, n)``.

        Parameters
        ----------
        n
            Number of repeat purchases (an integer >= 0).
        horizon
            Time since the first purchase, in ``time_unit`` (> 0).
        time_unit
            Unit of ``horizon``; default: the model's ``time_unit_``.
        covariates
            The new customer's covariate values, for a model with covariates (required there).

        Returns
        -------
        float
            A probability in [0, 1].

        References
        ----------
        Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy
        Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284, eq. (8).
        """
        count = _check_count(n)
        h = self._horizon(horizon, self._new_customer_factor(time_unit))
        customer = self._new_customer(covariates)
        return float(self._probability_of_purchases(self._full_params(), customer, count, h)[0])

    def _new_customer(self, covariates: Mapping[str, float] | None) -> RFMData:
        """Return a new customer (x = t_x = T = 0) with the model's covariates, if any."""
        names = self._covariate_names()
        if not names:
            if covariates:
                raise ConfigError(
                    f"this {type(self).__name__} has no covariates, got covariates={covariates!r}"
                )
            return _new_customer()
        given = dict(covariates or {})
        missing = [n for n in names if n not in given]
        if missing:
            raise ConfigError(
                f"pass the new customer's covariates {list(names)}: missing {missing}"
            )
        values = np.array([[float(given[n]) for n in names]])
        if not np.all(np.isfinite(values)):
            raise ConfigError(f"'covariates' must be finite numbers, got {covariates!r}")
        return replace(_new_customer(), covariates=values, covariate_names=names)

    @overload
    def expected_purchases_new_customer(
        self,
        horizon: float,
        *,
        time_unit: str | None = None,
        covariates: Mapping[str, float] | None = None,
    ) -> float: ...

    @overload
    def expected_purchases_new_customer(
        self,
        horizon: np.ndarray | list[float] | pd.Series,
        *,
        time_unit: str | None = None,
        covariates: Mapping[str, float] | None = None,
    ) -> np.ndarray: ...

    def expected_purchases_new_customer(
        self,
        horizon: Any,
        *,
        time_unit: str | None = None,
        covariates: Mapping[str, float] | None = None,
    ) -> float | np.ndarray:
        """Return a new customer's expected repeat purchases within ``horizon`` of the first.

        lifetimes' ``expected_number_of_purchases_up_to_time(t)``: the conditional expectation
        at (x, t_x, T) = (0, 0, 0). BG/NBD: ``(a + b - 1) / (a - 1) * [1 - (alpha / (alpha +
        t))^r 2F1(r, b; a + b - 1; t / (alpha + t))]`` (FHL 2005, eq. 9); Pareto/NBD:
        ``r beta / (alpha (s - 1)) * [1 - (beta / (beta + t))^(s - 1)]``.

        Parameters
        ----------
        horizon
            A time or an array of times since the first purchase, in ``time_unit`` (>= 0).
        time_unit
            Unit of ``horizon``; default: the model's ``time_unit_``.
        covariates
            The new customer's covariate values, for a model with covariates (required there).

        Returns
        -------
        float or numpy.ndarray
            A float for a scalar ``horizon``, else an array of its shape.
        """
        self._check_fitted()
        factor = self._new_customer_factor(time_unit)
        grid = np.asarray(horizon, dtype=np.float64)
        if not (np.all(np.isfinite(grid)) and np.all(grid >= 0)):
            raise ConfigError(f"'horizon' must be finite and >= 0, got {horizon!r}")
        self._check_times("horizon", grid)
        flat = grid.ravel() * factor
        out = np.zeros(flat.size)
        positive = flat > 0
        if np.any(positive):
            customer = self._new_customer(covariates)
            ((_, params),) = self._split(self._full_params(), customer)
            zero = np.zeros(1)
            values = self._cumulative_if_alive(params, zero, zero, flat[positive])[0]
            alive0 = float(np.clip(self._p_alive(params, customer), 0.0, 1.0)[0])
            out[positive] = alive0 * np.maximum(values, 0.0)
        if grid.ndim == 0:
            return float(out[0])
        return out.reshape(grid.shape)

    def _new_customer_factor(self, time_unit: str | None) -> float:
        """Factor from ``time_unit`` (default the model's) to the model's unit."""
        self._check_fitted()
        if time_unit is None:
            return 1.0
        return days_per_unit(time_unit) / days_per_unit(self.time_unit_)

    def dert(
        self, summary: pd.DataFrame, discount_rate: float, *, time_unit: str | None = None
    ) -> pd.Series:
        """Discounted expected residual transactions: purchases to come, discounted, forever.

        ``DERT = E[int_T^inf exp(-delta (t - T)) dY(t) | x, t_x, T]`` with continuous
        discounting at ``delta`` per unit of time and an infinite horizon: multiplied by the
        expected spend per purchase it is the customer's residual lifetime value. Given alive,
        a customer buys at rate ``lambda`` while alive, so DERT = P(alive) * E[lambda
        int_0^inf exp(-delta u) S(u) du], S(u) the probability of being alive u after T:

        * Pareto/NBD: ``(r + x) / (alpha + T) * int exp(-delta u) ((beta + T) / (beta + T +
          u))^s du``, the closed form of Fader, Hardie and Lee (2005b, eq. 2) with Tricomi's
          ``U(s, s; delta (beta + T))``;
        * BG/NBD and MBG/NBD: dropout comes with purchases, ``S(u) = exp(-lambda p u)``, so
          ``DERT(alive) = E[lambda / (delta + lambda p)] = (r + x) / (alpha + T) * int_0^inf
          exp(-delta u) E_p[(1 + p u / (alpha + T))^-(r + x + 1)] du`` with ``p ~ Beta(a, b +
          x)`` (``b + x + 1`` for MBG/NBD), the inner expectation a Gauss hypergeometric
          function.

        The integral over u is a trapezoid rule in ``log u`` (its integrand is analytic in a
        strip, so the error is about 1e-17 relative).

        Parameters
        ----------
        summary
            RFM summary at the cut-off.
        discount_rate
            Continuously compounded discount rate per unit of the summary's time (> 0), as in
            BTYD and CLVTools: an annual rate of 15 % in weeks is ``log(1.15) / 52``, about
            0.0027 (Fader, Hardie and Lee 2005b).
        time_unit
            Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.

        Returns
        -------
        pandas.Series
            ``dert``, indexed like ``summary``; finite and > 0.

        References
        ----------
        Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005b), "RFM and CLV: Using Iso-Value
        Curves for Customer Base Analysis", Journal of Marketing Research 42(4), 415-430, eq. 2.
        """
        data, factor = self._read(summary, time_unit)
        delta = check_positive("discount_rate", discount_rate) / factor

        def compute(p: Params, d: RFMData) -> np.ndarray:
            first, inverse = d.groups("frequency", "T")
            per_pair = self._dert_if_alive(p, d.frequency[first], d.T[first], delta)
            return np.asarray(np.clip(self._p_alive(p, d), 0.0, 1.0) * per_pair[inverse])

        values = self._each(self._full_params(), data, compute)
        return pd.Series(values, index=data.index, name="dert")

    def _dert_if_alive(
        self, params: Params, x: np.ndarray, T: np.ndarray, delta: float
    ) -> np.ndarray:
        """DERT given alive at T, per (x, T): see :meth:`dert`."""
        out = np.empty(x.size)
        for start in range(0, x.size, _DERT_BLOCK):
            part = slice(start, start + _DERT_BLOCK)
            rate, scale, survival = self._dert_kernel(params, x[part], T[part])
            # The integrand exp(w - delta e^w) S(e^w) falls like e^w to the left, below 1e-17
            # of the integral (at least min(scale, 1/delta) / e), and like exp(-delta e^w)
            # to the right (e^-45 at delta e^w = 45).
            low = math.log(1e-17 * min(float(np.min(scale)), 1.0 / delta))
            high = math.log(45.0 / delta)
            w = np.arange(low, high + _DERT_STEP, _DERT_STEP)
            u = np.exp(w)
            grid = np.broadcast_to(u, (rate.size, u.size))
            terms = np.exp(w - delta * u)[None, :] * survival(grid)
            out[part] = rate * _DERT_STEP * terms.sum(axis=1)
        return out

    def _probability_alive(self, data: RFMData) -> np.ndarray:
        """:meth:`probability_alive` of validated data in the model's unit."""
        return self._each(
            self._full_params(), data, lambda p, d: np.clip(self._p_alive(p, d), 0.0, 1.0)
        )

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
        values = self._probability_no_purchase(data, self._horizon(horizon, factor))
        return pd.Series(values, index=data.index, name="p_no_purchase")

    def _probability_no_purchase(
        self, data: RFMData, horizon: float, alive: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`probability_no_purchase` of validated data and horizon in the model's unit.

        ``alive``: :meth:`_probability_alive` of ``data`` if the caller has it already.
        """
        groups = self._split(self._full_params(), data)
        if len(groups) > 1 or groups[0][0] is not None:
            return self._each(
                self._full_params(),
                data,
                lambda p, d: self._probability_no_purchase_at(p, d, horizon, None),
            )
        return self._probability_no_purchase_at(groups[0][1], data, horizon, alive)

    def _probability_no_purchase_at(
        self, params: Params, data: RFMData, horizon: float, alive: np.ndarray | None
    ) -> np.ndarray:
        first, inverse = data.groups("frequency", "T")
        quiet = self._no_purchase_if_alive(params, data.frequency[first], data.T[first], horizon)
        if alive is None:
            alive = np.clip(self._p_alive(params, data), 0.0, 1.0)
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
        self._check_times("times", grid)
        totals = np.zeros(grid.size)
        for rows, params in self._split(self._full_params(), data):
            part = data if rows is None else data.take(rows)
            first, inverse = part.groups("frequency", "T")
            alive_per_pair = np.bincount(
                inverse, weights=self._p_alive(params, part), minlength=first.size
            )
            for k, t in enumerate(grid):
                if t > 0:
                    per_pair = self._purchases_if_alive(
                        params,
                        part.frequency[first],
                        part.T[first],
                        np.array([t * factor]),
                        np.array([1.0]),
                    )
                    totals[k] += float(np.dot(alive_per_pair, per_pair))
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

        def compute(p: Params, d: RFMData) -> np.ndarray:
            first, inverse = d.groups("T")
            probs = self._count_distribution(p, d.T[first], int(max_frequency))
            return np.asarray(np.clip(probs, 0.0, 1.0)[inverse])

        probs = self._each(self._full_params(), data, compute)
        columns = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
        return pd.DataFrame(probs, index=data.index, columns=columns)


def _invert(hess: np.ndarray) -> np.ndarray | None:
    """Return the inverse of a positive definite Hessian (symmetrised), or None."""
    try:
        if not np.all(np.isfinite(hess)):
            raise np.linalg.LinAlgError("non-finite Hessian")
        np.linalg.cholesky(hess)
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return None
    return np.asarray((cov + cov.T) / 2.0)


def _check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ConfigError(f"'n' must be an integer >= 0, got {n!r}")
    return int(n)


def _new_customer() -> RFMData:
    """Return a customer at (x, t_x, T) = (0, 0, 0): new, just after the first purchase."""
    zero = np.zeros(1)
    return RFMData(frequency=zero, recency=zero, T=zero, time_unit="D", index=pd.RangeIndex(1))


def _purchase_problem(
    data: RFMData,
    model_name: str,
    weights: np.ndarray | None = None,
    compress: bool | None = None,
) -> FitProblem:
    """Check the data, then compress identical (frequency, recency, T) rows into weights.

    Rows with covariates compress on (frequency, recency, T, covariates). ``compress`` as in
    :func:`~churnmodel.models._base.compressed_problem` (None: when it pays).
    """
    if weights is not None:
        keep = weights > 0
        data = data.take(np.flatnonzero(keep))
        weights = weights[keep]
    n = len(data) if weights is None else round(float(weights.sum()))
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
    names = ("frequency", "recency", "T")
    groups = None
    if data.covariates is not None:
        columns = [data.frequency, data.recency, data.T]
        columns += [data.covariates[:, j] for j in range(data.covariates.shape[1])]
        groups = _distinct_rows(columns) if compress is not False else None
    return compressed_problem(data, names, weights, n, compress, groups)
