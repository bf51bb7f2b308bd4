"""Diagnostic plots of the BG/NBD-family purchase models (model against data).

Every function takes ``ax=None`` and returns the matplotlib Axes it drew on. Without an Axes it
draws on a new :class:`matplotlib.figure.Figure` with an Agg canvas (reach it as ``ax.figure``,
save it with ``ax.figure.savefig(path)``); nothing goes through ``matplotlib.pyplot``, so no
global figure is created or left open.

* :func:`plot_frequency`: customers by number of repeat purchases in the calibration period,
  actual against the model's expectation.
* :func:`plot_calibration_vs_holdout`: mean holdout purchases by calibration frequency.
* :func:`plot_expected_purchases_matrix`: expected purchases in a horizon by frequency x recency.
* :func:`plot_probability_alive_matrix`: P(alive) by frequency x recency.
* :func:`plot_cumulative_purchases`: cumulative repeat purchases over the holdout period.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy Way:
An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284 (figures 1-4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.models import PurchaseModel

__all__ = [
    "holdout_by_frequency",
    "plot_calibration_vs_holdout",
    "plot_cumulative_purchases",
    "plot_expected_purchases_matrix",
    "plot_frequency",
    "plot_probability_alive_matrix",
]

_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}
_ACTUAL = "actual"


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.5)) -> Axes:
    if ax is not None:
        return ax
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure.add_subplot()


def _check_model(model: PurchaseModel) -> None:
    if not isinstance(model, PurchaseModel):
        raise TypeError(f"'model' must be a fitted purchase model, got {type(model).__name__}")
    model._check_fitted()


def _check_count(name: str, value: int) -> int:
    if not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name!r} must be an integer >= 1, got {value!r}")
    return int(value)


_PAPER_NAMES = {
    "BetaGeoModel": "BG/NBD",
    "ModifiedBetaGeoModel": "MBG/NBD",
    "ParetoNBDModel": "Pareto/NBD",
}


def _model_name(model: PurchaseModel) -> str:
    name = type(model).__name__
    return _PAPER_NAMES.get(name, name.removesuffix("Model"))


def plot_frequency(
    model: PurchaseModel,
    summary: pd.DataFrame,
    *,
    max_frequency: int = 7,
    time_unit: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Bar chart of customers by repeat purchases in the calibration period: actual vs model.

    The model bar for ``k`` is the sum over customers of P(X(T_i) = k), each customer over their
    own age ``T_i``; the last bar collects ``max_frequency`` or more.

    Parameters
    ----------
    model
        A fitted purchase model.
    summary
        The calibration RFM summary.
    max_frequency
        Bars ``0 .. max_frequency - 1`` and ``max_frequency+``.
    time_unit
        Unit of the summary if ``summary.attrs`` has no ``"time_unit"``.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check_model(model)
    top = _check_count("max_frequency", max_frequency)
    expected = model.frequency_distribution(summary, max_frequency=top, time_unit=time_unit).sum()
    counts = np.minimum(summary["frequency"].to_numpy(dtype=np.int64), top)
    actual = np.bincount(counts, minlength=top + 1)
    ax = _axes(ax)
    positions = np.arange(top + 1)
    width = 0.4
    ax.bar(positions - width / 2, actual, width, label=_ACTUAL)
    ax.bar(positions + width / 2, expected.to_numpy(), width, label=_model_name(model))
    ax.set_xticks(positions, list(expected.index))
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("customers")
    ax.set_title("Frequency of repeat purchases")
    ax.legend()
    return ax


def holdout_by_frequency(
    model: PurchaseModel,
    calibration: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    max_frequency: int = 7,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency: actual vs the model's conditional mean.

    Parameters
    ----------
    model
        A purchase model fitted on ``calibration``.
    calibration
        The calibration RFM summary.
    holdout
        Indexed like ``calibration``: ``frequency_holdout`` (purchases in the holdout period)
        and ``duration_holdout`` (its length, in the summary's time unit), as
        :func:`churnmodel.features.calibration_and_holdout_summary` gives them.
    max_frequency
        Groups ``0 .. max_frequency - 1`` and ``max_frequency+``.
    time_unit
        Unit of the summary if ``calibration.attrs`` has no ``"time_unit"``.

    Returns
    -------
    pandas.DataFrame
        Index ``frequency`` (``"0"``, ``"1"``, ... ``"7+"``); columns ``customers``,
        ``actual`` and ``expected`` (mean holdout purchases per customer of the group).
    """
    _check_model(model)
    top = _check_count("max_frequency", max_frequency)
    hint = "pass a DataFrame indexed like the calibration summary with both columns"
    for column in ("frequency_holdout", "duration_holdout"):
        if column not in holdout.columns:
            raise DataValidationError(
                f"the holdout frame has no column {column!r}", column=column, hint=hint
            )
    missing = calibration.index.difference(holdout.index)
    if len(missing) > 0:
        raise DataValidationError(
            f"{len(missing)} calibration customers are missing from the holdout frame "
            f"(first: {missing[0]!r})",
            hint=hint,
        )
    aligned = holdout.loc[calibration.index]
    duration = aligned["duration_holdout"].to_numpy(dtype=np.float64)
    predicted = np.zeros(len(calibration))
    for length in np.unique(duration[duration > 0]):
        rows = duration == length
        values = model.expected_purchases(calibration, float(length), time_unit=time_unit)
        predicted[rows] = values.to_numpy()[rows]
    group = np.minimum(calibration["frequency"].to_numpy(dtype=np.int64), top)
    frame = pd.DataFrame(
        {
            "group": group,
            _ACTUAL: aligned["frequency_holdout"].to_numpy(dtype=np.float64),
            "expected": predicted,
        }
    )
    table = frame.groupby("group").agg(
        customers=(_ACTUAL, "size"), actual=(_ACTUAL, "mean"), expected=("expected", "mean")
    )
    table.index = pd.Index(
        [str(k) if k < top else f"{top}+" for k in table.index], name="frequency"
    )
    return table


