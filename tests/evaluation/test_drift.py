"""The population stability index and the drift table."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from churnmodel.evaluation import drift_table, plot_psi, population_stability_index
from churnmodel.exceptions import ConfigError, DataValidationError


def test_identical_distributions_have_a_psi_near_zero() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)
    assert population_stability_index(a, a) == pytest.approx(0.0, abs=1e-12)
    assert population_stability_index(a, b) < 0.01


def test_a_shift_is_measured_and_grows_with_its_size() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, 20_000)
    small = population_stability_index(ref, rng.normal(0.2, 1, 20_000))
    large = population_stability_index(ref, rng.normal(1.0, 1, 20_000))
    assert 0.02 < small < 0.1 < 0.25 < large


def test_the_psi_matches_the_formula_on_hand_made_bins() -> None:
    # two distinct values: one bin per value; shares 0.5/0.5 -> 0.8/0.2
    ref = [0] * 50 + [1] * 50
    cur = [0] * 80 + [1] * 20
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert population_stability_index(ref, cur) == pytest.approx(expected)


def test_counts_mostly_zero_are_binned_by_value_not_by_collapsed_quantiles() -> None:
    rng = np.random.default_rng(2)
    ref = (rng.random(10_000) < 0.1).astype(float) * rng.integers(1, 4, 10_000)
    cur = (rng.random(10_000) < 0.3).astype(float) * rng.integers(1, 4, 10_000)
    assert population_stability_index(ref, cur) > 0.2


def test_missing_values_and_unseen_values_have_bins_of_their_own() -> None:
    ref = np.array([1.0, 2.0, 3.0, np.nan] * 100)
    more_missing = np.array([1.0, 2.0, np.nan, np.nan] * 100)
    unseen = np.array([1.0, 2.0, 7.0, np.nan] * 100)
    assert population_stability_index(ref, more_missing) > 0.1
    assert population_stability_index(ref, unseen) > 0.1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="'bins'"):
        population_stability_index([1, 2], [1, 2], bins=1)
    with pytest.raises(ConfigError, match="non-empty"):
        population_stability_index([], [1.0])


def test_drift_table_covers_numeric_columns_largest_first_and_plots() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame(
        {"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 1, 5000), "flag": True, "s": "x"}
    )
    cur = pd.DataFrame(
        {"a": rng.normal(0, 1, 5000), "b": rng.normal(1, 1, 5000), "flag": False, "s": "y"}
    )
    table = drift_table(ref, cur)
    assert list(table["feature"]) == ["b", "a"]
    assert table.loc[0, "psi"] > 0.25 > table.loc[1, "psi"]
    assert table.loc[0, "current_mean"] == pytest.approx(1.0, abs=0.1)
    ax = plot_psi(table, limit=0.2, excluded=["a"])
    assert len(ax.patches) == 2
    colors = {tuple(np.round(p.get_facecolor(), 2)) for p in ax.patches}
    assert len(colors) == 2  # one grey (excluded), one red (over the limit)
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    with pytest.raises(DataValidationError, match="empty"):
        plot_psi(table.iloc[:0])
