"""Training sets for the supervised models: snapshots at past cut-offs with probabilistic features.

A training set holds one row per (cut-off, customer known at the cut-off): the customer
features computed from data up to the cut-off only, the outputs of the probabilistic models
(BG/NBD family + Gamma-Gamma) **fitted on data up to that cut-off only**, and what the customer
did in the label window ``(cutoff, cutoff + label_horizon_days]``.

The cut-offs come from :class:`~churnmodel.models.design.TrainingDesign` (see
:mod:`churnmodel.models.design`): every label window ends on or before the scoring date, and
the latest cut-off calibrates the classifier.

When the log is too short for label windows of the target horizon ``H`` (CDNOW: nine months
of history before the scoring date and ``H = 273`` days), the label horizon ``h`` is set
shorter than ``H``. The probabilistic columns are then computed at ``h`` for training and at
``H`` for scoring ("horizon-matched"), so the probabilistic models carry the horizon; see
``docs/lapse-and-spend.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import (
    BEHAVIOUR_COLUMNS,
    FeatureWindows,
    LifecycleRules,
    PurchaseRule,
    build_snapshots,
)
from churnmodel.features.customer import to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.models.design import TrainingCutoffs, TrainingDesign
from churnmodel.models.probabilistic import PROBABILISTIC_COLUMNS, ProbabilisticFeatures
from churnmodel.schemas import CUSTOMER_ID, RFM_COLUMNS

__all__ = [
    "CATEGORICAL_COLUMNS",
    "FEATURE_COLUMNS",
    "SnapshotBuilder",
    "SnapshotCache",
    "TrainingSet",
    "as_frame",
    "build_training_set",
    "sample_by_first_purchase",
    "sample_customers",
    "until",
]


class SnapshotBuilder(Protocol):
    """Builds raw snapshots (:func:`churnmodel.features.build_snapshots`'s table) elsewhere.

    Called with the cut-offs, the label horizon and the feature settings; returns the pandas
    snapshots of those cut-offs, as the embedded engine would (``churnmodel train --engine
    spark`` builds them on Spark).
    """

    def __call__(
        self,
        cutoffs: list[date],
        label_horizon_days: int,
        *,
        time_unit: str,
        purchase: PurchaseRule | None,
        rules: LifecycleRules | None,
        windows: FeatureWindows | None,
    ) -> pd.DataFrame:
        """Return the snapshots at ``cutoffs`` with ``label_horizon_days``-day labels."""
        ...


class SnapshotCache(dict[tuple[date, int], tuple[pd.DataFrame, list[str]]]):
    """Snapshots with their probabilistic columns by (cut-off, label horizon).

    Shared by the training sets that one run builds from the same log with the same feature
    settings (:func:`build_training_set`'s ``cache``). ``builder`` builds the snapshots that
    are missing; None: :func:`churnmodel.features.build_snapshots` on the transactions given.
    """

    def __init__(self, builder: SnapshotBuilder | None = None) -> None:
        super().__init__()
        self.builder = builder


CATEGORICAL_COLUMNS: tuple[str, ...] = ("lifecycle_stage",)
#: Every column the supervised models read, in this order.
FEATURE_COLUMNS: tuple[str, ...] = (
    *RFM_COLUMNS,
    *BEHAVIOUR_COLUMNS,
    *CATEGORICAL_COLUMNS,
    *PROBABILISTIC_COLUMNS,
)
#: Purchase models by name.


# --------------------------------------------------------------------------- training set
@dataclass(frozen=True)
class TrainingSet:
    """Snapshots at the training cut-offs, with probabilistic features and labels.

    Attributes
    ----------
    frame
        One row per (cut-off, customer): ``cutoff``, ``customer_id``, ``role`` (``"fit"`` or
        ``"calibration"``), :data:`FEATURE_COLUMNS`, and the labels ``purchases_next``,
        ``spend_next``, ``lapsed`` over the label window.
    cutoffs
        The cut-offs (:class:`TrainingCutoffs`).
    horizon_days
        ``H``, the horizon of the scores.
    time_unit
        Unit of ``recency`` and ``T``.
    fit_warnings
        Degenerate-fit messages of the probabilistic models, by cut-off.
    """

    frame: pd.DataFrame
    cutoffs: TrainingCutoffs
    horizon_days: int
    time_unit: str
    fit_warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def label_horizon_days(self) -> int:
        """``h``, the length of the label windows."""
        return self.cutoffs.label_horizon_days

    def features(self, role: str | None = None) -> pd.DataFrame:
        """Return :data:`FEATURE_COLUMNS` of the rows with ``role`` (all rows if None)."""
        return self._rows(role).loc[:, list(FEATURE_COLUMNS)]

    def lapsed(self, role: str | None = None) -> pd.Series:
        """Return the lapse label (1 = no purchase in the label window) as int."""
        return self._rows(role)["lapsed"].astype("int64")

    def spend(self, role: str | None = None) -> pd.Series:
        """Net spend in the label window (floored at 0)."""
        return self._rows(role)["spend_next"].astype(np.float64)

    def cutoff(self, role: str | None = None) -> pd.Series:
        """Return the cut-off of each row (the time key of the calibration fold)."""
        return self._rows(role)["cutoff"]

    def sample(self, max_rows: int, seed: int = 0) -> TrainingSet:
        """At most ``max_rows`` rows, stratified by cut-off and lapse label (self if fewer).

        Each (cut-off, lapsed) stratum keeps its share of the rows (rounded), the rows drawn
        uniformly without replacement by ``seed``; the rows keep their order. The comparison
        models of the evaluation fit on such a sample (``docs/lapse-and-spend.md``).
        """
        n = len(self.frame)
        if n <= max_rows:
            return self
        strata = self.frame.groupby(["cutoff", "lapsed"], sort=True).ngroup().to_numpy()
        return replace(self, frame=self.frame.iloc[_stratified_draw(strata, max_rows, seed)])

    def _rows(self, role: str | None) -> pd.DataFrame:
        if role is None:
            return self.frame
        if role not in ("fit", "calibration"):
            raise ConfigError(f"'role' must be 'fit', 'calibration' or None, got {role!r}")
        return self.frame[self.frame["role"] == role]

    def summary(self) -> pd.DataFrame:
        """One row per cut-off: role, customers, lapse rate, mean spend in the label window."""
        grouped = self.frame.groupby("cutoff", sort=True)
        out = pd.DataFrame(
            {
                "role": grouped["role"].first(),
                "n_customers": grouped.size(),
                "lapse_rate": grouped["lapsed"].mean(),
                "mean_spend_next": grouped["spend_next"].mean(),
            }
        )
        out["label_end"] = pd.DatetimeIndex(out.index) + pd.Timedelta(days=self.label_horizon_days)
        return out


def build_training_set(
    transactions: TransactionsLike,
    *,
    scoring_date: Any,
    design: TrainingDesign,
    time_unit: str = "D",
    purchase: PurchaseRule | None = None,
    rules: LifecycleRules | None = None,
    windows: FeatureWindows | None = None,
    probabilistic: ProbabilisticFeatures | None = None,
    cache: SnapshotCache | None = None,
) -> TrainingSet:
    """Build the training set for a model that will score at ``scoring_date``.

    Parameters
    ----------
    transactions
        Canonical transactions; only rows on or before ``scoring_date - gap_days`` are read for
        features and labels (rows after it may be present and are never used).
    scoring_date
        The cut-off the models will score at; every label window ends on or before it (minus
        ``design.gap_days``).
    design
        Cut-offs, label horizon and gap (:class:`TrainingDesign`).
    time_unit, purchase, rules, windows
        Feature settings, as for :func:`churnmodel.features.customer_features`.
    probabilistic
        Settings of the probabilistic features (an unfitted :class:`ProbabilisticFeatures`;
        one copy is fitted per cut-off on that cut-off's features only).
    cache
        Snapshots already built, by (cut-off, label horizon); new ones are added. A snapshot
        depends only on the rows up to its label window's end, so training sets for several
        scoring dates of the same log share them; the caller keeps one cache per log and
        per set of the other arguments (``churnmodel train`` builds six training sets, and a
        third of their cut-offs repeat).

    Returns
    -------
    TrainingSet

    Raises
    ------
    ConfigError
        If too few cut-offs fit in the log (the message says what to change).
    """
    design.validate()
    template = probabilistic or ProbabilisticFeatures()
    transactions = as_frame(transactions)
    first, last = _log_span(transactions)
    cutoffs = design.cutoffs(scoring_date, data_start=first)
    if last < cutoffs.calibration:
        raise DataValidationError(
            f"the log ends on {last.isoformat()}, before the latest training cut-off "
            f"{cutoffs.calibration.isoformat()}; labels of that cut-off would be empty",
            hint="check that the transactions cover the period up to the scoring date",
        )
    h = cutoffs.label_horizon_days
    cache = SnapshotCache() if cache is None else cache
    missing = [day for day in cutoffs.all if (day, h) not in cache]
    if missing:
        builder = getattr(cache, "builder", None)
        if builder is not None:  # elsewhere (Spark): the same snapshots, as pandas
            snapshots = builder(
                missing, h, time_unit=time_unit, purchase=purchase, rules=rules, windows=windows
            )
        else:
            # Labels are complete up to the scoring date (the caller's log covers it), even
            # when no one bought on its last days; the window ends never pass label_end <=
            # scoring_date.
            snapshots = build_snapshots(
                until(transactions, max(missing) + timedelta(days=h)),
                missing,
                h,
                time_unit=time_unit,
                purchase=purchase,
                rules=rules,
                windows=windows,
                require_complete=False,
            )
        for key, snap in snapshots.groupby("cutoff", sort=True):
            cutoff = to_date(str(key), "cutoff")
            feats = snap.set_index(CUSTOMER_ID)
            feats.attrs = {"time_unit": time_unit}
            model = ProbabilisticFeatures(**_params(template)).fit(feats)
            prob = model.transform(feats, h)
            cache[(cutoff, h)] = (
                _quantized(pd.concat([feats, prob], axis=1).reset_index()),
                list(model.fit_warnings_),
            )
    frames = []
    fit_warnings: dict[str, list[str]] = {}
    for cutoff in sorted(cutoffs.all):
        if (cutoff, h) not in cache:  # a cut-off where no customer was known yet
            continue
        frame, warned = cache[(cutoff, h)]
        if warned:
            fit_warnings[cutoff.isoformat()] = warned
        is_cal = cutoff == cutoffs.calibration
        frames.append(frame.assign(role="calibration" if is_cal else "fit"))
    out = pd.concat(frames, ignore_index=True)
    columns = ["cutoff", "role", CUSTOMER_ID, *FEATURE_COLUMNS, "purchases_next", "spend_next"]
    out = out.loc[:, [*columns, "lapsed"]]
    return TrainingSet(
        frame=out,
        cutoffs=cutoffs,
        horizon_days=int(design.horizon_days),
        time_unit=time_unit,
        fit_warnings=fit_warnings,
    )


def sample_customers(
    transactions: pd.DataFrame, max_customers: int | None, *, seed: int = 0
) -> pd.Index | None:
    """Ids of at most ``max_customers`` customers, stratified by first month; None if all fit.

    Each month of first transaction keeps its share of the customers (rounded), drawn
    uniformly without replacement by ``seed``: the cohorts, and so the customers known at
    every past cut-off, keep their mix, and nothing a customer did after their first month
    decides whether they are drawn. The sample does not depend on any cut-off, so the training
    sets of one run (holdout, backtests, refit) follow the same customers.
    """
    if max_customers is None:
        return None
    if isinstance(max_customers, bool) or not isinstance(max_customers, int | np.integer):
        raise ConfigError(f"'max_customers' must be a positive integer, got {max_customers!r}")
    if max_customers < 1:
        raise ConfigError(f"'max_customers' must be a positive integer, got {max_customers}")
    first = transactions.groupby(CUSTOMER_ID, sort=True, observed=True)["timestamp"].min()
    return sample_by_first_purchase(first, max_customers, seed=seed)


def sample_by_first_purchase(
    first: pd.Series, max_customers: int, *, seed: int = 0
) -> pd.Index | None:
    """:func:`sample_customers` from each customer's first timestamp (index: sorted ids).

    For a log that lives elsewhere: collect one row per customer, draw the same sample.
    """
    n = len(first)
    if n <= max_customers:
        return None
    month = pd.DatetimeIndex(first.to_numpy()).to_period("M")
    strata = pd.factorize(month, sort=True)[0]
    return first.index[_stratified_draw(strata, int(max_customers), seed)]


def _stratified_draw(strata: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Positions of about ``size`` rows, each stratum (codes 0..k-1) keeping its share.

    Each stratum's quota is its share of ``size``, rounded; its rows are drawn uniformly
    without replacement by ``seed``. The positions come back sorted.
    """
    n = strata.size
    sizes = np.bincount(strata)
    quota = np.floor(sizes * (size / n) + 0.5).astype(np.int64)
    order = np.lexsort((np.random.default_rng(seed).random(n), strata))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    position = np.arange(n) - starts[strata[order]]
    return np.sort(order[position < quota[strata[order]]])


#: Significant bits the training sets keep of every float column (about 9 significant digits).
TRAINING_MANTISSA_BITS = 30


def _quantized(frame: pd.DataFrame) -> pd.DataFrame:
    """Round every float column of ``frame`` to :data:`TRAINING_MANTISSA_BITS` significant bits.

    Sums of the same amounts added in another order (another engine, another thread count)
    differ in their last bits; trees bin a feature by its distinct values, so such noise could
    split a tie and grow another tree. Rounded, the noise is gone (unless a value sits on a
    rounding boundary: about one in four million) and no value moves by more than 5e-10 of
    itself, far below anything a model could learn from.
    """
    scale = float(2**TRAINING_MANTISSA_BITS)
    for column in frame.columns:  # in place: the caller's frame is new
        if pd.api.types.is_float_dtype(frame[column].dtype):
            mantissa, exponent = np.frexp(frame[column].to_numpy(dtype=np.float64))
            frame[column] = np.ldexp(np.round(mantissa * scale) / scale, exponent)
    return frame


def _params(model: ProbabilisticFeatures) -> dict[str, Any]:
    return {
        "purchase_model": model.purchase_model,
        "clv_horizon_days": model.clv_horizon_days,
        "clv_period_days": model.clv_period_days,
        "annual_discount_rate": model.annual_discount_rate,
        "penalizer": model.penalizer,
    }


def as_frame(transactions: TransactionsLike) -> pd.DataFrame:
    """Return canonical transactions as a DataFrame (a ``TransactionTable`` is converted)."""
    if isinstance(transactions, pd.DataFrame):
        return transactions
    to_pandas = getattr(transactions, "to_pandas", None)
    if callable(to_pandas):
        frame = to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    raise DataValidationError(
        f"transactions must be a pandas DataFrame or a TransactionTable, "
        f"got {type(transactions).__name__}",
        hint="use churnmodel.read_transactions to get one",
    )


def _log_span(transactions: pd.DataFrame) -> tuple[date, date]:
    """First and last day of a transaction log."""
    if "timestamp" not in transactions.columns or transactions.empty:
        raise DataValidationError(
            "the transactions are empty or have no 'timestamp' column",
            column="timestamp",
            hint="pass canonical transactions (churnmodel.read_transactions)",
        )
    ts = transactions["timestamp"]
    return pd.Timestamp(ts.min()).date(), pd.Timestamp(ts.max()).date()


def until(transactions: pd.DataFrame, last_day: date) -> pd.DataFrame:
    """Return the rows on or before ``last_day`` (whole day, any time zone).

    The frame itself when every row is on or before it (callers never modify the result).
    """
    ts = transactions["timestamp"]
    bound = pd.Timestamp(last_day + timedelta(days=1))
    if getattr(ts.dt, "tz", None) is not None:
        bound = bound.tz_localize(ts.dt.tz)
    keep = (ts < bound).to_numpy()
    # Nothing to drop (the refit at the log's last day): the frame itself, not a copy of it.
    return transactions if keep.all() else transactions[keep]


def __getattr__(name: str) -> Any:
    """Classes that lived here before ``models.training`` was split by concept.

    Bundles pickled then (registered models, the champion a new run is compared with) name
    ``churnmodel.models.training.ChurnBundle`` and ``.TabularEncoder``; unpickling finds them
    here.
    """
    if name == "ChurnBundle":
        from churnmodel.models.bundle import ChurnBundle

        return ChurnBundle
    if name == "TabularEncoder":
        from churnmodel.models.encoding import TabularEncoder

        return TabularEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
