"""The persuadable probability: two lapse classifiers on snapshots of the log."""

from __future__ import annotations

import numpy as np
import pytest

from churnmodel.datasets import seasonal_retailer
from churnmodel.exceptions import DataValidationError, NotFittedError
from churnmodel.features import customer_features
from churnmodel.planning import PERSUADABLE_COLUMNS, PersuadableModel


def test_fits_on_the_log_and_ranks_the_truth() -> None:
    sc = seasonal_retailer(2_000, seed=2)
    tx = sc.transactions
    model = PersuadableModel(window_days=90).fit(tx, first_date=sc.start, last_date=sc.end)
    assert max(model.cutoffs_["long"]) <= sc.end.replace(year=sc.end.year - 1)
    features = customer_features(tx, sc.end)
    state = model.transform(features)
    assert tuple(state.columns) == PERSUADABLE_COLUMNS
    assert ((state >= 0) & (state <= 1)).all().all()
    truth = sc.truth()
    # customers who have left (promotion buyers) are rarely persuadable
    promo = truth.index[truth["segment"] == "promo"]
    alive = truth.index[truth["alive"] & (truth["segment"] != "promo")]
    assert state.loc[promo, "p_persuadable"].mean() < state.loc[alive, "p_persuadable"].mean()
    assert (
        np.corrcoef(state["p_no_purchase_long"], ~truth["alive"].reindex(state.index))[0, 1] > 0.3
    )


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        PersuadableModel().transform(None)  # type: ignore[arg-type]
    sc = seasonal_retailer(300, seed=1, history_days=200)
    with pytest.raises(DataValidationError, match="too short"):
        PersuadableModel().fit(sc.transactions, first_date=sc.start, last_date=sc.end)
