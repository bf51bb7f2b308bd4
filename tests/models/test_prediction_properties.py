"""Property-based tests of the predictions added for issue 15, on random models and summaries.

The strategies are those of ``test_clv_properties`` (random valid parameters, including BG/NBD
``a + b < 1`` and Pareto/NBD ``s = 1`` or ``alpha = beta``; one-time buyers, heavy buyers with
thousands of purchases, ``T = 0``, ``recency = 0`` or ``T``): probabilities of n purchases are
in [0, 1] and sum to 1 over n, P(alive) never rises with the horizon, DERT is finite and > 0
and falls as the discount rate rises, and a new customer is the summary row (0, 0, 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, note
from hypothesis import strategies as st

from churnmodel.models import PurchaseModel
from tests.models.test_clv_properties import SETTINGS, purchase_models, summaries

HORIZONS = st.sampled_from([0.5, 7.0, 90.0, 365.0, 3000.0])


@SETTINGS
@given(model=purchase_models(), summary=summaries, horizon=HORIZONS)
def test_probabilities_of_n_purchases_sum_to_one(
    model: PurchaseModel, summary: pd.DataFrame, horizon: float
) -> None:
    note(repr(model.params_))
    cutoff = 400
    total = np.zeros(len(summary))
    partial_mean = np.zeros(len(summary))
    for n in range(cutoff):
        p = model.probability_of_purchases(summary, n, horizon).to_numpy()
        assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1)), n
        total += p
        partial_mean += n * p
    assert np.all(total <= 1 + 1e-9)
    # What is missing is the mass at n >= cutoff, which Markov's inequality bounds by the
    # expected purchases beyond the cutoff over the cutoff: a rigorous check whatever the
    # tail (BG/NBD with a <= 1 has a heavy one).
    # (BG/NBD's expected purchases keep a at least 1e-6 from 1, a relative error of about
    # 1e-6 there: the slack allows for it.)
    mean = model.expected_purchases(summary, horizon).to_numpy()
    tail_bound = np.maximum(mean - partial_mean, 0.0) / cutoff
    assert np.all(1.0 - total <= tail_bound + 1e-9 + 2e-6 * mean / cutoff)


@SETTINGS
@given(model=purchase_models(), summary=summaries, horizon=HORIZONS)
def test_probability_alive_never_rises_with_the_horizon(
    model: PurchaseModel, summary: pd.DataFrame, horizon: float
) -> None:
    now = model.probability_alive(summary).to_numpy()
    later = model.probability_alive(summary, horizon=horizon).to_numpy()
    much_later = model.probability_alive(summary, horizon=10 * horizon).to_numpy()
    for values in (later, much_later):
        assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1))
    assert np.all(later <= now * (1 + 1e-12) + 1e-300)
    assert np.all(much_later <= later * (1 + 1e-12) + 1e-300)


@SETTINGS
@given(
    model=purchase_models(),
    summary=summaries,
    rate=st.sampled_from([1e-5, 1e-4, np.log(1.1) / 365, 0.01, 0.5]),
)
def test_dert_is_finite_positive_and_falls_with_the_discount_rate(
    model: PurchaseModel, summary: pd.DataFrame, rate: float
) -> None:
    note(repr(model.params_))
    dert = model.dert(summary, rate).to_numpy()
    assert np.all(np.isfinite(dert)) and np.all(dert >= 0)
    # DERT = P(alive) * DERT(alive): positive wherever P(alive) is not lost to underflow (a
    # customer with 121 purchases on day 0 and none in the year since has P(alive) < 1e-300).
    alive = model.probability_alive(summary).to_numpy()
    assert np.all(dert[alive > 1e-250] > 0)
    assert np.all(model.dert(summary, 2 * rate).to_numpy() <= dert * (1 + 1e-9))
    # Never more than the undiscounted purchases within the time the discount allows:
    # E[Y(t)] over t ~ Exp(rate) is DERT; it is at least the purchases of the first 1/rate,
    # discounted by e^-1.
    first = model.expected_purchases(summary, 1.0 / rate).to_numpy()
    assert np.all(dert >= np.exp(-1.0) * first * (1 - 1e-9))


@SETTINGS
@given(model=purchase_models(), horizon=HORIZONS, n=st.integers(0, 6))
def test_a_new_customer_is_the_summary_row_zero_zero_zero(
    model: PurchaseModel, horizon: float, n: int
) -> None:
    row = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [0.0]})
    row.attrs["time_unit"] = "D"
    new = model.probability_of_purchases_new_customer(n, horizon)
    assert new == model.probability_of_purchases(row, n, horizon).iloc[0]
    assert (
        model.expected_purchases_new_customer(horizon)
        == model.expected_purchases(row, horizon).iloc[0]
    )
