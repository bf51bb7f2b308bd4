"""Holdout metrics for lapse scores and spend predictions, with bootstrap intervals.

Two tasks are scored on a time holdout:

* **lapse**: ``y = 1`` when a customer made no purchase in the next ``H`` days; a *score* is a
  probability or any risk score where higher means more likely to lapse (for example days since
  the last purchase).
* **spend**: each customer's actual spend in the holdout (``>= 0``) against a predicted spend
  (``>= 0``).

Inputs are aligned by index (``customer_id``) when they are pandas Series: the same customers in
any order are fine; customers missing on one side, repeated ids, NaN or infinite values raise
:class:`~churnmodel.exceptions.DataValidationError` with the count and the offending ids.
Nothing is dropped silently. Plain arrays are paired by position and must have equal length.

Ties
----
Metrics that take "the top 10 % by score" or cut customers into deciles do not depend on the
order of the input rows. Customers with equal scores form a tie group; when a cut falls inside a
group, the group contributes to each side in proportion to the share of its positions on that
side, as if it were spread evenly. This equals the expected value of the metric over all random
orderings of the tied customers. Cuts are taken at exact fractions of the customer count, so the
top 10 % of 25 customers holds 2.5 customers' worth of outcome. Rank metrics (ROC AUC,
Spearman) give tied values their average rank, as scikit-learn and SciPy do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn import metrics as skm

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.schemas import CUSTOMER_ID

__all__ = [
    "RevenueTotals",
    "brier_score",
    "calibration_table",
    "cumulative_gains",
    "decile_mape",
    "decile_table",
    "log_loss",
    "normalized_gini",
    "pr_auc",
    "revenue_totals",
    "roc_auc",
    "roc_auc_interval",
    "spearman",
    "spearman_interval",
    "top_decile_capture",
    "top_decile_lift",
    "value_risk_matrix",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Values = pd.Series | npt.ArrayLike

_SAMPLE = 5
# Bootstrap replicates are computed in blocks of at most this many cells (replicates x customers)
# so that memory stays bounded (about 16 MB per float array) whatever the number of customers.
_BLOCK_CELLS = 2_000_000
#: Above this many customers a bootstrap interval resamples a random subset of this size and
#: rescales its spread to the full count (`_bootstrap_intervals`): its cost stops growing with
#: the data, and at these sizes the interval is a few thousandths wide.
BOOTSTRAP_MAX_CUSTOMERS = 100_000


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------


def _sample(ids: Sequence[object] | pd.Index) -> str:
    head = [repr(i) for i in list(ids[:_SAMPLE])]
    more = ", ..." if len(ids) > _SAMPLE else ""
    return ", ".join(head) + more


def _failing_rows(ids: Sequence[object] | pd.Index, problem: str) -> pd.DataFrame:
    return pd.DataFrame({CUSTOMER_ID: list(ids), "problem": problem})


def _check_unique(values: pd.Series, what: str) -> None:
    dup = values.index[values.index.duplicated(keep="first")].unique()
    if len(dup) > 0:
        raise DataValidationError(
            f"{what}: {len(dup)} customer id(s) appear more than once (e.g. {_sample(dup)})",
            column=CUSTOMER_ID,
            rows=_failing_rows(dup, "duplicate customer id"),
            hint="pass one row per customer",
        )


def _to_float(values: Values, what: str) -> FloatArray:
    try:
        if isinstance(values, pd.Series):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            f"{what} must be numeric: {exc}", hint="convert the column to numbers first"
        ) from exc


def _check_finite(values: FloatArray, ids: pd.Index, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        bad_ids = ids[bad]
        raise DataValidationError(
            f"{what} has {int(bad.sum())} missing or non-finite value(s) "
            f"(customers {_sample(bad_ids)})",
            column=CUSTOMER_ID,
            rows=_failing_rows(bad_ids, f"missing or non-finite {what}"),
            hint="score, fill or remove these customers explicitly before evaluating; "
            "the evaluation never drops customers silently",
        )


def _aligned(
    reference: Values, other: Values, ref_what: str, other_what: str
) -> tuple[FloatArray, FloatArray, pd.Index]:
    """Return both inputs as float arrays in the reference's order, plus the customer ids.

    Series are matched on their index; arrays by position.
    """
    ids: pd.Index | None = None
    if isinstance(reference, pd.Series) and isinstance(other, pd.Series):
        _check_unique(reference, ref_what)
        _check_unique(other, other_what)
        if not reference.index.equals(other.index):
            missing = reference.index.difference(other.index, sort=False)
            extra = other.index.difference(reference.index, sort=False)
            if len(missing) or len(extra):
                parts = []
                if len(missing):
                    parts.append(
                        f"{len(missing)} customer(s) in {ref_what} have no {other_what} "
                        f"(e.g. {_sample(missing)})"
                    )
                if len(extra):
                    parts.append(
                        f"{len(extra)} customer(s) in {other_what} are not in {ref_what} "
                        f"(e.g. {_sample(extra)})"
                    )
                rows = pd.concat(
                    [
                        _failing_rows(missing, f"missing from {other_what}"),
                        _failing_rows(extra, f"missing from {ref_what}"),
                    ],
                    ignore_index=True,
                )
                raise DataValidationError(
                    f"{ref_what} and {other_what} cover different customers: " + "; ".join(parts),
                    column=CUSTOMER_ID,
                    rows=rows,
                    hint="evaluate on exactly the same customers (index = customer_id); "
                    "nothing is dropped or filled automatically",
                )
            other = other.reindex(reference.index)
        ids = reference.index
    elif isinstance(reference, pd.Series):
        ids = reference.index
    a = _to_float(reference, ref_what)
    b = _to_float(other, other_what)
    if a.shape != b.shape:
        raise DataValidationError(
            f"{ref_what} has {a.size} values but {other_what} has {b.size}",
            hint="pass pandas Series indexed by customer_id, or arrays of equal length",
        )
    if ids is None:
        ids = other.index if isinstance(other, pd.Series) else pd.RangeIndex(a.size)
    _check_finite(a, ids, ref_what)
    _check_finite(b, ids, other_what)
    if a.size == 0:
        raise DataValidationError(f"{ref_what} is empty: no customers to evaluate")
    return a, b, ids


def _check_binary(y: FloatArray, ids: pd.Index, what: str) -> None:
    bad = (y != 0.0) & (y != 1.0)
    if bad.any():
        raise DataValidationError(
            f"{what} must be 0/1 (1 = lapsed), but {int(bad.sum())} value(s) are not "
            f"(customers {_sample(ids[bad])})",
            column=CUSTOMER_ID,
            rows=_failing_rows(ids[bad], f"{what} not 0/1"),
        )


def _check_nonnegative(x: FloatArray, ids: pd.Index, what: str) -> None:
    bad = x < 0
    if bad.any():
        raise DataValidationError(
            f"{what} must be >= 0, but {int(bad.sum())} value(s) are negative "
            f"(customers {_sample(ids[bad])})",
            column=CUSTOMER_ID,
            rows=_failing_rows(ids[bad], f"negative {what}"),
            hint="net returns can make holdout spend negative; floor spend at 0 when "
            "building the holdout",
        )


def _lapse_inputs(y_true: Values, score: Values) -> tuple[FloatArray, FloatArray, pd.Index]:
    y, s, ids = _aligned(y_true, score, "lapse label", "lapse score")
    _check_binary(y, ids, "lapse label")
    return y, s, ids


def _spend_inputs(actual: Values, predicted: Values) -> tuple[FloatArray, FloatArray, pd.Index]:
    a, p, ids = _aligned(actual, predicted, "actual spend", "predicted spend")
    _check_nonnegative(a, ids, "actual spend")
    _check_nonnegative(p, ids, "predicted spend")
    return a, p, ids


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"'fraction' must be in (0, 1], got {fraction!r}")


def _check_bins(n_bins: int, name: str = "n_bins") -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ConfigError(f"'{name}' must be a positive integer, got {n_bins!r}")


def _is_probability(p: FloatArray) -> bool:
    return bool(np.all((p >= 0.0) & (p <= 1.0)))


def _single_class(y: FloatArray) -> bool:
    return bool(y.min() == y.max())


# ---------------------------------------------------------------------------------------------
# Tie-aware "top of the ranking" arithmetic
# ---------------------------------------------------------------------------------------------


class _TopDown:
    """Customers ordered by descending score, with ties grouped.

    ``cumulative(values)`` gives the knots of the piecewise-linear function ``F(k)``: the total
    of ``values`` over the ``k`` highest-scored customers, ``k`` real in ``[0, n]``, where a tie
    group contributes in proportion to the share of its positions below ``k``.
    """

    def __init__(self, score: FloatArray) -> None:
        self.order = np.argsort(-score, kind="stable")
        ranked = score[self.order]
        ends = np.flatnonzero(np.diff(ranked) != 0) + 1
        self.ends = np.append(ends, ranked.size)
        self.n = ranked.size
        self.positions = np.concatenate(([0.0], self.ends.astype(np.float64)))

    def cumulative(self, values: FloatArray) -> FloatArray:
        cum = np.cumsum(values[self.order])[self.ends - 1]
        return np.concatenate(([0.0], cum))

    def total_in_top(self, values: FloatArray, k: FloatArray | float) -> FloatArray:
        return np.asarray(np.interp(k, self.positions, self.cumulative(values)), np.float64)


# ---------------------------------------------------------------------------------------------
# Lapse
# ---------------------------------------------------------------------------------------------


def roc_auc(y_true: Values, score: Values) -> float:
    """Area under the ROC curve of a lapse score.

    Parameters
    ----------
    y_true
        1 if the customer lapsed (no purchase in the holdout), else 0.
    score
        Any risk score, higher = more likely to lapse. Ties count one half.

    Returns
    -------
    float
        The probability that a random lapser scores higher than a random non-lapser
        (:func:`sklearn.metrics.roc_auc_score`); NaN when the label has a single class.

    References
    ----------
    .. [1] Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a
       receiver operating characteristic (ROC) curve. *Radiology* 143(1), 29-36.
    .. [2] Fawcett, T. (2006). An introduction to ROC analysis. *Pattern Recognition Letters*
       27(8), 861-874.
    """
    y, s, _ = _lapse_inputs(y_true, score)
    if _single_class(y):
        return math.nan
    return float(skm.roc_auc_score(y, s))


def pr_auc(y_true: Values, score: Values) -> float:
    """Area under the precision-recall curve, as average precision.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the score thresholds, with tied scores forming one
    threshold (:func:`sklearn.metrics.average_precision_score`, no interpolation). A random score
    reaches the lapse rate, not 0.5.

    Returns
    -------
    float
        Average precision, or NaN when the label has a single class.

    References
    ----------
    .. [1] Davis, J. and Goadrich, M. (2006). The relationship between precision-recall and ROC
       curves. *ICML 2006*, 233-240.
    """
    y, s, _ = _lapse_inputs(y_true, score)
    if _single_class(y):
        return math.nan
    return float(skm.average_precision_score(y, s))


def brier_score(y_true: Values, prob: Values) -> float:
    """Mean squared difference between a predicted lapse probability and the 0/1 outcome.

    Returns
    -------
    float
        ``mean((p - y) ** 2)``; lower is better. NaN when ``prob`` has values outside
        ``[0, 1]``: a score that is not a probability (days since last purchase, say) has no
        Brier score, and none is invented for it.

    References
    ----------
    .. [1] Brier, G. W. (1950). Verification of forecasts expressed in terms of probability.
       *Monthly Weather Review* 78(1), 1-3.
    """
    y, p, _ = _lapse_inputs(y_true, prob)
    if not _is_probability(p):
        return math.nan
    return float(np.mean((p - y) ** 2))


def log_loss(y_true: Values, prob: Values) -> float:
    """Mean negative log-likelihood of the 0/1 outcome under a predicted lapse probability.

    Probabilities are clipped to ``[eps, 1 - eps]`` with ``eps`` the float64 machine epsilon, as
    :func:`sklearn.metrics.log_loss` does, so a confident wrong 0 or 1 costs about 36 nats
    instead of infinity.

    Returns
    -------
    float
        ``-mean(y log p + (1 - y) log(1 - p))``; NaN when ``prob`` has values outside ``[0, 1]``.
    """
    y, p, _ = _lapse_inputs(y_true, prob)
    if not _is_probability(p):
        return math.nan
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def top_decile_lift(y_true: Values, score: Values, *, fraction: float = 0.1) -> float:
    """Lapse rate among the highest-scored ``fraction`` of customers over the overall rate.

    Parameters
    ----------
    y_true
        1 if the customer lapsed.
    score
        Risk score, higher = more likely to lapse.
    fraction
        Share of customers targeted, 0.1 for the top decile. The cut is at exactly
        ``fraction * n`` customers; a tie group straddling the cut counts pro rata (module
        docstring), so the result does not depend on row order.

    Returns
    -------
    float
        1 for a random score, ``1 / rate`` at most; NaN if nobody lapsed.

    References
    ----------
    .. [1] Ling, C. X. and Li, C. (1998). Data mining for direct marketing: problems and
       solutions. *KDD-98*, 73-79.
    """
    _check_fraction(fraction)
    y, s, _ = _lapse_inputs(y_true, score)
    rate = y.mean()
    if rate == 0:
        return math.nan
    k = fraction * y.size
    top_rate = float(_TopDown(s).total_in_top(y, k)) / k
    return top_rate / float(rate)


def calibration_table(
    y_true: Values,
    prob: Values,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> pd.DataFrame:
    """Observed lapse rate against mean predicted probability in bins of the prediction.

    Parameters
    ----------
    y_true
        1 if the customer lapsed.
    prob
        Predicted lapse probability in ``[0, 1]``.
    n_bins
        Number of bins.
    strategy
        ``"uniform"``: equal-width bins on ``[0, 1]``; ``"quantile"``: bins with about equal
        counts. Bins are closed on the right (``(lower, upper]``), the first also holds its lower
        edge, as in :func:`sklearn.calibration.calibration_curve`.

    Returns
    -------
    pandas.DataFrame
        One row per bin, empty bins included: ``bin`` (1..n_bins), ``lower``, ``upper``,
        ``mean_predicted``, ``observed_rate`` (NaN in an empty bin) and ``count``. The non-empty
        rows equal scikit-learn's ``calibration_curve``.

    Raises
    ------
    DataValidationError
        If ``prob`` is not a probability: a calibration curve of a raw risk score means nothing.

    References
    ----------
    .. [1] Niculescu-Mizil, A. and Caruana, R. (2005). Predicting good probabilities with
       supervised learning. *ICML 2005*, 625-632.
    """
    _check_bins(n_bins)
    if strategy not in ("uniform", "quantile"):
        raise ConfigError(f"'strategy' must be 'uniform' or 'quantile', got {strategy!r}")
    y, p, _ = _lapse_inputs(y_true, prob)
    if not _is_probability(p):
        raise DataValidationError(
            f"a calibration table needs probabilities in [0, 1]; the scores range over "
            f"[{p.min():g}, {p.max():g}]",
            hint="calibration applies to probability scores only",
        )
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_ids = np.searchsorted(edges[1:-1], p)
    count = np.bincount(bin_ids, minlength=n_bins)
    sum_p = np.bincount(bin_ids, weights=p, minlength=n_bins)
    sum_y = np.bincount(bin_ids, weights=y, minlength=n_bins)
    nonempty = count > 0
    mean_p = np.full(n_bins, np.nan)
    rate = np.full(n_bins, np.nan)
    mean_p[nonempty] = sum_p[nonempty] / count[nonempty]
    rate[nonempty] = sum_y[nonempty] / count[nonempty]
    return pd.DataFrame(
        {
            "bin": np.arange(1, n_bins + 1),
            "lower": edges[:-1],
            "upper": edges[1:],
            "mean_predicted": mean_p,
            "observed_rate": rate,
            "count": count.astype(np.int64),
        }
    )


def cumulative_gains(target: Values, score: Values) -> pd.DataFrame:
    """Cumulative gains and lift: share of the target captured by targeting the top scores.

    Parameters
    ----------
    target
        Non-negative outcome per customer: the 0/1 lapse label (gains = share of lapsers
        reached) or holdout spend (gains = share of revenue reached).
    score
        Ranking score, higher = targeted first.

    Returns
    -------
    pandas.DataFrame
        ``fraction_targeted`` in ``[0, 1]``, ``fraction_captured`` in ``[0, 1]`` and ``lift``
        (captured / targeted; NaN at 0), one row at the origin and one at the end of each tie
        group. The curve is linear within a tie group (module docstring), so these knots
        describe it exactly. A random score follows the diagonal.

    References
    ----------
    .. [1] Ling, C. X. and Li, C. (1998). Data mining for direct marketing: problems and
       solutions. *KDD-98*, 73-79.
    """
    t, s, ids = _aligned(target, score, "target", "score")
    _check_nonnegative(t, ids, "target")
    total = t.sum()
    if total == 0:
        raise DataValidationError("the target sums to 0: there is nothing to capture")
    top = _TopDown(s)
    x = top.positions / top.n
    captured = top.cumulative(t) / total
    lift = np.full_like(x, np.nan)
    lift[1:] = captured[1:] / x[1:]
    return pd.DataFrame({"fraction_targeted": x, "fraction_captured": captured, "lift": lift})


# ---------------------------------------------------------------------------------------------
# Spend
# ---------------------------------------------------------------------------------------------


class _Ties:
    """One sort of ``values``, reused by every block of bootstrap resamples.

    ``order`` sorts the values, ``starts`` are the first sorted positions of each run of equal
    values and ``group[i]`` is the run of customer ``i``. Sorting once per interval (rather
    than once per block of resamples) keeps an interval linear in the number of customers:
    at 1M customers a block holds 2 resamples, so a per-block sort meant 100 sorts.
    """

    def __init__(self, values: FloatArray) -> None:
        self.order = np.argsort(values, kind="stable")
        ranked = values[self.order]
        change = np.flatnonzero(np.diff(ranked) != 0) + 1
        self.starts = np.concatenate(([0], change))
        group_sorted = np.zeros(values.size, dtype=np.intp)
        group_sorted[change] = 1
        group_sorted = np.cumsum(group_sorted)
        self.group = np.empty_like(group_sorted)
        self.group[self.order] = group_sorted

    def midranks(self, weights: FloatArray) -> FloatArray:
        """Average ranks of the values in each weighted resample (rows of ``weights``).

        ``weights[r, i]`` is how many times customer ``i`` is drawn in resample ``r``; the
        result is the rank each copy of customer ``i`` gets there, ties sharing their average.
        """
        w_group = np.add.reduceat(weights[:, self.order], self.starts, axis=1)
        mid = np.cumsum(w_group, axis=1) - w_group + (w_group + 1.0) / 2.0
        return np.asarray(mid[:, self.group])


def _spearman_replicator(a: FloatArray, b: FloatArray) -> Callable[[FloatArray], FloatArray]:
    """Spearman's rho of each weighted resample, both sorts done once."""
    ties_a, ties_b = _Ties(a), _Ties(b)
    centre = (a.size + 1.0) / 2.0  # weighted mean of the ranks: resamples hold n customers

    def replicates(weights: FloatArray) -> FloatArray:
        da = ties_a.midranks(weights) - centre
        db = ties_b.midranks(weights) - centre
        cov = np.sum(weights * da * db, axis=1)
        var = np.sum(weights * da * da, axis=1) * np.sum(weights * db * db, axis=1)
        out = np.full(weights.shape[0], np.nan)
        ok = var > 0
        out[ok] = cov[ok] / np.sqrt(var[ok])
        return out

    return replicates


