"""What every probabilistic model here shares: robust fitting, covariance and JSON persistence.

A model fits on the distinct rows of its data, each weighted by the number of customers sharing it
(lifetimes' ``weights``), so a million customers observed at day resolution cost a few hundred
thousand likelihood terms or fewer. Fitting tries strategies in order and keeps the first that
gives finite, positive parameters and a finite log-likelihood:

1. ``lifetimes``: the lifetimes fitter from data-driven starting values;
2. ``nelder-mead``: our own closed-form log-likelihood, Nelder-Mead on the log-parameters from a
   second starting point, polished by L-BFGS-B;
3. ``penalized``: the lifetimes fitter with a small L2 penalizer (``1e-3``; warns, because the
   result is no longer the maximum-likelihood estimate).

If none succeeds, :class:`~churnmodel.exceptions.ModelFitError` names the data property most likely
behind it and what to change. Whatever the optimiser, ``log_likelihood_`` is recomputed from the
closed form on the original (unscaled) data, so it is comparable with published values, and the
covariance of the log-parameters is the inverse of the numerical Hessian of that log-likelihood.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from churnmodel.exceptions import ConfigError, DataValidationError, ModelFitError, NotFittedError
from churnmodel.models._numerics import numerical_hessian
from churnmodel.models._summary import RFMData

__all__ = [
    "COMPRESSION_SHARE",
    "DegenerateFitWarning",
    "FitProblem",
    "ProbabilisticModel",
    "compressed_problem",
    "import_lifetimes",
    "load_model",
    "model_from_dict",
]

FORMAT = "churnmodel.models/1"
_FALLBACK_PENALIZER = 1e-3
# Standard normal quantile of the 95 % intervals in ``summary_``.
_Z95 = 1.959963984540054
# A shape parameter beyond these bounds has run off to the edge of the parameter space.
_SHAPE_BOUNDS = (1e-4, 1e4)


class DegenerateFitWarning(UserWarning):
    """A fit finished, but its parameters describe a degenerate population; the message says how."""


# Compress when the distinct rows are fewer than this share of the rows. Grouping costs about
# two likelihood evaluations, once; a fit evaluates the likelihood hundreds of times (optimiser,
# Hessian), so dropping even a few percent of the terms pays. When (almost) every row is
# distinct, the rows are fitted as given.
COMPRESSION_SHARE = 0.98


@dataclass(frozen=True)
class FitProblem:
    """The rows a fit evaluates and the number of customers each one stands for.

    Compressed: one row per distinct combination of the likelihood's inputs, weighted by the
    customers sharing it; uncompressed: the rows as given, with their weights (1 each by default).
    The weighted log-likelihood is the same sum either way, so both give the same estimate.
    """

    data: RFMData
    weights: np.ndarray
    n_customers: int
    compressed: bool = True


def compressed_problem(
    data: RFMData,
    names: tuple[str, ...],
    weights: np.ndarray | None,
    n_customers: int,
    compress: bool | None,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> FitProblem:
    """Return the fit problem on ``data``: one weighted row per distinct ``names`` when it pays.

    ``compress`` True or False forces the choice; None (the default of every ``fit``) compresses
    when the distinct rows are fewer than :data:`COMPRESSION_SHARE` of the rows. ``groups`` is the
    ``(first_row, inverse)`` of the distinct rows when the caller has it (covariates).
    """
    if compress is False:
        w = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=np.float64)
        return FitProblem(data=data, weights=w, n_customers=n_customers, compressed=False)
    first, inverse = data.groups(*names) if groups is None else groups
    if compress is None and first.size >= COMPRESSION_SHARE * len(data):
        return compressed_problem(data, names, weights, n_customers, False)
    counts = np.bincount(inverse, weights=weights, minlength=first.size)
    return FitProblem(data=data.take(first), weights=counts, n_customers=n_customers)


def import_lifetimes() -> Any:
    """Import lifetimes lazily (about 3 s) without letting it change the global warning filters.

    lifetimes calls ``warnings.simplefilter`` when imported (``catch_warnings`` undoes that) and
    sets a pandas option that pandas 3 deprecates; its import-time warnings are about lifetimes'
    own code, which we cannot change, so they are silenced for the duration of the import only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes

        return lifetimes


