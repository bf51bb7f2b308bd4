"""Tracking a purchase model over calendar time, and one customer's P(alive) over their history.

* :func:`transaction_tracking` / :func:`plot_transaction_tracking`: the tracking plot of the
  BTYD literature (Fader, Hardie and Lee 2005, figure 3): the calibration customers' repeat
  purchases per week (or day) across the calibration and holdout periods, actual against the
  model's expectation, incremental and cumulative.
* :func:`probability_alive_path` / :func:`plot_probability_alive_path`: a customer's P(alive)
  on every day from their first purchase, given what they had done by then (lifetimes'
  ``plot_history_alive``).

Plot functions take ``ax=None`` and return the Axes (a new Agg Figure's when None; no pyplot).

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy Way:
An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import date2num

from churnmodel.evaluation.diagnostics import _axes, _check_model, _model_name
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import PurchaseRule, daily_repeat_purchases, purchase_days
from churnmodel.features.customer import to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.models import PurchaseModel
from churnmodel.schemas import CUSTOMER_ID, DATE

__all__ = [
    "TRACKING_COLUMNS",
    "plot_probability_alive_path",
    "plot_transaction_tracking",
    "probability_alive_path",
    "transaction_tracking",
]

#: The columns of :func:`transaction_tracking`.
TRACKING_COLUMNS = ("actual", "expected", "actual_cumulative", "expected_cumulative")
_PERIOD_DAYS = {"D": 1, "W": 7}

DateLike = str | date | datetime | pd.Timestamp


def transaction_tracking(
    model: PurchaseModel,
    transactions: TransactionsLike,
    calibration_end: DateLike,
    observation_end: DateLike,
    *,
    period: str = "W",
    purchase: PurchaseRule | None = None,
) -> pd.DataFrame:
    """Return actual and expected repeat purchases per period over calendar time.

    The customers are those with a first purchase day on or before ``calibration_end`` (the
    ones the model was fitted on). Actual: their purchase days after their first, per period.
    Expected: each customer contributes, from their first purchase day ``d_i``, a new
    customer's expected repeat purchases, so the expected cumulative count at the end ``e`` of a
    period is ``sum_i E[X(e - d_i)]`` (:meth:`PurchaseModel.expected_purchases_new_customer`):
    the model's account of the whole history, in-sample before ``calibration_end`` and a
    forecast after it, as in the BTYD literature's tracking plots. (The conditional forecast of
    the holdout given each customer's calibration history is
    :meth:`PurchaseModel.expected_cumulative_purchases`.)

    Periods of ``period`` ("W": 7 days, "D": 1 day) end on ``calibration_end`` and every
    period length before and after it; the first collects everything up to its end and the
    last ends at ``observation_end`` (shorter when the holdout is not whole periods).

    Parameters
    ----------
    model
        A fitted continuous-time purchase model (BG/NBD, MBG/NBD, Pareto/NBD).
    transactions
        Canonical transactions or a :class:`~churnmodel.io.TransactionTable`.
    calibration_end, observation_end
        Last days of the calibration and of the holdout period (inclusive).
    period
        "W" (weeks) or "D" (days).
    purchase
        The purchase rule the model's summary was built with (default ``PurchaseRule()``).

    Returns
    -------
    pandas.DataFrame
        Index ``period_end`` (dates); columns :data:`TRACKING_COLUMNS`: ``actual`` and
        ``expected`` repeat purchases in the period, and their running totals.
        ``attrs``: ``calibration_end``, ``observation_end``, ``period``, ``model``.
    """
    _check_model(model)
    if model.time_unit_ not in ("D", "W", "M"):
        raise TypeError(
            f"'model' must be a continuous-time purchase model, got time unit "
            f"{model.time_unit_!r} ({type(model).__name__})"
        )
    if period not in _PERIOD_DAYS:
        raise ConfigError(f"'period' must be 'W' or 'D', got {period!r}")
    start = pd.Timestamp(to_date(calibration_end, "calibration_end"))
    end = pd.Timestamp(to_date(observation_end, "observation_end"))
    repeat, first = daily_repeat_purchases(transactions, start, end, purchase=purchase)
    if first.empty:
        raise DataValidationError(
            f"no customer made a purchase on or before {start.date().isoformat()}",
            hint="check 'calibration_end' and the purchase rule",
        )
    step = pd.Timedelta(days=_PERIOD_DAYS[period])
    origin = first.index.min()
    before = int((start - origin) // step)
    after = int((end - start) // step)
    ends = [start + k * step for k in range(-before, after + 1)]
    if ends[-1] < end:
        ends.append(end)
    period_ends = pd.DatetimeIndex(ends, name="period_end")
    # Actual: repeat purchase days per period (the first period collects everything before).
    cumulative_days = repeat.cumsum()
    position = cumulative_days.index.searchsorted(period_ends, side="right") - 1
    actual_cumulative = np.where(
        position >= 0, cumulative_days.to_numpy()[np.maximum(position, 0)], 0
    ).astype(np.float64)
    # Expected: sum over first-purchase days d of (customers) * E[X(e - d)], by day offsets.
    days = np.arange(int((end - origin).days) + 1, dtype=np.float64)
    per_customer = model.expected_purchases_new_customer(days, time_unit="D")
    counts = np.zeros(days.size)
    counts[(first.index - origin).days.to_numpy()] = first.to_numpy(dtype=np.float64)
    daily = np.convolve(counts, per_customer)[: days.size]
    expected_cumulative = daily[(period_ends - origin).days.to_numpy()]
    frame = pd.DataFrame(
        {
            "actual": np.diff(actual_cumulative, prepend=0.0),
            "expected": np.diff(expected_cumulative, prepend=0.0),
            "actual_cumulative": actual_cumulative,
            "expected_cumulative": expected_cumulative,
        },
        index=period_ends,
    )
    frame.attrs.update(
        {
            "calibration_end": start.date().isoformat(),
            "observation_end": end.date().isoformat(),
            "period": period,
            "model": _model_name(model),
        }
    )
    return frame


def plot_transaction_tracking(
    tracking: pd.DataFrame, *, cumulative: bool = True, ax: Axes | None = None
) -> Axes:
    """Plot :func:`transaction_tracking`: actual vs expected repeat purchases over time.

    Parameters
    ----------
    tracking
        The frame of :func:`transaction_tracking`.
    cumulative
        Running totals (True) or per-period counts (False).
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    missing = [c for c in TRACKING_COLUMNS if c not in tracking.columns]
    if missing:
        raise DataValidationError(
            f"the tracking frame has no column {missing[0]!r}",
            hint="pass the output of churnmodel.evaluation.transaction_tracking",
        )
    suffix = "_cumulative" if cumulative else ""
    ax = _axes(ax, figsize=(8.0, 4.0))
    dates = tracking.index.to_numpy()
    ax.plot(dates, tracking[f"actual{suffix}"].to_numpy(), label="actual")
    model = str(tracking.attrs.get("model", "model"))
    ax.plot(dates, tracking[f"expected{suffix}"].to_numpy(), linestyle="--", label=model)
    if "calibration_end" in tracking.attrs:
        ax.axvline(
            float(date2num(pd.Timestamp(tracking.attrs["calibration_end"]))),
            color="grey",
            linestyle=":",
            label="end of calibration",
        )
    unit = {"W": "week", "D": "day"}.get(str(tracking.attrs.get("period", "")), "period")
    what = "cumulative repeat purchases" if cumulative else f"repeat purchases per {unit}"
    ax.set_ylabel(what)
    ax.set_title(f"Tracking {what}")
    ax.legend()
    ax.figure.autofmt_xdate()
    return ax