def _spearman_replicates(a: FloatArray, b: FloatArray, weights: FloatArray) -> FloatArray:
    return _spearman_replicator(a, b)(weights)


def _roc_auc_replicator(y: FloatArray, score: FloatArray) -> Callable[[FloatArray], FloatArray]:
    """Mann-Whitney ROC AUC of each weighted resample (ties count one half), one sort."""
    ties = _Ties(score)
    positive = y[ties.order]

    def replicates(weights: FloatArray) -> FloatArray:
        w = weights[:, ties.order]
        pos = np.add.reduceat(w * positive, ties.starts, axis=1)
        neg = np.add.reduceat(w * (1.0 - positive), ties.starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        num = np.sum(pos * (below + 0.5 * neg), axis=1)
        den = pos.sum(axis=1) * neg.sum(axis=1)
        out = np.full(weights.shape[0], np.nan)
        ok = den > 0
        out[ok] = num[ok] / den[ok]
        return out

    return replicates


def _roc_auc_replicates(y: FloatArray, score: FloatArray, weights: FloatArray) -> FloatArray:
    return _roc_auc_replicator(y, score)(weights)


def spearman(actual: Values, predicted: Values) -> float:
    """Spearman rank correlation between actual and predicted spend.

    Ties get their average rank (as :func:`scipy.stats.spearmanr`). Many customers spend 0 in
    a holdout; they form one large tie group.

    Returns
    -------
    float
        Pearson correlation of the ranks; NaN when either side is constant.

    References
    ----------
    .. [1] Spearman, C. (1904). The proof and measurement of association between two things.
       *American Journal of Psychology* 15(1), 72-101.
    """
    a, p, _ = _spend_inputs(actual, predicted)
    return float(_spearman_replicates(a, p, np.ones((1, a.size)))[0])


def _gini(actual: FloatArray, top: _TopDown) -> float:
    n = actual.size
    total = actual.sum()
    share = np.interp(np.arange(1, n + 1), top.positions, top.cumulative(actual)) / total
    return float((share.sum() - (n + 1) / 2.0) / n)


def normalized_gini(actual: Values, predicted: Values) -> float:
    """Return the normalized Gini coefficient of a spend prediction (Kaggle definition).

    Customers are ordered by descending prediction and ``C_i`` is the share of total actual
    spend held by the first ``i`` of them. ``Gini = (sum_i C_i - (n + 1) / 2) / n`` and the
    normalized Gini divides it by the Gini of the perfect ordering (by actual spend).

    Ties in the prediction are spread evenly (module docstring): ``C_i`` is the expected share
    over random orderings of the tied customers, so a constant prediction scores exactly 0 and
    the result does not depend on row order. (Kaggle's reference code breaks ties by row
    order instead.)

    Returns
    -------
    float
        1 for a perfect ranking, -1 for the reversed one, about 0 for a random one; NaN when
        every actual spend is equal (including all zero).

    References
    ----------
    .. [1] Kaggle (2011). Allstate Claim Prediction Challenge, evaluation: normalized Gini.
    .. [2] Frees, E. W., Meyers, G. and Cummings, A. D. (2011). Summarizing insurance scores
       using a Gini index. *JASA* 106(495), 1085-1098.
    .. [3] Wang, X., Liu, T. and Miao, J. (2019). A deep probabilistic model for customer
       lifetime value prediction. arXiv:1912.07753.
    """
    a, p, _ = _spend_inputs(actual, predicted)
    if a.sum() == 0:
        return math.nan
    perfect = _gini(a, _TopDown(a))
    if perfect <= 0:
        return math.nan
    return _gini(a, _TopDown(p)) / perfect


def top_decile_capture(actual: Values, predicted: Values, *, fraction: float = 0.1) -> float:
    """Share of total actual revenue earned by the ``fraction`` of customers predicted highest.

    The cut is at exactly ``fraction * n`` customers, ties straddling it counted pro rata
    (module docstring). A random prediction captures ``fraction``.

    Returns
    -------
    float
        In ``[0, 1]``; NaN if the holdout has no revenue.
    """
    _check_fraction(fraction)
    a, p, _ = _spend_inputs(actual, predicted)
    total = a.sum()
    if total == 0:
        return math.nan
    return float(_TopDown(p).total_in_top(a, fraction * a.size)) / float(total)


def decile_table(actual: Values, predicted: Values, *, n_bins: int = 10) -> pd.DataFrame:
    """Predicted against actual revenue in deciles of the prediction.

    Customers are sorted by prediction and cut into ``n_bins`` groups of exactly ``n / n_bins``
    customers; a tie group straddling a cut is shared pro rata (module docstring), so
    ``n_customers`` can be fractional.

    Returns
    -------
    pandas.DataFrame
        One row per decile, ``decile`` 1 (lowest predictions) to ``n_bins`` (highest):
        ``n_customers``, ``predicted`` and ``actual`` revenue, and ``ape`` =
        ``|predicted - actual| / actual`` (NaN where actual revenue is 0).

    References
    ----------
    .. [1] Wang, X., Liu, T. and Miao, J. (2019). A deep probabilistic model for customer
       lifetime value prediction. arXiv:1912.07753 (decile charts and decile-level MAPE).
    """
    _check_bins(n_bins)
    a, p, _ = _spend_inputs(actual, predicted)
    top = _TopDown(p)
    cuts = np.arange(n_bins + 1, dtype=np.float64) * (a.size / n_bins)
    act = np.diff(top.total_in_top(a, cuts))[::-1]
    pred = np.diff(top.total_in_top(p, cuts))[::-1]
    ape = np.full(n_bins, np.nan)
    ok = act > 0
    ape[ok] = np.abs(pred[ok] - act[ok]) / act[ok]
    return pd.DataFrame(
        {
            "decile": np.arange(1, n_bins + 1),
            "n_customers": np.diff(cuts),
            "predicted": pred,
            "actual": act,
            "ape": ape,
        }
    )


def decile_mape(actual: Values, predicted: Values, *, n_bins: int = 10) -> float:
    """Mean absolute percentage error of revenue per decile of the prediction.

    The mean of :func:`decile_table`'s ``ape`` over the deciles with actual revenue above 0.
    Deciles without revenue are left out (their percentage error is undefined); see them in
    :func:`decile_table`.

    Returns
    -------
    float
        0 for a perfectly calibrated prediction; NaN if no decile has revenue.

    References
    ----------
    .. [1] Wang, X., Liu, T. and Miao, J. (2019). A deep probabilistic model for customer
       lifetime value prediction. arXiv:1912.07753.
    """
    ape = decile_table(actual, predicted, n_bins=n_bins)["ape"].to_numpy()
    ape = ape[np.isfinite(ape)]
    return float(ape.mean()) if ape.size else math.nan


@dataclass(frozen=True)
class RevenueTotals:
    """Total predicted and actual holdout revenue.

    Attributes
    ----------
    predicted
        Sum of predicted spend.
    actual
        Sum of actual spend.
    relative_error
        ``(predicted - actual) / actual``: -0.17 means a 17 % under-forecast; NaN when the
        actual total is 0.
    """

    predicted: float
    actual: float
    relative_error: float


def revenue_totals(actual: Values, predicted: Values) -> RevenueTotals:
    """Total predicted against actual revenue over the holdout, with the signed relative error."""
    a, p, _ = _spend_inputs(actual, predicted)
    act = float(a.sum())
    pred = float(p.sum())
    return RevenueTotals(pred, act, (pred - act) / act if act > 0 else math.nan)


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------


def _check_bootstrap(n_boot: int, level: float) -> None:
    _check_bins(n_boot, "n_boot")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"'level' must be in (0, 1), got {level!r}")