@contextlib.contextmanager
def _contained() -> Iterator[list[warnings.WarningMessage]]:
    """Run third-party fitting code quietly: no printing, no leaked warnings or filter changes.

    lifetimes prints the optimiser state before raising and resets warning filters inside its
    likelihood; the warnings recorded here feed the error message if every strategy fails.
    """
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(io.StringIO()),
        np.errstate(all="ignore"),
    ):
        warnings.simplefilter("always")
        yield caught


class ProbabilisticModel(BaseEstimator, ABC):
    """Base of the BG/NBD-family and Gamma-Gamma estimators (fitting, covariance, persistence).

    Subclasses define the parameter names, the closed-form log-likelihood of one data row, the
    call to the lifetimes fitter and the starting values.
    """

    _param_names: ClassVar[tuple[str, ...]]
    _scale_params: ClassVar[tuple[str, ...]] = ()
    _registry: ClassVar[dict[str, type[ProbabilisticModel]]] = {}

    penalizer: float
    initial_params: Mapping[str, float] | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_param_names" in cls.__dict__:
            ProbabilisticModel._registry[cls.__name__] = cls

    # ----------------------------------------------------------------- what subclasses provide
    @abstractmethod
    def _log_likelihood_rows(self, params: np.ndarray, data: RFMData) -> np.ndarray:
        """Log-likelihood of each data row at ``params`` (natural scale, ``_param_names`` order)."""

    @abstractmethod
    def _lifetimes_fit(
        self, problem: FitProblem, start: np.ndarray, penalizer: float
    ) -> np.ndarray:
        """Fit with the lifetimes fitter from ``start``; return the parameters (natural scale)."""

    @abstractmethod
    def _start(self, problem: FitProblem) -> np.ndarray:
        """Data-driven starting values (natural scale)."""

    @abstractmethod
    def _diagnose(self, problem: FitProblem) -> tuple[str, str]:
        """Return (data property most likely behind a failed fit, what to change)."""

    def _degeneracies(self, params: Mapping[str, float]) -> list[str]:
        """Messages for fitted parameters that describe a degenerate population."""
        out = []
        low, high = _SHAPE_BOUNDS
        for name, value in params.items():
            if name in self._scale_params:
                continue
            if not low < value < high:
                out.append(
                    f"{name} = {value:.4g} ran to the edge of the parameter space: the data "
                    "barely identify it; predictions may be extreme"
                )
        return out

    # ------------------------------------------------------------------------------- fitting
    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the model parameters, in the order used by ``covariance_``."""
        return self._param_names

    def _check_hyperparameters(self) -> None:
        penalizer = self.penalizer
        if not isinstance(penalizer, int | float) or not math.isfinite(penalizer) or penalizer < 0:
            raise ConfigError(f"'penalizer' must be a number >= 0, got {penalizer!r}")
        if self.initial_params is not None:
            given = dict(self.initial_params)
            if set(given) != set(self._param_names):
                raise ConfigError(
                    f"'initial_params' must have exactly the keys {list(self._param_names)}, "
                    f"got {sorted(given)}"
                )
            for key, value in given.items():
                if not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
                    raise ConfigError(f"'initial_params[{key!r}]' must be > 0, got {value!r}")

    def _total_log_likelihood(self, log_params: np.ndarray, problem: FitProblem) -> float:
        rows = self._log_likelihood_rows(np.exp(log_params), problem.data)
        return float(np.dot(problem.weights, rows))

    def _penalty_vector(self, params: np.ndarray, problem: FitProblem) -> np.ndarray:
        """Return the parameters as lifetimes penalizes them (scale parameters rescaled)."""
        return params

    def _own_fit(
        self,
        problem: FitProblem,
        start: np.ndarray,
        penalizer: float,
        bounds: list[tuple[float | None, float | None]] | None = None,
    ) -> np.ndarray:
        """Minimise our own closed-form negative log-likelihood on the log-parameters."""
        from scipy.optimize import minimize  # only needed on fallback; slow to import

        total = float(problem.weights.sum())

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            value = -self._total_log_likelihood(log_params, problem) / total
            if penalizer:
                value += penalizer * float(np.sum(self._penalty_vector(params, problem) ** 2))
            return value if math.isfinite(value) else 1e300

        x0 = np.log(start)
        if bounds is not None:
            lower = np.array([-np.inf if low is None else low for low, _ in bounds])
            x0 = np.maximum(x0, lower)
            result = minimize(objective, x0, method="L-BFGS-B", bounds=bounds)
            if not result.success:
                raise ModelFitError(f"L-BFGS-B did not converge: {result.message}")
            return np.asarray(np.exp(result.x))
        simplex = minimize(
            objective,
            x0,
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-11, "adaptive": True},
        )
        polish = minimize(objective, simplex.x, method="L-BFGS-B")
        best = polish if polish.fun <= simplex.fun else simplex
        if not (simplex.success or polish.success):
            raise ModelFitError(f"Nelder-Mead did not converge: {simplex.message}")
        return np.asarray(np.exp(best.x))

    def _alternative_start(self, problem: FitProblem, start: np.ndarray) -> np.ndarray:
        """Second starting point: every shape parameter 1, every scale parameter the mean age."""
        alt = np.ones_like(start)
        for i, name in enumerate(self._param_names):
            if name in self._scale_params:
                alt[i] = max(float(np.average(problem.data.T, weights=problem.weights)), 1e-3)
        return alt

    def _strategies(
        self, problem: FitProblem, start: np.ndarray
    ) -> list[tuple[str, Callable[[], np.ndarray]]]:
        alt = self._alternative_start(problem, start)
        fallback = max(self.penalizer, _FALLBACK_PENALIZER)
        return [
            ("lifetimes", lambda: self._lifetimes_fit(problem, start, self.penalizer)),
            ("nelder-mead", lambda: self._own_fit(problem, alt, self.penalizer)),
            ("penalized", lambda: self._lifetimes_fit(problem, start, fallback)),
        ]

    def _run_strategies(
        self, problem: FitProblem, strategies: list[tuple[str, Callable[[], np.ndarray]]]
    ) -> tuple[str, np.ndarray]:
        attempts: list[str] = []
        for name, run in strategies:
            try:
                with _contained() as caught:
                    params = np.asarray(run(), dtype=np.float64)
                    log_lik = self._total_log_likelihood(np.log(params), problem)
            except Exception as exc:  # any failure of an optimiser means: try the next one
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                attempts.append(f"{name}: {type(exc).__name__} {first}".strip())
                continue
            if not (np.all(np.isfinite(params)) and np.all(params > 0) and math.isfinite(log_lik)):
                pairs = zip(self._param_names, params, strict=True)
                shown = ", ".join(f"{n}={v:.3g}" for n, v in pairs)
                note = f" ({len(caught)} numerical warnings)" if caught else ""
                attempts.append(f"{name}: non-finite result {shown}{note}")
                continue
            if name == "penalized":
                warnings.warn(
                    f"{type(self).__name__}: the unpenalized fit did not converge; the parameters "
                    f"come from a fit with penalizer={max(self.penalizer, _FALLBACK_PENALIZER)} "
                    "and are shrunk towards 0",
                    DegenerateFitWarning,
                    stacklevel=4,
                )
            return name, params
        cause, fix = self._diagnose(problem)
        raise ModelFitError(
            f"{type(self).__name__} could not be fitted on {problem.n_customers} customers: "
            f"{cause}. What to change: {fix}. Attempts: {'; '.join(attempts)}",
            details={"attempts": attempts, "cause": cause, "fix": fix},
        )

    def _fit_problem(self, problem: FitProblem) -> None:
        """Fit on ``problem`` and set the fitted attributes (no reference to the data is kept)."""
        if self.initial_params is not None:
            start = np.array([float(self.initial_params[k]) for k in self._param_names])
        else:
            start = self._start(problem)
        name, params = self._run_strategies(problem, self._strategies(problem, start))
        params, name = self._after_fit(problem, params, name)
        self._set_fitted(problem, params, name)

    def _after_fit(
        self, problem: FitProblem, params: np.ndarray, strategy: str
    ) -> tuple[np.ndarray, str]:
        """Return the parameters to keep; a hook for a constrained refit (Gamma-Gamma)."""
        return params, strategy

    def _set_fitted(self, problem: FitProblem, params: np.ndarray, strategy: str) -> None:
        log_params = np.log(params)
        self.params_: dict[str, float] = {
            n: float(v) for n, v in zip(self._param_names, params, strict=True)
        }
        self.log_likelihood_: float = self._total_log_likelihood(log_params, problem)
        self.n_customers_: int = int(problem.n_customers)
        self.fit_strategy_: str = strategy
        self.covariance_: np.ndarray | None = self._covariance(log_params, problem)
        for message in self._degeneracies(self.params_):
            warnings.warn(f"{type(self).__name__}: {message}", DegenerateFitWarning, stacklevel=4)

    def _covariance(self, log_params: np.ndarray, problem: FitProblem) -> np.ndarray | None:
        """Asymptotic covariance of the log-parameters: inverse Hessian of -log-likelihood."""
        with np.errstate(all="ignore"):
            hess = numerical_hessian(
                lambda v: -self._total_log_likelihood(v, problem), log_params, step=1e-4
            )
        try:
            if not np.all(np.isfinite(hess)):
                raise np.linalg.LinAlgError("non-finite Hessian")
            np.linalg.cholesky(hess)
            cov = np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            warnings.warn(
                f"{type(self).__name__}: the log-likelihood is flat in some direction at the "
                "optimum (Hessian not positive definite); parameter covariance and CLV intervals "
                "are unavailable. More customers or a longer calibration period help",
                DegenerateFitWarning,
                stacklevel=5,
            )
            return None
        return np.asarray((cov + cov.T) / 2.0)

    # ------------------------------------------------------------------------ fitted access
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            name = type(self).__name__
            raise NotFittedError(
                f"this {name} is not fitted yet: call fit(summary) first, "
                f"or rebuild a saved one with {name}.load(path)"
            )

    def _param_array(self) -> np.ndarray:
        return np.array([self.params_[k] for k in self._param_names])

    def _estimates(self) -> tuple[tuple[str, ...], np.ndarray, int]:
        """Return (names, values, how many lead on a log scale) of what ``covariance_`` covers."""
        return self._param_names, self._param_array(), len(self._param_names)

    @property
    def summary_(self) -> pd.DataFrame:
        """Parameters with standard errors and 95 % confidence intervals.

        The covariance is that of the log-parameters (``covariance_``), so the standard error
        of a parameter is the delta method's ``theta * se(log theta)`` and the interval is
        ``theta * exp(+-1.96 se(log theta))``: always positive, and asymmetric like the
        likelihood of a scale or shape parameter. Covariate coefficients (purchase models with
        covariates) follow, with ``estimate +- 1.96 se``. NaN where the fit has no covariance
        (a singular Hessian, or a model built by :meth:`from_params` without one).

        Returns
        -------
        pandas.DataFrame
            Index ``param_names``; columns ``estimate``, ``std_error``, ``ci_low``,
            ``ci_high``; ``attrs["level"] = 0.95``.
        """
        self._check_fitted()
        names, estimate, n_log = self._estimates()
        if self.covariance_ is None:
            se = np.full(estimate.size, np.nan)
        else:
            se = np.sqrt(np.maximum(np.diag(self.covariance_), 0.0))
        # Parameters: log-normal (delta method); covariate coefficients: normal.
        log = np.arange(estimate.size) < n_log
        table = pd.DataFrame(
            {
                "estimate": estimate,
                "std_error": np.where(log, estimate * se, se),
                "ci_low": np.where(log, estimate * np.exp(-_Z95 * se), estimate - _Z95 * se),
                "ci_high": np.where(log, estimate * np.exp(_Z95 * se), estimate + _Z95 * se),
            },
            index=pd.Index(list(names), name="parameter"),
        )
        table.attrs["level"] = 0.95
        return table

    @classmethod
    def _from_params_state(
        cls,
        params: Mapping[str, float],
        covariance: Any = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Return the :meth:`to_dict` state of a model with given parameters (no fit behind it)."""
        given = dict(params)
        if set(given) != set(cls._param_names):
            raise ConfigError(
                f"'params' must have exactly the keys {list(cls._param_names)}, got {sorted(given)}"
            )
        for key, value in given.items():
            if not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
                raise ConfigError(f"'params[{key!r}]' must be a number > 0, got {value!r}")
        return {
            "format": FORMAT,
            "model": cls.__name__,
            "hyperparameters": {},
            "param_names": list(cls._param_names),
            "params": {k: float(given[k]) for k in cls._param_names},
            "covariance": None if covariance is None else np.asarray(covariance).tolist(),
            "log_likelihood": None,
            "n_customers": 0,
            "fit_strategy": "given",
            **extra,
        }

    def sample_params(
        self, n_draws: int, seed: int | np.random.Generator | None = None
    ) -> np.ndarray:
        """Draw parameter vectors from the asymptotic normal of the log-parameters.

        Parameters
        ----------
        n_draws
            Number of draws.
        seed
            Seed or generator, for reproducible draws.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_draws, len(param_names))``, every entry positive.

        Raises
        ------
        ModelFitError
            If the fit has no covariance (its Hessian was not positive definite).
        """
        self._check_fitted()
        if self.covariance_ is None:
            raise ModelFitError(
                f"{type(self).__name__} has no parameter covariance (the Hessian at the optimum "
                "was not positive definite), so parameter uncertainty cannot be sampled; refit "
                "on more customers or a longer calibration period"
            )
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(
            np.log(self._param_array()), self.covariance_, size=n_draws, method="cholesky"
        )
        return np.asarray(np.exp(draws))

    # --------------------------------------------------------------------------- persistence
    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as plain JSON-ready data (no training data, no pickle).

        Holds the class name, the hyperparameters, the parameters, the covariance of the
        log-parameters, the log-likelihood and the time unit; :meth:`from_dict` rebuilds it.
        """
        self._check_fitted()
        cov = self.covariance_
        return {
            "format": FORMAT,
            "model": type(self).__name__,
            "hyperparameters": _jsonable(self.get_params(deep=False)),
            "param_names": list(self._param_names),
            "params": dict(self.params_),
            "covariance": None if cov is None else np.asarray(cov).tolist(),
            # NaN (a model built from known parameters) is written as null: JSON has no NaN.
            "log_likelihood": self.log_likelihood_ if math.isfinite(self.log_likelihood_) else None,
            "n_customers": self.n_customers_,
            "fit_strategy": self.fit_strategy_,
            **self._extra_state(),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_dict` output.

        Raises
        ------
        DataValidationError
            If ``state`` is not a saved model of this class or misses a field.
        """
        model = model_from_dict(state)
        if not isinstance(model, cls):
            raise DataValidationError(
                f"the saved model is a {type(model).__name__}, not a {cls.__name__}",
                hint=f"load it with {type(model).__name__}.from_dict or "
                "churnmodel.models.load_model",
            )
        return model

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON to ``path``."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by :meth:`save`."""
        return cls.from_dict(_read_json(path))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_json(path: str | Path) -> dict[str, Any]:
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataValidationError(
            f"{str(path)!r} is not a saved churnmodel model (invalid JSON: {exc})",
            hint="pass a file written by model.save(path)",
        ) from None
    if not isinstance(state, dict):
        raise DataValidationError(f"{str(path)!r} is not a saved churnmodel model")
    return state


