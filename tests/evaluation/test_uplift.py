"""Qini curve and coefficient against a case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from churnmodel.evaluation.uplift import plot_qini, qini_coefficient, qini_curve, qini_interval
from churnmodel.exceptions import DataValidationError

# Four customers ranked 1..4: treated buyer, treated non-buyer, control buyer, control non-buyer.
Y = [1, 0, 1, 0]
SCORE = [0.9, 0.8, 0.7, 0.6]
T = [1, 1, 0, 0]


def test_qini_curve_by_hand() -> None:
    # n=1: Y_t=1, no control -> 1; n=2: 1; n=3: 1 - 1 * 2/1 = -1; n=4: 1 - 1 * 2/2 = 0
    curve = qini_curve(Y, SCORE, T)
    assert curve["n"].tolist() == [0, 1, 2, 3, 4]
    assert curve["qini"].tolist() == [0, 1, 1, -1, 0]


def test_qini_coefficient_by_hand() -> None:
    # area of the curve: 0.5 + 1 + 0 - 0.5 = 1; random line to (4, 0): 0.
    # perfect ranking (scores y*t - y*(1-t) = 1, 0, -1, 0): points (1, 1), (3, 1), (4, 0),
    # area 0.5 + 2 + 0.5 = 3; coefficient 1 / 3 (scikit-uplift's qini_auc_score gives 1/3 too)
    assert qini_coefficient(Y, SCORE, T) == pytest.approx(1 / 3)


def test_ties_are_one_step_and_perfect_and_reversed_rankings() -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    t = (rng.random(n) < 0.5).astype(float)
    lift = rng.random(n)
    y = (rng.random(n) < 0.1 + 0.4 * t * lift).astype(float)
    perfect = y * t - y * (1 - t)
    assert qini_coefficient(y, perfect, t) == pytest.approx(1.0)
    good = qini_coefficient(y, lift, t)
    assert 0 < good < 1
    assert qini_coefficient(y, -lift, t) < 0
    assert len(qini_curve(y, np.zeros(n), t)) == 2  # one tie: straight to the end
    ci = qini_interval(y, lift, t, n_boot=100, seed=1)
    assert ci.low < good < ci.high and ci.n_boot == 100


def test_continuous_outcomes_and_errors() -> None:
    spend = [30.0, 0.0, 10.0, 0.0]
    assert qini_curve(spend, SCORE, T)["qini"].iloc[-1] == pytest.approx(30 - 10 * 2 / 2)
    with pytest.raises(DataValidationError, match="treatment"):
        qini_curve(Y, SCORE, [1, 2, 0, 0])
    with pytest.raises(DataValidationError, match="missing or infinite"):
        qini_curve([1, np.nan, 0, 0], SCORE, T)
    assert np.isnan(qini_coefficient([0, 0, 0, 0], SCORE, T))


def test_plot_returns_the_axes() -> None:
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert plot_qini(Y, T, {"model": SCORE}, ax=ax) is ax
    assert "Qini" in ax.get_legend().get_texts()[0].get_text()