def plot_calibration_vs_holdout(
    model: PurchaseModel,
    calibration: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    max_frequency: int = 7,
    time_unit: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Mean holdout purchases by calibration frequency: actual vs the model's conditional mean.

    The table is :func:`holdout_by_frequency` (same arguments).

    Parameters
    ----------
    model
        A purchase model fitted on ``calibration``.
    calibration
        The calibration RFM summary.
    holdout
        Indexed like ``calibration``: ``frequency_holdout`` (purchases in the holdout period)
        and ``duration_holdout`` (its length, in the summary's time unit).
    max_frequency
        Groups ``0 .. max_frequency - 1`` and ``max_frequency+``.
    time_unit
        Unit of the summary if ``calibration.attrs`` has no ``"time_unit"``.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    means = holdout_by_frequency(
        model, calibration, holdout, max_frequency=max_frequency, time_unit=time_unit
    )
    labels = list(means.index)
    ax = _axes(ax)
    ax.plot(labels, means[_ACTUAL].to_numpy(), marker="o", label=_ACTUAL)
    ax.plot(
        labels,
        means["expected"].to_numpy(),
        marker="s",
        linestyle="--",
        label=_model_name(model),
    )
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean purchases in the holdout period")
    ax.set_title("Calibration vs holdout purchases")
    ax.legend()
    return ax


def _grid_matrix(
    model: PurchaseModel,
    *,
    T: float,
    max_frequency: int,
    n_recency: int,
    time_unit: str | None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, str]:
    """Return hypothetical customers of age ``T`` on a frequency x recency grid."""
    _check_model(model)
    unit = time_unit or model.time_unit_
    if not np.isfinite(T) or T <= 0:
        raise ConfigError(f"'T' must be > 0, got {T!r}")
    top = _check_count("max_frequency", max_frequency)
    steps = _check_count("n_recency", n_recency)
    freqs = np.arange(top + 1)
    recencies = np.linspace(0.0, float(T), steps + 1)
    x, t_x = np.meshgrid(freqs, recencies, indexing="ij")
    grid = pd.DataFrame({"frequency": x.ravel(), "recency": t_x.ravel(), "T": float(T)})
    grid.loc[grid["frequency"] == 0, "recency"] = 0.0
    grid.attrs["time_unit"] = unit
    return grid, freqs, recencies, unit


def _heatmap(
    ax: Axes, values: np.ndarray, freqs: np.ndarray, recencies: np.ndarray, unit: str, label: str
) -> Axes:
    shown = values.copy()
    shown[0, 1:] = np.nan  # a customer without repeat purchases has recency 0
    step = recencies[1] - recencies[0] if recencies.size > 1 else 1.0
    image = ax.imshow(
        shown,
        origin="lower",
        aspect="auto",
        extent=(recencies[0] - step / 2, recencies[-1] + step / 2, -0.5, freqs[-1] + 0.5),
        interpolation="nearest",
    )
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel(f"recency ({_UNIT_NAMES.get(unit, unit)} from first to last purchase)")
    ax.set_ylabel("repeat purchases (frequency)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def plot_expected_purchases_matrix(
    model: PurchaseModel,
    *,
    horizon: float,
    T: float,
    max_frequency: int = 20,
    n_recency: int = 40,
    time_unit: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of expected purchases in the next ``horizon`` by frequency x recency.

    For a hypothetical customer of age ``T``; the frequency-0 row exists only at recency 0.

    Parameters
    ----------
    model
        A fitted purchase model.
    horizon
        Future period, in ``time_unit``.
    T
        Age of the hypothetical customers (their recency runs from 0 to ``T``), in ``time_unit``.
    max_frequency
        Largest frequency shown.
    n_recency
        Number of recency steps between 0 and ``T``.
    time_unit
        Unit of ``horizon`` and ``T``; default: the model's.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    grid, freqs, recencies, unit = _grid_matrix(
        model, T=T, max_frequency=max_frequency, n_recency=n_recency, time_unit=time_unit
    )
    values = model.expected_purchases(grid, horizon).to_numpy().reshape(freqs.size, -1)
    ax = _axes(ax)
    _heatmap(ax, values, freqs, recencies, unit, "expected purchases")
    ax.set_title(
        f"Expected purchases in the next {horizon:g} {_UNIT_NAMES.get(unit, unit)} (T = {T:g})"
    )
    return ax


def plot_probability_alive_matrix(
    model: PurchaseModel,
    *,
    T: float,
    max_frequency: int = 20,
    n_recency: int = 40,
    time_unit: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of P(alive) by frequency x recency for a hypothetical customer of age ``T``.

    Parameters
    ----------
    model
        A fitted purchase model.
    T
        Age of the hypothetical customers, in ``time_unit``.
    max_frequency
        Largest frequency shown.
    n_recency
        Number of recency steps between 0 and ``T``.
    time_unit
        Unit of ``T``; default: the model's.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    grid, freqs, recencies, unit = _grid_matrix(
        model, T=T, max_frequency=max_frequency, n_recency=n_recency, time_unit=time_unit
    )
    values = model.probability_alive(grid).to_numpy().reshape(freqs.size, -1)
    ax = _axes(ax)
    _heatmap(ax, values, freqs, recencies, unit, "P(alive)")
    ax.set_title(f"Probability alive (T = {T:g} {_UNIT_NAMES.get(unit, unit)})")
    return ax


def plot_cumulative_purchases(
    model: PurchaseModel,
    calibration: pd.DataFrame,
    holdout_purchases: pd.Series,
    *,
    time_unit: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Cumulative repeat purchases over the holdout period: actual vs the model.

    Parameters
    ----------
    model
        A purchase model fitted on ``calibration``.
    calibration
        The calibration RFM summary (the customers whose purchases are tracked).
    holdout_purchases
        Actual repeat purchases per period by those customers, indexed by the period end
        measured from the cut-off in the summary's time unit (daily series: 1, 2, 3 ... days;
        weekly: 1, 2, 3 ... weeks, or 1/7, 2/7, ... for a daily series and a weekly summary).
    time_unit
        Unit of the summary if ``calibration.attrs`` has no ``"time_unit"``.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check_model(model)
    if not isinstance(holdout_purchases, pd.Series) or holdout_purchases.empty:
        raise DataValidationError(
            "'holdout_purchases' must be a non-empty pandas Series of purchases per period",
            hint="index: period end measured from the cut-off, in the summary's time unit",
        )
    periods = np.asarray(holdout_purchases.index, dtype=np.float64)
    actual = holdout_purchases.to_numpy(dtype=np.float64)
    if not (np.all(periods > 0) and np.all(np.diff(periods) > 0)):
        raise DataValidationError(
            "the index of 'holdout_purchases' must be increasing period ends > 0, "
            f"got {periods[:5].tolist()}...",
            hint="index: period end measured from the cut-off, in the summary's time unit",
        )
    expected = model.expected_cumulative_purchases(calibration, periods, time_unit=time_unit)
    unit = calibration.attrs.get("time_unit", time_unit) or model.time_unit_
    ax = _axes(ax)
    ax.plot(periods, np.cumsum(actual), label=_ACTUAL)
    ax.plot(periods, expected.to_numpy(), linestyle="--", label=_model_name(model))
    ax.set_xlabel(f"{_UNIT_NAMES.get(unit, unit)} since the cut-off")
    ax.set_ylabel("cumulative repeat purchases")
    ax.set_title("Tracking cumulative repeat purchases in the holdout")
    ax.legend()
    return ax
