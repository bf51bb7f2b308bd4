from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from churnmodel.evaluation import (
    plot_calibration,
    plot_cumulative_gains,
    plot_lift,
    plot_permutation_importance,
    plot_roc,
    plot_value_risk_matrix,
    value_risk_matrix,
)
from churnmodel.exceptions import ConfigError, DataValidationError

N = 400


@pytest.fixture(scope="module")
def data() -> dict[str, pd.Series]:
    rng = np.random.default_rng(0)
    ids = pd.Index([f"C{i:04d}" for i in range(N)], name="customer_id")
    y = pd.Series(rng.integers(0, 2, N), index=ids)
    prob = pd.Series(1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1, N)))), index=ids)
    return {
        "y": y,
        "prob": prob,
        "other": pd.Series(rng.random(N), index=ids),
        "days": pd.Series((rng.integers(0, 50, N) + 20 * y).astype(float), index=ids),
        "spend": pd.Series(rng.gamma(1.0, 40.0, N) * (rng.random(N) < 0.6), index=ids),
        "clv": pd.Series(rng.gamma(1.0, 100.0, N), index=ids),
    }


@pytest.fixture(autouse=True)
def no_pyplot_figures() -> Iterator[None]:
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


def _renders(ax: Axes) -> None:
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_calibration_draws_one_line_per_model_plus_diagonal(data: dict[str, pd.Series]) -> None:
    ax = plot_calibration(data["y"], {"classifier": data["prob"], "bgnbd": data["other"]})
    assert isinstance(ax, Axes) and isinstance(ax.figure, Figure)
    assert len(ax.lines) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "perfectly calibrated",
        "classifier",
        "bgnbd",
    ]
    _renders(ax)


def test_calibration_refuses_non_probability(data: dict[str, pd.Series]) -> None:
    with pytest.raises(DataValidationError, match="probabilities"):
        plot_calibration(data["y"], {"recency": data["days"]})


@pytest.mark.parametrize("plot", [plot_cumulative_gains, plot_lift, plot_roc])
def test_curve_plots_draw_one_line_per_score_plus_reference(
    data: dict[str, pd.Series], plot: Callable[..., Axes]
) -> None:
    scores = {"classifier": data["prob"], "recency": data["days"], "random": data["other"]}
    ax = plot(data["y"], scores)
    assert len(ax.lines) == 4
    _renders(ax)


def test_gains_curve_ends_at_one_and_lift_at_one(data: dict[str, pd.Series]) -> None:
    gains = plot_cumulative_gains(data["spend"], data["clv"].rename("clv"))
    x, y = gains.lines[1].get_data()
    assert x[0] == 0 and y[0] == 0 and y[-1] == pytest.approx(1.0)
    lift = plot_lift(data["y"], {"classifier": data["prob"]})
    _, values = lift.lines[1].get_data()
    assert values[-1] == pytest.approx(1.0)  # targeting everyone reaches the base rate


def test_roc_legend_shows_auc(data: dict[str, pd.Series]) -> None:
    ax = plot_roc(data["y"], {"classifier": data["prob"]})
    assert ax.get_legend().get_texts()[1].get_text().startswith("classifier (AUC 0.")


def test_plots_draw_on_a_given_axes(data: dict[str, pd.Series]) -> None:
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plot_roc(data["y"], {"m": data["prob"]}, ax=axes[0]) is axes[0]
    assert plot_calibration(data["y"], {"m": data["prob"]}, ax=axes[1]) is axes[1]
    assert len(fig.axes) == 2


def test_value_risk_matrix_plot_has_a_cell_label_per_cell(data: dict[str, pd.Series]) -> None:
    cells = value_risk_matrix(data["clv"], data["prob"])
    ax = plot_value_risk_matrix(cells)
    assert len(ax.images) == 1
    assert len(ax.texts) == 40
    assert len(ax.figure.axes) == 2  # heatmap and colour bar
    image = ax.images[0].get_array()
    assert image.shape == (10, 4)
    # rows are deciles 1..10 bottom-up, columns risk bands low..very high
    expected = cells.pivot_table(
        index="clv_decile", columns="risk_band", values="value_at_risk", observed=False
    )
    np.testing.assert_allclose(image, expected.to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["low", "medium", "high", "very high"]
    counts = {int(t.get_text().split("\n")[0].replace(",", "")) for t in ax.texts}
    assert counts <= set(cells["n_customers"])
    _renders(ax)
    bare = plot_value_risk_matrix(cells, color_by="n_customers", colorbar=False)
    assert len(bare.figure.axes) == 1
    with pytest.raises(DataValidationError, match="lacks"):
        plot_value_risk_matrix(cells.drop(columns="value_at_risk"))
    with pytest.raises(ConfigError, match="color_by"):
        plot_value_risk_matrix(cells, color_by="p")  # type: ignore[arg-type]


def test_permutation_importance_bars_sorted_largest_on_top() -> None:
    importances = pd.Series({"recency": 0.12, "frequency": 0.30, "T": -0.01, "monetary": 0.05})
    std = pd.Series({"recency": 0.01, "frequency": 0.02, "T": 0.005, "monetary": 0.01})
    ax = plot_permutation_importance(importances, std=std)
    assert len(ax.patches) == 4
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["T", "monetary", "recency", "frequency"]  # bottom-up: largest on top
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == sorted(widths)
    _renders(ax)
    top2 = plot_permutation_importance(importances, top_n=2)
    assert [t.get_text() for t in top2.get_yticklabels()] == ["recency", "frequency"]
    with pytest.raises(DataValidationError, match="std"):
        plot_permutation_importance(importances, std=std.drop("T"))
    with pytest.raises(DataValidationError, match="non-empty"):
        plot_permutation_importance(pd.Series(dtype=float))


def test_backtest_draws_one_line_per_named_row_over_the_cutoffs() -> None:
    from churnmodel.evaluation import plot_backtest

    table = pd.DataFrame(
        {
            "cutoff": pd.to_datetime(["2023-01-31", "2023-03-02", "2023-01-31", "2023-03-02"]),
            "task": "lapse",
            "name": ["classifier", "classifier", "baseline_recency", "baseline_recency"],
            "roc_auc": [0.70, 0.72, 0.68, 0.69],
        }
    )
    ax = plot_backtest(table, names={"classifier": "model", "baseline_recency": "recency"})
    assert [len(line.get_xdata()) for line in ax.lines] == [2, 2]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["model", "recency"]
    _renders(ax)
    with pytest.raises(ConfigError, match="columns"):
        plot_backtest(table.drop(columns="cutoff"))
    with pytest.raises(DataValidationError, match="no 'spend' rows"):
        plot_backtest(table, task="spend")