def probability_alive_path(
    model: PurchaseModel,
    transactions: TransactionsLike,
    customer_id: str,
    *,
    end: DateLike | None = None,
    purchase: PurchaseRule | None = None,
) -> pd.DataFrame:
    """Return one customer's P(alive) on every day from their first purchase to ``end``.

    On day ``d``, P(alive) given the customer's history up to that day: ``x`` repeat purchase
    days by ``d``, recency the last one's distance from the first, ``T`` the first's distance
    from ``d`` (what :meth:`PurchaseModel.probability_alive` would say at a cut-off on ``d``).
    It jumps up at every purchase and decays in between: under Pareto/NBD to 1 on the day of
    a purchase; under BG/NBD to ``1 / (1 + a / (b + x - 1))``, because a customer may drop out
    right after buying (and a one-time buyer stays at 1 until the first repeat purchase).

    Parameters
    ----------
    model
        A fitted continuous-time purchase model.
    transactions
        Canonical transactions (or a :class:`~churnmodel.io.TransactionTable`) holding the
        customer's.
    customer_id
        The customer.
    end
        Last day (default: the customer's last purchase day).
    purchase
        When a customer-day counts as a purchase (default ``PurchaseRule()``).

    Returns
    -------
    pandas.DataFrame
        Index ``date`` (daily); ``p_alive`` and ``purchase`` (True on purchase days).
        ``attrs``: ``customer_id``, ``model``.
    """
    _check_model(model)
    if model.time_unit_ not in ("D", "W", "M"):
        raise TypeError(
            f"'model' must be a continuous-time purchase model, got time unit "
            f"{model.time_unit_!r} ({type(model).__name__})"
        )
    days = purchase_days(transactions, [customer_id], until=end, purchase=purchase)
    if days.empty:
        raise DataValidationError(
            f"customer {customer_id!r} has no purchase day"
            + ("" if end is None else f" on or before {to_date(end, 'end').isoformat()}"),
            column=CUSTOMER_ID,
        )
    bought = pd.DatetimeIndex(days[DATE])
    first = bought[0]
    last = pd.Timestamp(to_date(end, "end")) if end is not None else bought[-1]
    calendar = pd.date_range(first, last, freq="D", name=DATE)
    n_by = bought.searchsorted(calendar, side="right")  # purchase days up to each day
    last_by = bought[n_by - 1]
    summary = pd.DataFrame(
        {
            "frequency": n_by - 1,
            "recency": (last_by - first).days.to_numpy(dtype=np.float64),
            "T": (calendar - first).days.to_numpy(dtype=np.float64),
        },
        index=calendar,
    )
    summary.attrs["time_unit"] = "D"
    alive = model.probability_alive(summary).to_numpy()
    frame = pd.DataFrame({"p_alive": alive, "purchase": calendar.isin(bought)}, index=calendar)
    frame.attrs.update({"customer_id": str(customer_id), "model": _model_name(model)})
    return frame


