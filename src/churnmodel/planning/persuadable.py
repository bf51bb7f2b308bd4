"""Who can still be persuaded: alive, but not buying in the campaign window on their own.

A contact cannot move a customer who has left (a lost cause), and adds nothing for one who
buys in the window anyway (a sure thing). What is left is the probability that the customer
is alive and will come back, but not within the window by themselves:

    p_persuadable = P(no purchase in the window) - P(no purchase in a long window)

with the long window (a year by default) standing in for "has left": a customer still alive
buys within a year unless their rhythm is slower than that. Both probabilities are lapse
classifiers of the kind ``churnmodel.models`` trains, fitted here on snapshots of the log
itself (features at past cut-offs and what followed, :func:`~churnmodel.features.build_snapshots`),
so they need no purchase-model assumption: on the simulated campaigns of
``docs/planning.md`` the result ranks the true persuadable probability better (rank
correlation 0.48) than Pareto/NBD's ``P(alive) * P(no purchase | alive)`` (0.41) or BG/NBD's
(0.04: BG/NBD's P(alive) is 1 for every one-time buyer).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.exceptions import DataValidationError, NotFittedError
from churnmodel.features import BEHAVIOUR_COLUMNS, FeatureWindows, build_snapshots
from churnmodel.features.engine import TransactionsLike
from churnmodel.features.queries import PurchaseRule
from churnmodel.models.estimators import thread_limit
from churnmodel.schemas import LIFECYCLE_STAGES, RFM_COLUMNS

__all__ = ["PERSUADABLE_COLUMNS", "PersuadableModel"]

#: Columns of :meth:`PersuadableModel.transform`.
PERSUADABLE_COLUMNS = ("p_no_purchase_window", "p_no_purchase_long", "p_persuadable")

_INPUTS = (*RFM_COLUMNS, *BEHAVIOUR_COLUMNS)


def _matrix(features: pd.DataFrame) -> np.ndarray:
    missing = [c for c in (*_INPUTS, "lifecycle_stage") if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"the features lack column(s) {missing}",
            column=missing[0],
            hint="pass churnmodel.features.customer_features output",
        )
    x = features.loc[:, list(_INPUTS)].to_numpy(dtype=float)
    stage = pd.Categorical(features["lifecycle_stage"].astype("str"), categories=LIFECYCLE_STAGES)
    return np.column_stack([x, stage.codes.astype(float)])


class PersuadableModel:
    """Two lapse classifiers whose difference is the persuadable probability (module doc).

    Parameters
    ----------
    window_days
        The campaign window.
    long_days
        The long window that stands in for "has left" (default 365).
    n_cutoffs, step_days
        Snapshots per classifier: ``n_cutoffs`` cut-offs ``step_days`` apart, the latest
        one whose window ends on the last day of the log.
    random_state, n_threads
        Of the gradient-boosting classifiers.

    Attributes
    ----------
    cutoffs_
        The snapshot cut-offs of each classifier (``"window"``, ``"long"``).
    """

    def __init__(
        self,
        *,
        window_days: int = 90,
        long_days: int = 365,
        n_cutoffs: int = 4,
        step_days: int = 91,
        random_state: int | None = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.window_days = window_days
        self.long_days = long_days
        self.n_cutoffs = n_cutoffs
        self.step_days = step_days
        self.random_state = random_state
        self.n_threads = n_threads

    def _fit_one(
        self,
        transactions: TransactionsLike,
        first: date,
        last: date,
        horizon: int,
        purchase: PurchaseRule | None,
    ) -> tuple[Any, list[date]]:
        from sklearn.ensemble import HistGradientBoostingClassifier

        latest = last - timedelta(days=horizon)
        cutoffs = [latest - timedelta(days=self.step_days * k) for k in range(self.n_cutoffs)]
        cutoffs = sorted(c for c in cutoffs if c > first + timedelta(days=self.step_days))
        if not cutoffs:
            raise DataValidationError(
                f"the log ({first} .. {last}) is too short for {horizon}-day labels after "
                f"{self.step_days} days of history",
                hint="give a longer log, or a shorter long_days",
            )
        snaps = build_snapshots(
            transactions,
            cutoffs,
            horizon,
            purchase=purchase,
            windows=FeatureWindows(season=min(self.window_days, 365)),
        )
        y = snaps["lapsed"].to_numpy(dtype=bool)
        if y.all() or not y.any():
            raise DataValidationError(f"every {horizon}-day label is the same: nothing to learn")
        model = HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=self.random_state
        )
        with thread_limit(self.n_threads):
            model.fit(_matrix(snaps), y)
        return model, cutoffs

    def fit(
        self,
        transactions: TransactionsLike,
        *,
        first_date: date,
        last_date: date,
        purchase: PurchaseRule | None = None,
    ) -> PersuadableModel:
        """Fit both classifiers on snapshots of ``transactions`` up to ``last_date``."""
        self.window_model_, window_cutoffs = self._fit_one(
            transactions, first_date, last_date, int(self.window_days), purchase
        )
        self.long_model_, long_cutoffs = self._fit_one(
            transactions, first_date, last_date, int(self.long_days), purchase
        )
        self.cutoffs_ = {"window": window_cutoffs, "long": long_cutoffs}
        return self

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """Return :data:`PERSUADABLE_COLUMNS` for customer features at any cut-off."""
        if not hasattr(self, "long_model_"):
            raise NotFittedError("this PersuadableModel is not fitted yet; call fit first")
        x = _matrix(features)
        with thread_limit(self.n_threads):
            window = self.window_model_.predict_proba(x)[:, 1]
            long = self.long_model_.predict_proba(x)[:, 1]
        return pd.DataFrame(
            {
                "p_no_purchase_window": window,
                "p_no_purchase_long": long,
                "p_persuadable": np.clip(window - long, 0.0, 1.0),
            },
            index=features.index,
        )