def model_from_dict(state: Mapping[str, Any]) -> ProbabilisticModel:
    """Rebuild any fitted model of this package from :meth:`ProbabilisticModel.to_dict` output.

    Raises
    ------
    DataValidationError
        If the format, the model name, a parameter or the covariance is missing or wrong.
    """
    hint = "pass the output of model.to_dict(), or a file written by model.save(path)"
    if state.get("format") != FORMAT:
        raise DataValidationError(
            f"unknown saved-model format {state.get('format')!r} (expected {FORMAT!r})", hint=hint
        )
    name = state.get("model")
    target = ProbabilisticModel._registry.get(str(name))
    if target is None:
        known = sorted(ProbabilisticModel._registry)
        raise DataValidationError(f"unknown model {name!r}; known: {known}", hint=hint)
    try:
        # JSON has no tuples: lists (the covariate names) come back as the tuples they were.
        hyperparameters = {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in dict(state.get("hyperparameters", {})).items()
        }
        model = target(**hyperparameters)
        params = {k: float(state["params"][k]) for k in target._param_names}
        saved = state["log_likelihood"]
        log_likelihood = math.nan if saved is None else float(saved)
        n_customers = int(state["n_customers"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataValidationError(f"the saved {name} is incomplete: {exc!r}", hint=hint) from None
    bad = {k: v for k, v in params.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise DataValidationError(f"the saved {name} has invalid parameters {bad}", hint=hint)
    cov = state.get("covariance")
    covariance = None
    if cov is not None:
        covariance = np.asarray(cov, dtype=np.float64)
        k = len(model.param_names)
        if covariance.shape != (k, k) or not np.all(np.isfinite(covariance)):
            raise DataValidationError(
                f"the saved {name} has a covariance of shape {covariance.shape}, expected {(k, k)}",
                hint=hint,
            )
    model.params_ = params
    model.log_likelihood_ = log_likelihood
    model.n_customers_ = n_customers
    model.fit_strategy_ = str(state.get("fit_strategy", "loaded"))
    model.covariance_ = covariance
    model._load_extra_state(state)
    return model


def load_model(path: str | Path) -> ProbabilisticModel:
    """Read any model written by ``save``; the file says which class it is."""
    return model_from_dict(_read_json(path))