def _bootstrap_weights(n: int, seeds: Sequence[np.random.SeedSequence]) -> FloatArray:
    """How often each of ``n`` customers is drawn in each resample (one row per seed)."""
    out = np.empty((len(seeds), n))
    for row, seed in enumerate(seeds):
        draws = np.random.default_rng(seed).integers(0, n, size=n)
        out[row] = np.bincount(draws, minlength=n)
    return out


# A statistic to put an interval on: what builds its replicator from per-customer arrays
# (e.g. `_roc_auc_replicator`), those arrays, and its value on all customers (read only when
# a subset is resampled).
_Statistic = tuple[Callable[..., Callable[[FloatArray], FloatArray]], tuple[FloatArray, ...], float]


def _bootstrap_intervals(
    statistics: Sequence[_Statistic],
    n: int,
    *,
    n_boot: int,
    level: float,
    seed: int,
    max_customers: int | None = BOOTSTRAP_MAX_CUSTOMERS,
) -> list[tuple[float, float]]:
    """Percentile intervals of several statistics over the same resamples of ``n`` customers.

    Each block of resample weights is drawn once and handed to every statistic's replicator.
    Up to ``max_customers`` (None: any number) the resamples draw ``n`` of the ``n``
    customers. Above it they draw ``m = max_customers`` of a random subset of ``m`` customers
    (the same subset for every statistic), and each replicate's distance from the subset's own
    value is shrunk by ``sqrt(m / n)`` around the value on all customers: the m-out-of-n
    bootstrap with rescaling (Bickel, Goetze and van Zwet 1997), valid for statistics with a
    normal limit at rate ``sqrt(n)`` such as the ROC AUC and Spearman's rho. It makes the
    interval's cost independent of ``n``; a full bootstrap of a million customers took 20 s per
    interval.
    """
    rows: IntArray | None = None
    m = n
    if max_customers is not None and n > max_customers:
        m = int(max_customers)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        rows = np.sort(rng.choice(n, size=m, replace=False))
    replicators = [
        build(*(arrays if rows is None else tuple(a[rows] for a in arrays)))
        for build, arrays, _ in statistics
    ]
    seeds = np.random.SeedSequence(seed).spawn(n_boot)
    block = max(1, _BLOCK_CELLS // m)
    stats: list[list[FloatArray]] = [[] for _ in replicators]
    for start in range(0, n_boot, block):
        weights = _bootstrap_weights(m, seeds[start : start + block])
        for out, replicates in zip(stats, replicators, strict=True):
            out.append(replicates(weights))
    tail = (1.0 - level) / 2.0
    intervals = []
    for parts, replicates, (_, _, value) in zip(stats, replicators, statistics, strict=True):
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        if values.size < 2:
            intervals.append((math.nan, math.nan))
            continue
        low, high = np.quantile(values, [tail, 1.0 - tail])
        if rows is not None:
            own = float(replicates(np.ones((1, m)))[0])
            shrink = math.sqrt(m / n)
            low, high = value + (low - own) * shrink, value + (high - own) * shrink
        intervals.append((float(low), float(high)))
    return intervals


def _one_interval(
    build: Callable[..., Callable[[FloatArray], FloatArray]],
    statistic: Callable[..., float],
    arrays: tuple[FloatArray, ...],
    n_boot: int,
    level: float,
    seed: int,
    max_customers: int | None,
) -> tuple[float, float]:
    """:func:`_bootstrap_intervals` of one statistic (its full value only when rescaled)."""
    n = arrays[0].size
    rescaled = max_customers is not None and n > max_customers
    value = statistic(*arrays) if rescaled else math.nan
    return _bootstrap_intervals(
        [(build, arrays, value)],
        n,
        n_boot=n_boot,
        level=level,
        seed=seed,
        max_customers=max_customers,
    )[0]


def roc_auc_interval(
    y_true: Values,
    score: Values,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    max_customers: int | None = BOOTSTRAP_MAX_CUSTOMERS,
) -> tuple[float, float]:
    """Percentile bootstrap interval for :func:`roc_auc`, resampling customers.

    Each resample draws ``n`` customers with replacement. The replicates are computed together
    from how often each customer is drawn (a weighted Mann-Whitney statistic on one sort of
    the scores), in blocks of bounded memory. Resamples that hold a single class are skipped.
    Resample ``b`` uses the ``b``-th child of ``numpy.random.SeedSequence(seed)``, so the
    result depends only on the data, ``n_boot`` and ``seed``.

    Parameters
    ----------
    y_true, score
        As for :func:`roc_auc`.
    n_boot
        Number of resamples.
    level
        Coverage of the interval.
    seed
        Seed of the resampling.
    max_customers
        Above this many customers, resample a random subset of this size and rescale the
        spread to all customers (the m-out-of-n bootstrap; ``_bootstrap_intervals``); None
        resamples all customers whatever their number.

    Returns
    -------
    tuple of float
        ``(low, high)``; NaN, NaN if fewer than two resamples had both classes.

    References
    ----------
    .. [1] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*.
       Chapman & Hall, chapter 13 (percentile intervals).
    """
    _check_bootstrap(n_boot, level)
    y, s, _ = _lapse_inputs(y_true, score)
    return _one_interval(_roc_auc_replicator, roc_auc, (y, s), n_boot, level, seed, max_customers)


def spearman_interval(
    actual: Values,
    predicted: Values,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    max_customers: int | None = BOOTSTRAP_MAX_CUSTOMERS,
) -> tuple[float, float]:
    """Percentile bootstrap interval for :func:`spearman`, resampling customers.

    Ranks within each resample are average ranks of the drawn copies, computed from the draw
    counts without re-sorting (see :func:`roc_auc_interval` for the resampling scheme and
    ``max_customers``).

    Returns
    -------
    tuple of float
        ``(low, high)``; NaN, NaN if fewer than two resamples had variation on both sides.

    References
    ----------
    .. [1] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*.
       Chapman & Hall, chapter 13 (percentile intervals).
    """
    _check_bootstrap(n_boot, level)
    a, p, _ = _spend_inputs(actual, predicted)
    return _one_interval(_spearman_replicator, spearman, (a, p), n_boot, level, seed, max_customers)


# ---------------------------------------------------------------------------------------------
# Value x risk
# ---------------------------------------------------------------------------------------------

DEFAULT_RISK_EDGES: tuple[float, ...] = (0.25, 0.5, 0.75)
DEFAULT_RISK_LABELS: tuple[str, ...] = ("low", "medium", "high", "very high")


def value_risk_matrix(
    clv: Values,
    p_churn: Values,
    *,
    n_deciles: int = 10,
    risk_edges: Sequence[float] = DEFAULT_RISK_EDGES,
    risk_labels: Sequence[str] = DEFAULT_RISK_LABELS,
) -> pd.DataFrame:
    """Count customers and sum their value in each cell of CLV decile x lapse-risk band.

    Parameters
    ----------
    clv
        Customer lifetime value per customer.
    p_churn
        Lapse probability per customer, in ``[0, 1]``.
    n_deciles
        Number of CLV groups. Decile ``n_deciles`` holds the most valuable customers. A
        customer's decile is ``ceil(n_deciles * r / n)`` with ``r`` the average rank of their
        CLV, so tied CLVs (for example all zero) always share a decile and deciles can be
        unequal when many customers tie.
    risk_edges
        Increasing inner edges of the risk bands; a band holds ``edge_i <= p < edge_{i+1}``.
    risk_labels
        One name per band, ``len(risk_edges) + 1`` of them, from lowest risk up.

    Returns
    -------
    pandas.DataFrame
        One row per cell, empty cells included, ordered by decile then band: ``clv_decile``
        (1..n_deciles), ``risk_band`` (ordered categorical), ``n_customers``, ``total_clv``,
        ``value_at_risk`` (sum of ``clv * p_churn``) and ``mean_p_churn`` (NaN when empty).
        Sort by ``value_at_risk`` to see whom a retention team should call first.
    """
    _check_bins(n_deciles, "n_deciles")
    edges = np.asarray(risk_edges, dtype=np.float64)
    labels = list(risk_labels)
    if len(labels) != edges.size + 1:
        raise ConfigError(
            f"'risk_labels' needs {edges.size + 1} names for {edges.size} edges, got {len(labels)}"
        )
    if len(set(labels)) != len(labels):
        raise ConfigError(f"'risk_labels' must be distinct, got {labels!r}")
    if edges.size and (np.any(np.diff(edges) <= 0) or edges[0] <= 0 or edges[-1] >= 1):
        raise ConfigError(f"'risk_edges' must increase strictly within (0, 1), got {edges!r}")
    value, prob, ids = _aligned(clv, p_churn, "clv", "p_churn")
    if not _is_probability(prob):
        bad = (prob < 0) | (prob > 1)
        raise DataValidationError(
            f"p_churn must be in [0, 1], but {int(bad.sum())} value(s) are not "
            f"(customers {_sample(ids[bad])})",
            column=CUSTOMER_ID,
            rows=_failing_rows(ids[bad], "p_churn outside [0, 1]"),
        )
    n = value.size
    ranks = pd.Series(value).rank(method="average").to_numpy()
    decile = np.clip(np.ceil(ranks * n_deciles / n - 1e-9), 1, n_deciles).astype(np.intp)
    band = np.searchsorted(edges, prob, side="right")
    cell = (decile - 1) * len(labels) + band
    n_cells = n_deciles * len(labels)
    count = np.bincount(cell, minlength=n_cells)
    total = np.bincount(cell, weights=value, minlength=n_cells)
    at_risk = np.bincount(cell, weights=value * prob, minlength=n_cells)
    sum_p = np.bincount(cell, weights=prob, minlength=n_cells)
    mean_p = np.full(n_cells, np.nan)
    mean_p[count > 0] = sum_p[count > 0] / count[count > 0]
    return pd.DataFrame(
        {
            "clv_decile": np.repeat(np.arange(1, n_deciles + 1), len(labels)),
            "risk_band": pd.Categorical(
                np.tile(labels, n_deciles), categories=labels, ordered=True
            ),
            "n_customers": count.astype(np.int64),
            "total_clv": total,
            "value_at_risk": at_risk,
            "mean_p_churn": mean_p,
        }
    )