def plot_probability_alive_path(path: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Plot :func:`probability_alive_path`: P(alive) over time, purchases marked.

    Parameters
    ----------
    path
        The frame of :func:`probability_alive_path`.
    ax
        Axes to draw on; a new Figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    for column in ("p_alive", "purchase"):
        if column not in path.columns:
            raise DataValidationError(
                f"the P(alive) path has no column {column!r}",
                hint="pass the output of churnmodel.evaluation.probability_alive_path",
            )
    ax = _axes(ax, figsize=(8.0, 3.5))
    dates = path.index.to_numpy()
    ax.plot(dates, path["p_alive"].to_numpy(), label="P(alive)")
    bought = path.index[path["purchase"].to_numpy(dtype=bool)].to_numpy()
    for day in bought:
        ax.axvline(float(date2num(day)), color="grey", linestyle=":", linewidth=0.8)
    ax.plot(bought, np.ones(bought.size), "v", color="black", label="purchase")
    ax.set_ylim(-0.02, 1.08)
    ax.set_ylabel("P(alive)")
    customer = path.attrs.get("customer_id", "")
    model = path.attrs.get("model", "")
    ax.set_title(f"P(alive) of customer {customer} ({model})".replace(" ()", ""))
    ax.legend(loc="lower left")
    ax.figure.autofmt_xdate()
    return ax
