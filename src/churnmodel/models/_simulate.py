"""Draw RFM summaries from a BG/NBD (and optionally Gamma-Gamma) population, vectorised.

Used for parameter-recovery tests and benchmarks: a million customers take well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from churnmodel.exceptions import ConfigError
from churnmodel.schemas import days_per_unit

__all__ = ["simulate_bgnbd_summary"]


def simulate_bgnbd_summary(
    n: int,
    params: Mapping[str, float],
    T: ArrayLike,
    *,
    seed: int | np.random.Generator | None = None,
    time_unit: str = "D",
    discrete: bool = True,
    spend_params: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Simulate the RFM summary of ``n`` customers from BG/NBD parameters.

    Each customer draws ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)``; the number of repeat
    purchases they would ever make is ``K ~ Geometric(p)`` (they drop out right after the K-th),
    so the frequency is ``x = min(N, K)`` with ``N ~ Poisson(lambda T)`` the purchases of an
    immortal customer. Given ``N = n``, purchase times are uniform order statistics on
    ``[0, T]``, so the recency is ``T * Beta(x, n - x + 1)``. No loop over customers or purchases.

    Parameters
    ----------
    n
        Number of customers.
    params
        BG/NBD parameters ``r``, ``alpha``, ``a``, ``b``; ``alpha`` in ``time_unit``.
    T
        Age of each customer at the cut-off, in ``time_unit``: a scalar or ``n`` values.
    seed
        Seed or generator.
    time_unit
        "D", "W" or "M"; stored in ``attrs["time_unit"]``.
    discrete
        Record recency at day resolution: purchase times are floored to whole days (and then
        expressed in ``time_unit``), as a summary built from dated transactions would be. ``T``
        must then be a whole number of days. Same-day purchases are not merged.
    spend_params
        Gamma-Gamma parameters ``p``, ``q``, ``v``: adds ``monetary_value``, the mean of the
        ``x`` repeat purchase values (0 for one-time buyers).

    Returns
    -------
    pandas.DataFrame
        ``frequency`` (int), ``recency``, ``T`` (and ``monetary_value``), index ``customer_id``
        (0 .. n - 1), ``attrs["time_unit"]`` set.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy
    Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"'n' must be an integer >= 1, got {n!r}")
    try:
        r, alpha, a, b = (float(params[k]) for k in ("r", "alpha", "a", "b"))
    except KeyError as exc:
        raise ConfigError(f"'params' needs r, alpha, a and b, missing {exc}") from None
    if not all(np.isfinite(v) and v > 0 for v in (r, alpha, a, b)):
        raise ConfigError(f"'params' must all be > 0, got {dict(params)!r}")
    day = days_per_unit(time_unit)
    ages = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(ages)) or np.any(ages < 0):
        raise ConfigError("'T' must be finite and >= 0")
    if discrete and not np.allclose(ages * day, np.round(ages * day)):
        raise ConfigError("with discrete=True, 'T' must be a whole number of days")

    rng = np.random.default_rng(seed)
    lam = rng.gamma(shape=r, scale=1.0 / alpha, size=n)
    p = np.clip(rng.beta(a, b, size=n), 1e-12, 1.0)
    immortal = rng.poisson(lam * ages)
    lifetime_purchases = rng.geometric(p)
    x = np.minimum(immortal, lifetime_purchases)
    recency = np.zeros(n)
    bought = x > 0
    recency[bought] = ages[bought] * rng.beta(x[bought], immortal[bought] - x[bought] + 1)
    if discrete:
        recency = np.minimum(np.floor(recency * day + 1e-9), np.round(ages * day)) / day
        ages = np.round(ages * day) / day
    frame = pd.DataFrame(
        {"frequency": x.astype(np.int64), "recency": recency, "T": ages},
        index=pd.RangeIndex(n, name="customer_id"),
    )
    if spend_params is not None:
        try:
            sp, sq, sv = (float(spend_params[k]) for k in ("p", "q", "v"))
        except KeyError as exc:
            raise ConfigError(f"'spend_params' needs p, q and v, missing {exc}") from None
        nu = rng.gamma(shape=sq, scale=1.0 / sv, size=n)
        money = np.zeros(n)
        # The mean of x Gamma(p, nu) values is Gamma(p x, x nu).
        money[bought] = rng.gamma(shape=sp * x[bought], scale=1.0 / (nu[bought] * x[bought]))
        frame["monetary_value"] = money
    frame.attrs["time_unit"] = time_unit
    return frame
