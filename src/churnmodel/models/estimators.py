"""What the supervised estimators share: parameter checks, thread caps, the not-fitted error."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from threadpoolctl import threadpool_limits

from churnmodel.exceptions import ConfigError, NotFittedError

__all__ = ["EstimatorNotFittedError", "check_int_param", "check_number_param", "thread_limit"]


class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
    """A supervised model was used before ``fit``.

    Both :class:`churnmodel.exceptions.NotFittedError` and scikit-learn's ``NotFittedError``,
    so callers of either library can catch it.
    """


@contextlib.contextmanager
def thread_limit(n_threads: int | None) -> Iterator[None]:
    """Cap OpenMP and BLAS threads at ``n_threads`` for the block; None: no cap.

    On a machine shared with other jobs, OpenMP (gradient boosting) and BLAS (linear models)
    threads that spin while waiting for a busy core make fitting many times slower; one
    thread per model avoids that.
    """
    if n_threads is None:
        yield
        return
    with threadpool_limits(limits=int(n_threads)):
        yield


def check_int_param(name: str, value: object, minimum: int) -> None:
    """Raise ConfigError unless hyperparameter ``name`` is an integer >= ``minimum``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or int(value) < minimum:  # type: ignore[call-overload]
        raise ConfigError(f"{name!r} must be an integer >= {minimum}, got {value!r}")


def check_number_param(name: str, value: object, *, positive: bool) -> None:
    """Raise ConfigError unless hyperparameter ``name`` is a finite number > 0 (or >= 0)."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not ok or not math.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"{name!r} must be a number {bound}, got {value!r}")
