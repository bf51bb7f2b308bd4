"""A change of regime: customers buy less and leave sooner from a given day on.

A model is trained on one regime and served while the world moves on. To test monitoring, a
simulated log (:func:`churnmodel.datasets.simulate.simulate`) can be changed from a day on:
:func:`change_regime` multiplies every customer's purchase rate by ``purchase_rate_factor``
(<= 1) and their dropout rate by ``dropout_rate_factor`` (>= 1) after that day, and returns
the log the new regime would have produced. The simulator itself is not touched: the same
arguments give the same log as before, and the change is applied to its output.

How the new regime is drawn, exactly for a Poisson process and an exponential dropout:

* **dropout**: a customer alive at the change has used part of their exponential lifetime;
  under a dropout rate ``g`` times higher, what is left of it runs ``g`` times faster, so the
  new dropout is ``day + (old dropout - day) / g`` (a customer who outlived the simulated
  window first gets the rest of their lifetime drawn, the exponential being memoryless).
  Promotion buyers, who leave right after their purchase, are unchanged;
* **purchases**: after the change, each repeat purchase is kept with probability ``f`` (the
  thinning of a Poisson process at rate ``lambda`` is one at rate ``f lambda``), and nothing
  is bought after the new dropout. A customer's first purchase is always kept (customers are
  still acquired as before); refunds after the change are thinned the same way (a refund
  may follow a dropout, as in the simulator).

``customers`` keeps the rates of the old regime and gets the new ``death``;
``params["regime_change"]`` records the change. The truth of a scenario built on a changed
log (``p_lapse``) assumes the old rates and no longer applies after the change.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from churnmodel.datasets.simulate import DateLike, SimulatedLog, _alive_at, _to_day
from churnmodel.exceptions import ConfigError
from churnmodel.schemas import CUSTOMER_ID, ORDER_ID, TIMESTAMP

__all__ = ["change_regime"]

# A stream of its own, so the change never reuses the simulator's draws.
_STREAM = 0x52454749


def _factor(name: str, value: object, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name!r} must be a number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high) or number == 0:
        raise ConfigError(f"{name!r} must be in ({low:g}, {high:g}], got {value!r}")
    return number


def change_regime(
    log: SimulatedLog,
    *,
    day: DateLike,
    purchase_rate_factor: float = 1.0,
    dropout_rate_factor: float = 1.0,
    seed: int = 0,
) -> SimulatedLog:
    """Return ``log`` as it would be had customers changed their behaviour after ``day``.

    Parameters
    ----------
    log
        A simulated log.
    day
        The last day of the old regime (inside the log's window, before its last day).
    purchase_rate_factor
        Multiplies every purchase rate after ``day``; in ``(0, 1]``.
    dropout_rate_factor
        Multiplies every dropout rate after ``day``; ``>= 1``.
    seed
        Seed of the thinning and of the lifetimes drawn for customers who outlived the window.

    Returns
    -------
    SimulatedLog
        The changed transactions (same columns, order and ids; rows removed only) and truth.

    Raises
    ------
    ConfigError
        If ``day`` is outside the window or a factor is out of range.
    """
    f = _factor("purchase_rate_factor", purchase_rate_factor, low=0.0, high=1.0)
    g = _factor("dropout_rate_factor", dropout_rate_factor, low=1.0, high=1e6)
    last = _to_day("day", day)
    if not log.start <= last < log.end:
        raise ConfigError(
            f"'day' must be within {log.start.date()} .. {log.end.date()} and before its "
            f"last day, got {last.date()}"
        )
    rng = np.random.default_rng([int(seed), _STREAM])
    change = last + pd.Timedelta(days=1)
    window_end = log.end + pd.Timedelta(days=1)
    customers = log.customers.copy()
    first, death = customers["first_purchase"], customers["death"]
    tz = getattr(first.dtype, "tz", None)
    at = pd.Timestamp(change).tz_localize(tz) if tz is not None else change
    until = pd.Timestamp(window_end).tz_localize(tz) if tz is not None else window_end
    mu = customers["dropout_rate"].to_numpy(dtype=float)
    alive = (
        (first < at).to_numpy()
        & (death.isna() | (death > at)).to_numpy()
        & (customers["segment"] != "promo").to_numpy()
        & (mu > 0)
        & (g > 1.0)
    )
    left = ((death - at) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    beyond = np.isnan(left)
    extra = rng.exponential(1.0, len(customers)) / np.where(mu > 0, mu, np.inf)
    span = (until - at) / pd.Timedelta(days=1)
    left = np.where(beyond, span + extra, left)
    # a dropout after the window is not in the log (NaT): cap before converting to a date
    left = np.minimum(left / g, span + 1.0)
    # whole seconds, rounded up like the simulator's dropouts
    new_death = pd.Series(at + pd.to_timedelta(left, unit="D"), index=customers.index).dt.ceil("s")
    changed = death.where(~alive, new_death)
    customers["death"] = changed.where(changed.lt(until)).astype(death.dtype)

    rows = log.transactions
    after = (rows[TIMESTAMP] >= at).to_numpy()
    purchase = rows[ORDER_ID].str.startswith("O").to_numpy(dtype=bool)
    owner_death = customers["death"].reindex(rows[CUSTOMER_ID]).to_numpy()
    dead = after & purchase & pd.notna(owner_death)
    dead[dead] = rows[TIMESTAMP].to_numpy()[dead] >= owner_death[dead]
    owner_first = customers["first_purchase"].reindex(rows[CUSTOMER_ID]).to_numpy()
    first_row = rows[TIMESTAMP].to_numpy() == owner_first
    thinned = after & ~first_row & (rng.random(len(rows)) >= f)
    kept = rows.loc[~(dead | thinned)].reset_index(drop=True)
    purchases = kept[kept[ORDER_ID].str.startswith("O")]
    customers["n_purchases"] = (
        purchases.groupby(CUSTOMER_ID).size().reindex(customers.index, fill_value=0).astype("int64")
    )
    params = {
        **log.params,
        "regime_change": {
            "day": str(last.date()),
            "purchase_rate_factor": f,
            "dropout_rate_factor": g,
            "seed": int(seed),
        },
    }
    alive_at_cutoff = (
        None if log.cutoff is None else _alive_at(customers, log.start, log.end, log.cutoff)
    )
    return replace(
        log, transactions=kept, customers=customers, params=params, alive=alive_at_cutoff
    )
