"""What the supervised estimators share: checks, thread caps, errors, staleness directions.

The parameter checks, the thread caps, the not-fitted error, and the direction in which each
feature moves as a customer grows stale (the monotone constraints of the gradient boosting).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from threadpoolctl import threadpool_limits

from churnmodel.exceptions import ConfigError, NotFittedError

__all__ = [
    "STAGE_STALENESS_ORDER",
    "STALENESS_DIRECTIONS",
    "EstimatorNotFittedError",
    "StageRanks",
    "check_int_param",
    "check_number_param",
    "monotonic_constraints",
    "staleness_direction",
    "thread_limit",
]

#: How each feature column moves when the scoring date moves later and the customer buys
#: nothing (+1 up, -1 down); columns not listed do not move, or not in one direction
#: (``docs/lapse-and-spend.md``, "Monotone in staleness").
STALENESS_DIRECTIONS: Mapping[str, int] = {
    "T": 1,  # first purchase to the scoring date
    "days_since_last": 1,
    "tenure_days": 1,
    "gap_ratio": 1,  # days_since_last / the customer's own mean gap
    "prob_p_alive": -1,
    "prob_p_no_purchase": 1,
    "prob_expected_purchases": -1,
    "prob_expected_spend": -1,
    "prob_clv": -1,
    # Read as its rank in STAGE_STALENESS_ORDER (StageRanks), not as a category.
    "lifecycle_stage": 1,
}
#: The life-cycle stages in the order a customer can pass through them as the scoring date
#: moves past the last purchase: ``active`` becomes ``loyal`` when the tenure reaches a year,
#: any stage that is not overdue becomes overdue (``lapsed_seasonal`` if the history shows a
#: season, else by how overdue), ``lapsed_seasonal`` becomes ``lapsed_short``, ``_long`` or
#: ``inactive`` once the silence outlasts a season, and those follow each other. No stage
#: comes back to an earlier one without a purchase.
STAGE_STALENESS_ORDER: tuple[str, ...] = (
    "new",
    "active",
    "loyal",
    "lapsed_seasonal",
    "lapsed_short",
    "lapsed_long",
    "inactive",
)
STAGE_COLUMN = "lifecycle_stage"
#: Trailing-window counts and spend (``purchases_90d``, ``spend_365d``, whatever the windows):
#: purchase days only leave a window that slides forward (purchase days never net below 0).
_TRAILING_WINDOW = re.compile(r"^(purchases|spend)_[0-9]+d$")


class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
    """A supervised model was used before ``fit``.

    Both :class:`churnmodel.exceptions.NotFittedError` and scikit-learn's ``NotFittedError``,
    so callers of either library can catch it.
    """


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``cpu_count`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


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


def staleness_direction(name: object) -> int:
    """Return how feature ``name`` moves as the customer grows stale: +1, -1 or 0.

    +1 / -1 for the columns of :data:`STALENESS_DIRECTIONS` and the trailing windows
    (``purchases_<w>d``, ``spend_<w>d``: -1); 0 for anything else: columns that do not move
    with the scoring date (``frequency``, ``recency``, spend history, gap statistics,
    ``season_concentration``, ``prob_spend_per_purchase``) and columns that move both ways
    (``spend_trend``, the season features, ``lifecycle_stage``).
    """
    if not isinstance(name, str):
        return 0
    if name in STALENESS_DIRECTIONS:
        return STALENESS_DIRECTIONS[name]
    return -1 if _TRAILING_WINDOW.match(name) else 0


def monotonic_constraints(
    names: Sequence[object] | None, categorical: Sequence[bool], *, sign: int
) -> list[int] | None:
    """Return gradient boosting's ``monotonic_cst`` making a prediction monotone in staleness.

    Parameters
    ----------
    names
        Feature names in matrix order (``None``: unnamed columns, no constraint).
    categorical
        Which columns are categorical (never constrained: scikit-learn does not allow it).
    sign
        +1: the prediction must not fall as the customer grows stale (P(lapse)); -1: it must
        not rise (spend).

    Returns
    -------
    list of int or None
        ``sign * staleness_direction(name)`` per column; ``None`` when nothing is constrained.
    """
    if names is None:
        return None
    cst = [
        0 if is_cat else sign * staleness_direction(name)
        for name, is_cat in zip(names, categorical, strict=True)
    ]
    return cst if any(cst) else None


class StageRanks:
    """The life-cycle stage column of an encoded matrix read as its staleness rank.

    Gradient boosting cannot constrain a categorical feature, and the stage changes as a
    customer grows stale: read as a category, a stage change could lower P(lapse) decades
    after the last purchase. Read as its rank in :data:`STAGE_STALENESS_ORDER` (a number), it
    can be constrained like the other features. Built from the encoder's categories of
    ``lifecycle_stage`` (codes in the encoder's order); :meth:`apply` maps codes to ranks
    (missing and unseen stages stay NaN).
    """

    def __init__(self, index: int, categories: Sequence[object]) -> None:
        self.index = int(index)
        self.ranks = np.array(
            [STAGE_STALENESS_ORDER.index(str(c)) for c in categories], dtype=np.float64
        )

    @classmethod
    def of(cls, encoder: object) -> StageRanks | None:
        """Return the ranks for an encoder with a ``lifecycle_stage`` column of known stages."""
        categories = getattr(encoder, "categories_", {}).get(STAGE_COLUMN)
        columns = list(getattr(encoder, "columns_", []))
        if categories is None or STAGE_COLUMN not in columns:
            return None
        if not all(str(c) in STAGE_STALENESS_ORDER for c in categories):
            return None
        return cls(columns.index(STAGE_COLUMN), categories)

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        """Return ``matrix`` with the stage codes replaced by ranks (a copy)."""
        out = np.array(matrix, dtype=np.float64, copy=True)
        codes = out[:, self.index]
        known = ~np.isnan(codes)
        ranks = np.full(codes.shape, np.nan)
        ranks[known] = self.ranks[codes[known].astype(np.intp)]
        out[:, self.index] = ranks
        return out

    def categorical(self, mask: np.ndarray) -> np.ndarray:
        """Return the categorical mask with the stage column numeric."""
        out = np.array(mask, dtype=bool, copy=True)
        out[self.index] = False
        return out
