"""Diagnostic plots of the purchase models: Axes in, Axes out, the right numbers drawn."""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from churnmodel.evaluation import (
    plot_calibration_vs_holdout,
    plot_cumulative_purchases,
    plot_expected_purchases_matrix,
    plot_frequency,
    plot_probability_alive_matrix,
)
from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.models import BetaGeoModel, ParetoNBDModel, PurchaseModel
from churnmodel.models._base import import_lifetimes


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    import_lifetimes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        datasets = import_module("lifetimes.datasets")
    summary = datasets.load_cdnow_summary_data_with_monetary_value()
    summary.attrs["time_unit"] = "W"
    return summary


@pytest.fixture(scope="module")
def model(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow)


@pytest.fixture(scope="module")
def holdout(cdnow: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"frequency_holdout": rng.poisson(0.6, len(cdnow)), "duration_holdout": 39.0},
        index=cdnow.index,
    )


def _fresh_figures() -> list[int]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return [] if pyplot is None else list(pyplot.get_fignums())


def _all_plots(model: PurchaseModel, cdnow: pd.DataFrame, holdout: pd.DataFrame) -> list[Axes]:
    weekly = pd.Series(np.full(39, 40.0), index=np.arange(1, 40, dtype=float))
    return [
        plot_frequency(model, cdnow),
        plot_calibration_vs_holdout(model, cdnow, holdout),
        plot_expected_purchases_matrix(model, horizon=39, T=39),
        plot_probability_alive_matrix(model, T=39),
        plot_cumulative_purchases(model, cdnow, weekly),
    ]


@pytest.mark.parametrize("cls", [BetaGeoModel, ParetoNBDModel])
def test_every_plot_returns_its_own_axes_without_pyplot(
    cls: type[PurchaseModel], cdnow: pd.DataFrame, holdout: pd.DataFrame, tmp_path: Path
) -> None:
    model = cls().fit(cdnow)
    before = _fresh_figures()
    axes = _all_plots(model, cdnow, holdout)
    assert _fresh_figures() == before  # nothing registered with pyplot
    for i, ax in enumerate(axes):
        assert isinstance(ax, Axes)
        assert isinstance(ax.figure.canvas, FigureCanvasAgg)
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        ax.figure.savefig(tmp_path / f"plot{i}.png")
        assert (tmp_path / f"plot{i}.png").stat().st_size > 1000


def test_given_axes_are_drawn_on(
    model: BetaGeoModel, cdnow: pd.DataFrame, holdout: pd.DataFrame
) -> None:
    figure = Figure()
    grid = figure.subplots(2, 3).ravel()
    weekly = pd.Series([10.0, 20.0], index=[1.0, 2.0])
    got = [
        plot_frequency(model, cdnow, ax=grid[0]),
        plot_calibration_vs_holdout(model, cdnow, holdout, ax=grid[1]),
        plot_expected_purchases_matrix(model, horizon=10, T=39, ax=grid[2]),
        plot_probability_alive_matrix(model, T=39, ax=grid[3]),
        plot_cumulative_purchases(model, cdnow, weekly, ax=grid[4]),
    ]
    assert all(a is b for a, b in zip(got, grid[:5], strict=True))


def test_frequency_bars(model: BetaGeoModel, cdnow: pd.DataFrame) -> None:
    ax = plot_frequency(model, cdnow, max_frequency=5)
    actual, predicted = ax.containers
    heights = np.array([bar.get_height() for bar in actual])
    expected = np.bincount(np.minimum(cdnow["frequency"], 5), minlength=6)
    np.testing.assert_array_equal(heights, expected)
    model_heights = np.array([bar.get_height() for bar in predicted])
    assert model_heights.sum() == pytest.approx(len(cdnow))
    assert model_heights[0] == pytest.approx(expected[0], rel=0.05)  # the fit is good on CDNOW
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5+"]


def test_calibration_vs_holdout_lines(
    model: BetaGeoModel, cdnow: pd.DataFrame, holdout: pd.DataFrame
) -> None:
    ax = plot_calibration_vs_holdout(model, cdnow, holdout, max_frequency=3)
    actual_line, model_line = ax.get_lines()
    groups = np.minimum(cdnow["frequency"], 3)
    means = holdout["frequency_holdout"].groupby(groups.to_numpy()).mean()
    np.testing.assert_allclose(actual_line.get_ydata(), means.to_numpy())
    predicted = model.expected_purchases(cdnow, 39).groupby(groups.to_numpy()).mean()
    np.testing.assert_allclose(model_line.get_ydata(), predicted.to_numpy())


def test_matrices(model: BetaGeoModel) -> None:
    ax = plot_probability_alive_matrix(model, T=39, max_frequency=10, n_recency=20)
    values = np.ma.getdata(ax.get_images()[0].get_array())
    assert values.shape == (11, 21)
    assert values[0, 0] == 1.0 and np.all(np.isnan(values[0, 1:]))  # x = 0 only at recency 0
    rest = values[1:]
    assert np.all((rest >= 0) & (rest <= 1))
    assert np.all(np.diff(rest, axis=1) >= -1e-12)  # more recent purchase, more likely alive
    ax = plot_expected_purchases_matrix(model, horizon=52, T=39, max_frequency=10, n_recency=20)
    values = np.ma.getdata(ax.get_images()[0].get_array())[1:]
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert values[-1, -1] == values.max()  # frequent and recent buyers buy most


def test_cumulative_tracking(model: BetaGeoModel, cdnow: pd.DataFrame) -> None:
    weekly = pd.Series(np.arange(1.0, 11.0), index=np.arange(1.0, 11.0))
    ax = plot_cumulative_purchases(model, cdnow, weekly)
    actual_line, model_line = ax.get_lines()
    np.testing.assert_allclose(actual_line.get_ydata(), np.cumsum(np.arange(1.0, 11.0)))
    total = model.expected_purchases(cdnow, 10).sum()
    assert model_line.get_ydata()[-1] == pytest.approx(total)
    assert "weeks" in ax.get_xlabel()


def test_bad_input(model: BetaGeoModel, cdnow: pd.DataFrame, holdout: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="no column 'duration_holdout'"):
        plot_calibration_vs_holdout(model, cdnow, holdout[["frequency_holdout"]])
    with pytest.raises(DataValidationError, match="missing from the holdout"):
        plot_calibration_vs_holdout(model, cdnow, holdout.iloc[:10])
    with pytest.raises(ConfigError, match="'T' must be > 0, got -1"):
        plot_probability_alive_matrix(model, T=-1)
    with pytest.raises(ConfigError, match="'max_frequency' must be an integer >= 1, got 0"):
        plot_frequency(model, cdnow, max_frequency=0)
    with pytest.raises(DataValidationError, match="increasing period ends"):
        plot_cumulative_purchases(model, cdnow, pd.Series([1.0, 2.0], index=[3.0, 1.0]))
    with pytest.raises(NotFittedError):
        plot_frequency(BetaGeoModel(), cdnow)
    with pytest.raises(TypeError, match="fitted purchase model"):
        plot_frequency("bgnbd", cdnow)  # type: ignore[arg-type]
