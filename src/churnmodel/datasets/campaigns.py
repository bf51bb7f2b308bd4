"""Simulated retention campaigns with a known, heterogeneous true effect.

:func:`add_campaigns` takes a :class:`~churnmodel.datasets.scenarios.Scenario` and runs
campaigns on it: on each campaign day a random share of the customers known by then is
selected, a random share of those is held out as a control group (selected, not contacted),
and every contacted customer responds according to the true effect below. The log changes
accordingly (response purchases are added, put-off customers stop buying) and the result
carries the contact log, so that uplift models and retention plans can be tested against
ground truth. The log without campaigns is left exactly as it was: the campaigns draw from
their own random stream (``numpy.random.SeedSequence([seed, 18])``), never from the
simulator's.

The true effect (designed before anything was measured; ``docs/simulator.md``)
-----------------------------------------------------------------------------

A contact with action ``a`` on day ``d`` (at the start of the day) to customer ``i``, with a
campaign window of ``W`` days (default 90):

* **Lost causes.** A customer who has dropped out by ``d`` (or is a one-time promotion
  buyer) never responds: no effect.
* **Sure things.** A contact only converts a customer who would *not* have bought in
  ``[d, d + W)`` on their own: if the customer buys in the window anyway, the contact
  changes nothing. A frequent buyer is therefore worth little to contact.
* **Persuadables.** An alive customer who would not have bought in the window makes one
  extra purchase in it with probability ``RESPONSE[a] * timing`` (``RESPONSE``: retain
  0.25, reward 0.20, win_back 0.30, seasonal_reminder 0.35, nurture 0.25), spending a draw
  of their own Gamma-Gamma spend (mean ``mean_spend``). ``timing`` is 1, except for a
  seasonal customer contacted outside ``[season start - 35 days, season start + 14 days]``
  of their own season: 0.1 (in the off-season the reminder is forgotten by the time they
  shop). So the expected incremental purchase probability of an alive customer is
  ``RESPONSE[a] * timing * P0``, with ``P0`` the probability of no purchase in the window
  without a contact, and the expected incremental spend that times ``mean_spend``.
* **Sleeping dogs.** A customer who has already been contacted ``OVER_CONTACT`` (2) or
  more times in the 90 days before ``d`` is put off with probability ``PUT_OFF`` (0.25):
  they drop out at ``d`` (no response, no further purchases). Expected loss in the window:
  ``PUT_OFF`` times their expected spend in it.

The expected incremental spend of a contact within the window is therefore, for a customer
alive at ``d``::

    (1 - rho) * RESPONSE[a] * timing * P0 * mean_spend - rho * E[N_W] * mean_spend

with ``rho = PUT_OFF`` when over-contacted (else 0) and ``E[N_W]`` the expected purchases in
the window without a contact (given alive at ``d``, with dropout during the window); 0 for
a customer who is not alive. :meth:`CampaignScenario.true_effect` computes it from the
customers' hidden parameters, for any action and day: the ceiling of any targeting rule.

Response purchases come uniformly in the first 30 days after the contact, or, for a
seasonal customer contacted in time, uniformly in the part of their season inside the
window. They are not refunded. A put-off customer's rows from ``d`` on are removed (refunds
of earlier purchases falling after ``d`` included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType
from typing import Any, Final, cast

import numpy as np
import pandas as pd

from churnmodel.datasets.scenarios import Scenario
from churnmodel.datasets.simulate import DateLike, _to_day
from churnmodel.exceptions import ConfigError
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, ORDER_ID, RETENTION_ACTIONS, TIMESTAMP

__all__ = [
    "CAMPAIGN_ACTIONS",
    "OVER_CONTACT",
    "PUT_OFF",
    "RESPONSE",
    "Campaign",
    "CampaignScenario",
    "add_campaigns",
    "monthly_campaigns",
]

#: Actions a campaign can use (every plan action but ``do_not_contact``).
CAMPAIGN_ACTIONS: Final = tuple(a for a in RETENTION_ACTIONS if a != "do_not_contact")

#: True conversion probability of a contact, by action, for an alive customer who would
#: not have bought in the window on their own (module docstring).
RESPONSE: Final[Mapping[str, float]] = MappingProxyType(
    {
        "retain": 0.25,
        "reward": 0.20,
        "win_back": 0.30,
        "seasonal_reminder": 0.35,
        "nurture": 0.25,
    }
)
#: Contacts in the 90 days before a contact from which on a customer may be put off.
OVER_CONTACT: Final = 2
#: Probability that an over-contacted customer is put off (drops out) by a contact.
PUT_OFF: Final = 0.25
#: Days of the over-contact look-back.
OVER_CONTACT_DAYS: Final = 90
#: Timing factor of a seasonal customer contacted outside their season's run-up.
OFF_SEASON_TIMING: Final = 0.1
#: A seasonal customer's contact is timely from this many days before their season starts ...
SEASON_RUN_UP_DAYS: Final = 35
#: ... to this many days after.
SEASON_LATE_DAYS: Final = 14
_RESPONSE_DAYS: Final = 30
_ORDER_BASE: Final = 90_000_000_000  # response orders: "O9..." (above any simulated number)


@dataclass(frozen=True)
class Campaign:
    """One campaign: on ``day``, ``action`` to a random ``share`` of the known customers.

    ``control_share`` of the selected customers are held out (not contacted) at random.
    """

    day: DateLike
    action: str
    share: float = 0.3
    control_share: float = 0.2


def monthly_campaigns(
    first: DateLike,
    last: DateLike,
    *,
    actions: Sequence[str] = CAMPAIGN_ACTIONS,
    share: float = 0.3,
    control_share: float = 0.2,
) -> list[Campaign]:
    """Return one campaign on the first of each month from ``first`` to ``last``.

    The actions take turns in the order given.
    """
    days = pd.date_range(_to_day("first", first), _to_day("last", last), freq="MS")
    return [
        Campaign(
            day=d.date(), action=actions[k % len(actions)], share=share, control_share=control_share
        )
        for k, d in enumerate(days)
    ]


@dataclass(frozen=True, eq=False)
class CampaignScenario:
    """A scenario whose log went through campaigns, with the contact log and the true effect.

    Attributes
    ----------
    scenario
        The scenario with the campaigns' effects in its log: ``transactions`` and ``future``
        hold the response purchases (order ids ``"O9..."``) and lack the rows of put-off
        customers after their contact; ``customers["death"]`` moved to the contact for
        them; :meth:`~churnmodel.datasets.scenarios.Scenario.truth` reads the changed log.
    contacts
        One row per selected customer and campaign: ``customer_id``, ``contact_date``,
        ``action``, ``control`` (True: held out, not contacted), and the truth behind it:
        ``alive`` (at the contact), ``p_no_purchase`` (``P0``), ``put_off``,
        ``responded``, ``response_spend``.
    campaigns
        The campaigns run.
    window_days
        The campaign window ``W``.
    """

    scenario: Scenario
    contacts: pd.DataFrame = field(repr=False)
    campaigns: tuple[Campaign, ...]
    window_days: int

    def contact_log(self) -> pd.DataFrame:
        """Return the contact log a user would have.

        Columns ``customer_id``, ``contact_date``, ``action``, ``control``.
        """
        return self.contacts.loc[:, [CUSTOMER_ID, "contact_date", "action", "control"]].copy()

    def true_effect(
        self,
        customer_ids: Sequence[str] | pd.Index,
        actions: Sequence[str] | str,
        days: Sequence[DateLike] | DateLike,
        *,
        window_days: int | None = None,
    ) -> pd.DataFrame:
        """Return the expected incremental purchase probability and spend of contacts.

        Row ``k`` is a contact of ``customer_ids[k]`` with ``actions[k]`` on ``days[k]``
        (scalars apply to every row), counted over ``window_days`` (default: the
        campaigns' window); the formula is the module docstring's, from the customers'
        hidden parameters and their state (alive, earlier contacts of the campaigns) on the
        day. Days may lie after the scenario's ``end`` (within its simulated period).

        Returns
        -------
        pandas.DataFrame
            ``customer_id``, ``action``, ``contact_date``, ``alive``, ``p_no_purchase``,
            ``expected_purchases`` (without contact), ``over_contacted``, ``uplift_purchase``
            and ``uplift_spend``, in the order of the input.
        """
        ids = pd.Index(np.asarray(customer_ids).astype(str))
        n = len(ids)
        acts = np.asarray([actions] * n if isinstance(actions, str) else actions, dtype=object)
        if isinstance(days, str | date | pd.Timestamp | np.datetime64):
            when = pd.DatetimeIndex([_to_day("days", days)] * n)
        else:
            when = pd.DatetimeIndex([_to_day("days", d) for d in days])
        if len(acts) != n or len(when) != n:
            raise ConfigError("customer_ids, actions and days must have the same length")
        unknown = sorted(set(acts) - set(CAMPAIGN_ACTIONS))
        if unknown:
            raise ConfigError(f"unknown action(s) {unknown}; actions: {list(CAMPAIGN_ACTIONS)}")
        missing = ids[~ids.isin(self.scenario.customers.index)]
        if len(missing):
            raise ConfigError(f"unknown customer(s) {list(missing[:5])}")
        w = int(window_days or self.window_days)
        out = pd.DataFrame(
            {CUSTOMER_ID: ids, "action": acts, "contact_date": when}, index=np.arange(n)
        )
        for col in ("alive", "over_contacted"):
            out[col] = False
        for col in ("p_no_purchase", "expected_purchases", "uplift_purchase", "uplift_spend"):
            out[col] = 0.0
        sent = self.contacts[~self.contacts["control"]]
        for key, rows in out.groupby("contact_date", sort=True):
            day = pd.Timestamp(cast(Any, key))
            info = self.scenario.customers.reindex(rows[CUSTOMER_ID])
            state = _state(info, self.scenario.params["simulate"], day, w)
            recent = _recent_contacts(sent, rows[CUSTOMER_ID].to_numpy(), day)
            over = recent >= OVER_CONTACT
            rho = np.where(over, PUT_OFF, 0.0)
            pi = np.array([RESPONSE[a] for a in rows["action"]]) * state["timing"]
            p0 = state["p0"]
            alive = state["alive"]
            m = info["mean_spend"].to_numpy(dtype=float)
            d_purchase = (1 - rho) * pi * p0 - rho * (1 - p0)
            d_spend = ((1 - rho) * pi * p0 - rho * state["expected"]) * m
            out.loc[rows.index, "alive"] = alive
            out.loc[rows.index, "over_contacted"] = over
            out.loc[rows.index, "p_no_purchase"] = p0
            out.loc[rows.index, "expected_purchases"] = state["expected"]
            out.loc[rows.index, "uplift_purchase"] = np.where(alive, d_purchase, 0.0)
            out.loc[rows.index, "uplift_spend"] = np.where(alive, d_spend, 0.0)
        return out


def _recent_contacts(sent: pd.DataFrame, ids: np.ndarray, day: pd.Timestamp) -> np.ndarray:
    lo = day - pd.Timedelta(days=OVER_CONTACT_DAYS)
    window = sent[(sent["contact_date"] >= lo) & (sent["contact_date"] < day)]
    counts = window[CUSTOMER_ID].value_counts()
    return counts.reindex(pd.Index(ids)).fillna(0).to_numpy(dtype=float)


def _season_bounds(
    name: object, seasons: Mapping[str, Any], day: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Return the next (or current) occurrence of a season on or after ``day``: (start, end day)."""
    if not isinstance(name, str) or name not in seasons:
        return None
    first, last = seasons[name]
    for year in (day.year - 1, day.year, day.year + 1):
        start = pd.Timestamp(f"{year}-{first}")
        end = pd.Timestamp(f"{year}-{last}")
        if end >= day:
            return start, end
    return None  # pragma: no cover - a season always comes round within two years


def _state(
    info: pd.DataFrame, sim: Mapping[str, Any], day: pd.Timestamp, window: int
) -> dict[str, np.ndarray]:
    """Return customers' state on ``day`` and their window ``[day, day + window)`` without contact.

    ``alive``, ``p0`` (P(no purchase in the window | alive)), ``expected`` (E[purchases in
    the window | alive]), ``timing`` (the seasonal timing factor) and, per customer, the
    season's window inside the campaign window (``season_lo``, ``season_hi`` in days from
    ``day``; NaN when not timely).
    """
    n = len(info)
    origin = pd.Timestamp(sim["start"])
    segment = info["segment"].to_numpy()
    death = info["death"]
    alive = ((death.isna()) | (death > day)).to_numpy() & (info["first_purchase"] < day).to_numpy()
    alive &= segment != "promo"
    offsets = np.arange(window) + 0.5
    days_since_origin = (day - origin).days + offsets
    rate = info["purchase_rate"].to_numpy(dtype=float)[:, None] * np.ones((1, window))
    timing = np.ones(n)
    season_lo = np.full(n, np.nan)
    season_hi = np.full(n, np.nan)
    seasonal = segment == "seasonal"
    seasons = dict(sim["seasons"])
    if seasonal.any():
        dates = day + pd.to_timedelta(np.arange(window), unit="D")
        month_day = dates.strftime("%m-%d")
        in_season: dict[str, np.ndarray] = {}
        for name, (first, last) in seasons.items():
            in_season[name] = np.asarray((month_day >= first) & (month_day <= last))
        names = info["season"].to_numpy()
        for k in np.flatnonzero(seasonal):
            mask = in_season.get(names[k], np.zeros(window, dtype=bool))
            rate[k] = rate[k] * mask + float(sim["seasonal_off_season_rate"])
            bounds = _season_bounds(names[k], seasons, day)
            if bounds is None:
                continue
            start, end = bounds
            lead = (start - day).days
            if -SEASON_LATE_DAYS <= lead <= SEASON_RUN_UP_DAYS:
                lo = max(lead, 0)
                hi = min((end - day).days + 1, window)
                if hi > lo:
                    season_lo[k], season_hi[k] = lo, hi
            else:
                timing[k] = OFF_SEASON_TIMING
    declining = segment == "declining"
    if declining.any():
        first = ((info["first_purchase"] - origin) / pd.Timedelta(days=1)).to_numpy(dtype=float)
        half = info["purchase_rate_half_life"].to_numpy(dtype=float)
        t0 = first[declining][:, None]
        rate[declining] *= np.exp(
            -np.log(2.0) * (days_since_origin[None, :] - t0) / half[declining][:, None]
        )
    mu = np.nan_to_num(info["dropout_rate"].to_numpy(dtype=float), nan=0.0)[:, None]
    cumulative = np.cumsum(rate, axis=1)
    before = np.concatenate([np.zeros((n, 1)), cumulative[:, :-1]], axis=1)
    edges = np.exp(-mu * np.arange(window + 1)[None, :])
    p0 = np.sum((edges[:, :-1] - edges[:, 1:]) * np.exp(-(before + rate / 2.0)), axis=1)
    p0 += edges[:, -1] * np.exp(-cumulative[:, -1])
    expected = np.sum(rate * np.exp(-mu * offsets[None, :]), axis=1)
    return {
        "alive": alive,
        "p0": np.clip(p0, 0.0, 1.0),
        "expected": expected,
        "timing": timing,
        "season_lo": season_lo,
        "season_hi": season_hi,
    }


def _check(campaigns: Sequence[Campaign], window_days: int, sc: Scenario) -> list[Campaign]:
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days <= 0:
        raise ConfigError(f"'window_days' must be an integer > 0, got {window_days!r}")
    checked = []
    last = pd.Timestamp(sc.end) + pd.Timedelta(days=sc.horizon_days)
    for c in campaigns:
        day = _to_day("Campaign.day", c.day)
        if not pd.Timestamp(sc.start) < day <= last:
            raise ConfigError(
                f"campaign day {day.date()} must fall after {sc.start} and on or before "
                f"{last.date()}"
            )
        if c.action not in CAMPAIGN_ACTIONS:
            raise ConfigError(
                f"campaign action must be one of {list(CAMPAIGN_ACTIONS)}, got {c.action!r}"
            )
        for name in ("share", "control_share"):
            value = getattr(c, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                raise ConfigError(f"Campaign.{name} must be in (0, 1), got {value!r}")
        checked.append(replace(c, day=day.date()))
    return sorted(checked, key=lambda c: pd.Timestamp(c.day))


def add_campaigns(
    scenario: Scenario,
    campaigns: Sequence[Campaign],
    *,
    seed: int = 0,
    window_days: int = 90,
) -> CampaignScenario:
    """Run ``campaigns`` on ``scenario`` with the true effect of the module docstring.

    Parameters
    ----------
    scenario
        A scenario (:func:`~churnmodel.datasets.seasonal_retailer`); it is not changed.
    campaigns
        Campaigns on days after the scenario's ``start`` (up to the end of its window), run
        in date order; each selects among the customers known (first purchase) before its
        day, dead or alive, as a marketer would.
    seed
        Seed of the campaigns' own random stream (selection, control group, responses).
    window_days
        The campaign window ``W``.

    Returns
    -------
    CampaignScenario
        The changed scenario, the contact log with its truth, and ``true_effect``.
    """
    checked = _check(campaigns, window_days, scenario)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 18]))
    sim = scenario.params["simulate"]
    rows = pd.concat([scenario.transactions, scenario.future], ignore_index=True)
    customers = scenario.customers.copy()
    # customers acquired in the window are not in scenario.customers: campaigns before the
    # end only see the known ones, so the truth table is enough.
    contact_parts: list[pd.DataFrame] = []
    next_order = _ORDER_BASE
    for c in checked:
        day = pd.Timestamp(c.day)
        known = customers.index[(customers["first_purchase"] < day).to_numpy()]
        k = rng.binomial(len(known), c.share)
        chosen = np.sort(rng.choice(len(known), size=k, replace=False))
        ids = known[chosen]
        control = rng.random(k) < c.control_share
        info = customers.loc[ids]
        state = _state(info, sim, day, window_days)
        if contact_parts:
            so_far = pd.concat(contact_parts)
            sent_before = so_far[~so_far["control"].to_numpy(dtype=bool)]
        else:
            sent_before = pd.DataFrame({CUSTOMER_ID: [], "contact_date": pd.to_datetime([])})
        recent = _recent_contacts(sent_before, ids.to_numpy(), day)
        # What each customer buys in the window without the contact (the log so far).
        end = day + pd.Timedelta(days=window_days)
        stamps = rows[TIMESTAMP]
        in_window = rows[(stamps >= day) & (stamps < end) & (rows[AMOUNT] > 0)]
        buys = pd.Index(ids).isin(in_window[CUSTOMER_ID].unique())
        treated = ~control & state["alive"]
        put_off = treated & (recent >= OVER_CONTACT) & (rng.random(k) < PUT_OFF)
        pi = np.array([RESPONSE[c.action]] * k) * state["timing"]
        responded = treated & ~put_off & ~buys & (rng.random(k) < pi)
        spend = np.zeros(k)
        if responded.any():
            m = info["mean_spend"].to_numpy(dtype=float)[responded]
            p = float(sim["spend_p"])
            amount = np.maximum(np.round(rng.gamma(p, m / p), 2), 0.01)
            lo = np.where(np.isnan(state["season_lo"]), 0.0, state["season_lo"])[responded]
            hi = np.where(np.isnan(state["season_hi"]), _RESPONSE_DAYS, state["season_hi"])[
                responded
            ]
            offset = lo + rng.random(int(responded.sum())) * (hi - lo)
            seconds = np.floor(offset * 86_400).astype("int64")
            when = day + pd.to_timedelta(seconds, unit="s")
            orders = [f"O{next_order + j:011d}" for j in range(len(amount))]
            next_order += len(amount)
            response = pd.DataFrame(
                {
                    CUSTOMER_ID: ids[responded].to_numpy(),
                    TIMESTAMP: when,
                    AMOUNT: amount,
                    ORDER_ID: orders,
                }
            )
            rows = pd.concat([rows, response.astype(rows.dtypes.to_dict())], ignore_index=True)
            spend[responded] = amount
        if put_off.any():
            gone = rows[CUSTOMER_ID].isin(ids[put_off]) & (rows[TIMESTAMP] >= day)
            rows = rows[~gone.to_numpy()].reset_index(drop=True)
            customers.loc[ids[put_off], "death"] = day
        contact_parts.append(
            pd.DataFrame(
                {
                    CUSTOMER_ID: ids.to_numpy(),
                    "contact_date": np.full(k, day.to_datetime64()),
                    "action": c.action,
                    "control": control,
                    "alive": state["alive"],
                    "p_no_purchase": state["p0"],
                    "put_off": put_off,
                    "responded": responded,
                    "response_spend": spend,
                }
            )
        )
    log = rows.sort_values([TIMESTAMP, CUSTOMER_ID], kind="stable", ignore_index=True)
    boundary = pd.Timestamp(scenario.end) + pd.Timedelta(days=1)
    before = (log[TIMESTAMP] < boundary).to_numpy()
    transactions = log[before].reset_index(drop=True)
    future = log[~before].reset_index(drop=True)
    bought = transactions.loc[transactions[AMOUNT] > 0, CUSTOMER_ID].value_counts()
    customers["n_purchases"] = bought.reindex(customers.index, fill_value=0).astype(np.int64)
    contacts = (
        pd.concat(contact_parts, ignore_index=True)
        if contact_parts
        else pd.DataFrame(columns=[CUSTOMER_ID, "contact_date", "action", "control"])
    )
    changed = replace(
        scenario,
        transactions=transactions,
        future=future,
        customers=customers,
        params={
            **scenario.params,
            "campaigns": [
                {
                    "day": str(c.day),
                    "action": c.action,
                    "share": c.share,
                    "control_share": c.control_share,
                }
                for c in checked
            ],
            "campaign_seed": int(seed),
            "campaign_window_days": int(window_days),
        },
    )
    return CampaignScenario(
        scenario=changed, contacts=contacts, campaigns=tuple(checked), window_days=int(window_days)
    )
