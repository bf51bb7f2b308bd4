"""From scores to a retention plan: one action per customer, with a reason, a value and a date.

:func:`plan_retention` applies the life-cycle view of ``docs/planning.md`` in five steps:

1. **Candidate action by stage.** ``new`` -> ``nurture``; ``loyal`` with a CLV among the top
   ``reward_top_share`` of all customers -> ``reward``; ``active`` or ``loyal`` with ``p_churn
   >= retain_min_p_churn`` (risk rising) -> ``retain``, otherwise left alone (on rhythm),
   unless the response of ``retain`` is measured: then every active or loyal customer is a
   candidate and the measured value (step 3) decides (the threshold is a stand-in for a
   response nobody has measured; on the simulated campaigns it cost 7-11 % of the learned
   plan's net revenue, ``docs/planning.md``);
   ``lapsed_seasonal`` -> ``seasonal_reminder``; ``lapsed_short``, ``lapsed_long`` and
   ``inactive`` -> ``win_back``.
2. **Contact date.** ``as_of + contact_delay_days``, except: a seasonal customer (stage
   ``lapsed_seasonal``, or a lapsed customer whose purchase days concentrate in one time of
   year) is contacted ``seasonal_lead_days`` before their own season starts
   (:func:`~churnmodel.features.season.season_calendar`), or at once when it is under way;
   a new customer ``nurture_after_days`` after their first purchase.
3. **Value and cost.** The expected incremental value of the action within the campaign
   window: measured (a :class:`~churnmodel.planning.ResponseModel` fitted on the campaign
   history: ``margin * uplift_purchase * order value``, or ``margin * uplift_spend`` with
   ``uplift_value = "spend"``) or, without history for the action, assumed
   (``margin * response_rates[stage] * persuadable * order value``, with ``persuadable =
   p_alive + p_churn - 1``, the probability that the customer is alive but would not buy
   on their own: :func:`persuadable`). Below its cost:
   ``do_not_contact``.
4. **Contact cap.** A customer with ``max_contacts`` contacts already in the
   ``contact_window_days`` up to the contact date: ``do_not_contact``.
5. **Budget.** Contacts by expected net value per unit of cost (ties: net value, id) while
   the budget lasts; cheaper contacts further down still fit when a dearer one did not.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from churnmodel.exceptions import DataValidationError
from churnmodel.features.customer import to_date
from churnmodel.features.season import YEAR_DAYS
from churnmodel.planning.contacts import (
    contact_history,
    days_to_season,
    design_matrix,
    purchase_state,
)
from churnmodel.planning.policy import RetentionPolicy
from churnmodel.schemas import CUSTOMER_ID, LIFECYCLE_STAGES, PLAN_COLUMNS, RETENTION_ACTIONS

if TYPE_CHECKING:
    from churnmodel.planning.uplift import ResponseModel

__all__ = [
    "SCORE_INPUT_COLUMNS",
    "PlanTotals",
    "persuadable",
    "plan_retention",
    "plan_totals",
    "stage_actions",
]

#: Score columns the plan reads (``docs/mlflow.md``).
SCORE_INPUT_COLUMNS = (
    CUSTOMER_ID,
    "p_churn",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
    "value_at_risk",
    "lifecycle_stage",
)

_LAPSED = ("lapsed_short", "lapsed_long", "inactive")


def _by_text_id(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """Return a copy of ``frame`` indexed by customer ids as text, as the scores are."""
    if frame is None:
        return None
    frame = frame.copy()
    frame.index = frame.index.astype("str")
    return frame


def _check_scores(scores: pd.DataFrame) -> pd.DataFrame:
    frame = scores.reset_index() if CUSTOMER_ID not in scores.columns else scores.copy()
    missing = [c for c in SCORE_INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"the scores lack column(s) {missing}; they have {list(frame.columns)}",
            column=missing[0],
            hint="pass the output of churnmodel score",
        )
    frame[CUSTOMER_ID] = frame[CUSTOMER_ID].astype("str")
    repeated = frame[CUSTOMER_ID].duplicated(keep=False)
    if repeated.any():
        rows = frame.loc[repeated, [CUSTOMER_ID]]
        raise DataValidationError(
            f"{int(repeated.sum()):,} score rows repeat a customer_id",
            column=CUSTOMER_ID,
            rows=rows.assign(row_number=rows.index + 1),
            hint="one score row per customer",
        )
    for column in ("p_churn", "p_alive"):
        p = frame[column].to_numpy(dtype=float)
        bad = ~((p >= 0) & (p <= 1))
        if bad.any():
            rows = frame.loc[bad, [CUSTOMER_ID, column]]
            raise DataValidationError(
                f"{int(bad.sum()):,} score rows have {column} outside [0, 1]",
                column=column,
                rows=rows.assign(row_number=rows.index + 1),
            )
    for column in ("expected_purchases", "expected_spend", "clv", "value_at_risk"):
        v = frame[column].to_numpy(dtype=float)
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            rows = frame.loc[bad, [CUSTOMER_ID, column]]
            raise DataValidationError(
                f"{int(bad.sum()):,} score rows have a negative or missing {column}",
                column=column,
                rows=rows.assign(row_number=rows.index + 1),
            )
    stage = frame["lifecycle_stage"].astype("str")
    unknown = ~stage.isin(LIFECYCLE_STAGES)
    if unknown.any():
        bad = unknown.to_numpy()
        rows = frame.loc[bad, [CUSTOMER_ID, "lifecycle_stage"]]
        raise DataValidationError(
            f"{int(bad.sum()):,} score rows have an unknown lifecycle_stage "
            f"(known: {list(LIFECYCLE_STAGES)})",
            column="lifecycle_stage",
            rows=rows.assign(row_number=rows.index + 1),
        )
    frame["lifecycle_stage"] = stage
    return frame.set_index(CUSTOMER_ID)


def _as_of(scores: pd.DataFrame, as_of: Any) -> date:
    if as_of is not None:
        return to_date(as_of)
    if "as_of" not in scores.columns:
        raise DataValidationError("the scores have no as_of column: pass as_of", column="as_of")
    days = pd.to_datetime(scores["as_of"]).dt.normalize().unique()
    if len(days) != 1:
        raise DataValidationError(
            f"the scores hold {len(days)} as_of dates; a plan is made at one",
            column="as_of",
        )
    return pd.Timestamp(cast(Any, days[0])).date()


def _season_dates(
    seasons: pd.DataFrame, ids: pd.Index, earliest: date, lead_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the contact day before each customer's next season, and that season's start.

    The season runs ``half_width`` either side of its peak; the contact goes out
    ``lead_days`` before the start. When that day is before ``earliest`` but the season has
    not ended, the contact goes out on ``earliest``.
    """
    info = seasons.reindex(ids)
    phase = info["season_phase"].to_numpy(dtype=float)
    half = info["season_half_width_days"].to_numpy(dtype=float)
    first = np.datetime64(earliest, "D").astype(np.int64)
    start = phase * YEAR_DAYS - half  # season starts, days after 1970-01-01 modulo a year
    end = phase * YEAR_DAYS + half
    # The latest season start on or before `first`; in season if its end is not yet past.
    k = np.floor((first - start) / YEAR_DAYS)
    last_start = start + k * YEAR_DAYS
    in_season = first <= last_start + (end - start)
    next_start = np.where(in_season, last_start, last_start + YEAR_DAYS)
    contact = np.rint(next_start - lead_days)
    contact = np.where(in_season | (contact < first), first, contact)
    ok = np.isfinite(contact)
    out = np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[D]")
    out[ok] = np.datetime64("1970-01-01", "D") + contact[ok].astype(np.int64)
    season_start = np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[D]")
    season_start[ok] = np.datetime64("1970-01-01", "D") + np.rint(next_start[ok]).astype(np.int64)
    return out, season_start


def _order_value(frame: pd.DataFrame, features: pd.DataFrame | None) -> np.ndarray:
    """Spend of one purchase: the customer's mean per purchase day, else the scores' ratio."""
    purchases = frame["expected_purchases"].to_numpy(dtype=float)
    spend = frame["expected_spend"].to_numpy(dtype=float)
    order = np.divide(spend, purchases, out=np.zeros_like(spend), where=purchases > 0)
    if features is not None and "avg_spend" in features.columns:
        hist = features["avg_spend"].reindex(frame.index).to_numpy(dtype=float)
        order = np.where(np.isfinite(hist) & (hist > 0), hist, order)
    return order


def _assumed_value(frame: pd.DataFrame, order: np.ndarray, policy: RetentionPolicy) -> np.ndarray:
    rate = frame["lifecycle_stage"].map(policy.response_rates).to_numpy(dtype=float)
    return policy.margin * rate * persuadable(frame) * order


def persuadable(scores: pd.DataFrame) -> np.ndarray:
    """Return P(alive and no purchase in the horizon) from the scores, ``p_alive + p_churn - 1``.

    Only such a customer can be moved by a contact: one who has left cannot, one who buys
    anyway needs no contact. Clipped to [0, 1] (``p_alive`` comes from the purchase model,
    ``p_churn`` from the lapse classifier).
    """
    p = scores["p_alive"].to_numpy(dtype=float) + scores["p_churn"].to_numpy(dtype=float) - 1.0
    return np.clip(p, 0.0, 1.0)


def _stage_actions(
    frame: pd.DataFrame,
    policy: RetentionPolicy,
    features: pd.DataFrame | None,
    seasons: pd.DataFrame | None,
    day: date,
    *,
    warn: bool,
    retain_gate: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each customer's action, reason and date (steps 1 and 2, module docstring).

    ``retain_gate=False``: every active or loyal customer outside ``reward`` is a ``retain``
    candidate, whatever their ``p_churn`` (the measured response decides, step 3).
    """
    n = len(frame)
    ids = frame.index
    stage = frame["lifecycle_stage"].to_numpy()
    p_churn = frame["p_churn"].to_numpy(dtype=float)
    clv = frame["clv"].to_numpy(dtype=float)
    earliest = day + timedelta(days=policy.contact_delay_days)

    action = np.full(n, "do_not_contact", dtype=object)
    reason = np.full(n, "", dtype=object)
    # 1. candidate action by stage
    top = np.zeros(n, dtype=bool)
    if policy.reward_top_share > 0 and n:
        k = int(np.ceil(policy.reward_top_share * n))
        order = np.lexsort((ids.to_numpy(), -clv))
        top[order[:k]] = True
    on_rhythm = np.isin(stage, ("active", "loyal"))
    rising = p_churn >= policy.retain_min_p_churn
    below_gate = on_rhythm & ~rising
    if not retain_gate:
        rising = np.ones(n, dtype=bool)
    reward = (stage == "loyal") & top
    action[stage == "new"] = "nurture"
    reason[stage == "new"] = "new customer: nurture towards a second purchase"
    action[on_rhythm & rising & ~reward] = "retain"
    reason[on_rhythm & rising & ~reward] = [
        f"{s}, risk rising: p_churn {p:.2f} >= {policy.retain_min_p_churn:.2f}"
        for s, p in zip(
            stage[on_rhythm & rising & ~reward], p_churn[on_rhythm & rising & ~reward], strict=True
        )
    ]
    if not retain_gate:
        measured_only = below_gate & ~reward
        reason[measured_only] = [
            f"{s}, p_churn {p:.2f} (below {policy.retain_min_p_churn:.2f}): retain if its "
            "measured response pays"
            for s, p in zip(stage[measured_only], p_churn[measured_only], strict=True)
        ]
    action[reward] = "reward"
    reason[reward] = f"loyal, CLV in the top {policy.reward_top_share:.0%} of customers"
    idle = on_rhythm & ~rising & ~reward
    reason[idle] = [
        f"{s} on rhythm: p_churn {p:.2f} < {policy.retain_min_p_churn:.2f}"
        for s, p in zip(stage[idle], p_churn[idle], strict=True)
    ]
    lapsed = np.isin(stage, _LAPSED)
    action[lapsed] = "win_back"
    reason[lapsed] = [f"{s}: win back" for s in stage[lapsed]]
    seasonal_stage = stage == "lapsed_seasonal"
    action[seasonal_stage] = "seasonal_reminder"
    reason[seasonal_stage] = "lapsed_seasonal: remind before their season"

    # 2. contact dates
    contact = np.full(n, np.datetime64(earliest, "D"), dtype="datetime64[D]")
    seasonal = seasonal_stage.copy()
    season_start = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if seasons is not None:
        if features is not None:
            span = (
                (features["last_purchase"] - features["first_purchase"])
                .dt.days.reindex(ids)
                .to_numpy(dtype=float)
            )
            conc = seasons["season_concentration"].reindex(ids).to_numpy(dtype=float)
            seasonal |= (
                lapsed
                & (conc >= policy.seasonal_min_concentration)
                & (span >= policy.seasonal_min_span_days)
            )
        timed, season_start = _season_dates(seasons, ids, earliest, policy.seasonal_lead_days)
        has_date = seasonal & ~np.isnat(timed)
        contact[has_date] = timed[has_date]
        unknown = seasonal & np.isnat(timed)
    else:
        unknown = seasonal
    if unknown.any() and warn:
        warnings.warn(
            f"{int(unknown.sum()):,} seasonal customer(s) have no known season (the plan needs "
            "the transaction log for their purchase days) and are not contacted, e.g. "
            f"{', '.join(ids[unknown][:5])}",
            UserWarning,
            stacklevel=3,
        )
        action[unknown] = "do_not_contact"
        reason[unknown] = "seasonal, but the season is unknown without the transaction log"
    timed_rows = seasonal & ~unknown
    for i in np.flatnonzero(timed_rows):
        start = pd.Timestamp(season_start[i]).date()
        reason[i] = (
            f"{reason[i]}; own season starts about {start}: contact on "
            f"{pd.Timestamp(contact[i]).date()}"
        )
    if features is not None:
        new = (action == "nurture") & ~timed_rows
        first = (
            pd.to_datetime(features["first_purchase"].reindex(ids[new]))
            .to_numpy()
            .astype("datetime64[D]")
        )
        planned = first + np.timedelta64(policy.nurture_after_days, "D")
        contact[new] = np.where(np.isnat(planned) | (planned < contact[new]), contact[new], planned)

    return action, reason, contact


def stage_actions(
    scores: pd.DataFrame,
    policy: RetentionPolicy | None = None,
    *,
    features: pd.DataFrame | None = None,
    seasons: pd.DataFrame | None = None,
    as_of: Any = None,
) -> pd.DataFrame:
    """Return the action and contact date the life-cycle rules alone give each customer.

    Steps 1 and 2 of :func:`plan_retention` (module docstring), before value, cap and budget,
    with ``retain`` for active and loyal customers on rhythm too: what a list ranked by any
    score would send each customer. Columns ``customer_id``, ``action``, ``contact_date``,
    ``reason``; customers without a known season get ``do_not_contact``.
    """
    policy = policy or RetentionPolicy()
    frame = _check_scores(scores)
    day = _as_of(frame, as_of)
    features, seasons = _by_text_id(features), _by_text_id(seasons)
    everyone = policy.model_copy(update={"retain_min_p_churn": 0.0})
    action, reason, contact = _stage_actions(frame, everyone, features, seasons, day, warn=False)
    dnc = action == "do_not_contact"
    return pd.DataFrame(
        {
            CUSTOMER_ID: frame.index.to_numpy(),
            "action": action.astype(str),
            "contact_date": pd.to_datetime(np.where(dnc, np.datetime64("NaT"), contact)),
            "reason": reason.astype(str),
        }
    )


def plan_retention(
    scores: pd.DataFrame,
    policy: RetentionPolicy | None = None,
    *,
    features: pd.DataFrame | None = None,
    seasons: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    response: ResponseModel | None = None,
    as_of: Any = None,
) -> pd.DataFrame:
    """Assign each scored customer one retention action (module docstring).

    Parameters
    ----------
    scores
        One row per customer with the score columns (``docs/mlflow.md``; at least
        :data:`SCORE_INPUT_COLUMNS`, and ``as_of`` unless ``as_of`` is given).
    policy
        The :class:`~churnmodel.planning.RetentionPolicy` (default: its defaults).
    features
        Customer features at ``as_of`` (:func:`~churnmodel.features.customer_features`):
        order values, first purchases, and, with ``seasons``, who is seasonal. Needed with
        ``response``.
    seasons
        :func:`~churnmodel.features.season.season_calendar` at ``as_of``. Without it no
        season is known: ``lapsed_seasonal`` customers are not contacted (reason says so,
        and a warning).
    contacts
        The contact log (:func:`~churnmodel.planning.validate_contacts`): its contacts count
        towards the cap and the uplift models' history features.
    response
        A fitted :class:`~churnmodel.planning.ResponseModel`: measured incremental spend for
        the actions it has models for.
    as_of
        The plan's date; default the scores' ``as_of``.

    Returns
    -------
    pandas.DataFrame
        :data:`~churnmodel.schemas.PLAN_COLUMNS`, one row per scored customer, sorted by
        ``priority`` (contacts first) then ``customer_id``. ``expected_incremental_value``
        and ``cost`` are those of the action (0 for ``do_not_contact``);
        ``expected_net_value`` is their difference; ``contact_date`` is missing for
        ``do_not_contact``; ``response_source`` is ``measured``, ``assumed`` or empty;
        ``priority`` ranks the contacts (1 first), 0 for the others. ``attrs`` holds the
        policy and the totals (:func:`plan_totals`).

    Raises
    ------
    DataValidationError
        Missing score columns, repeated customers, probabilities outside [0, 1], unknown
        stages; ``response`` without ``features``.
    """
    policy = policy or RetentionPolicy()
    frame = _check_scores(scores)
    day = _as_of(frame, as_of)
    features, seasons = _by_text_id(features), _by_text_id(seasons)
    if response is not None and features is None:
        raise DataValidationError(
            "measured response needs the customer features at as_of (pass features=)",
            hint="churnmodel plan --data LOG computes them",
        )
    n = len(frame)
    ids = frame.index
    p_churn = frame["p_churn"].to_numpy(dtype=float)
    clv = frame["clv"].to_numpy(dtype=float)
    # With a measured response for retain, the measured value decides which active and loyal
    # customers to contact; the p_churn threshold stands in for it only when it is assumed.
    retain_gate = response is None or "retain" not in response.actions_
    action, reason, contact = _stage_actions(
        frame, policy, features, seasons, day, warn=True, retain_gate=retain_gate
    )

    # 3. value and cost
    order_value = _order_value(frame, features)
    value = _assumed_value(frame, order_value, policy)
    source = np.where(action == "do_not_contact", "", "assumed").astype(object)
    if response is not None and features is not None:
        assert features is not None
        history = (
            contact_history(
                contacts, ids.to_numpy(), contact, window_days=policy.contact_window_days
            )
            if contacts is not None
            else pd.DataFrame({"contacts_recent": np.zeros(n), "days_since_contact": np.nan})
        )
        season_days = (
            days_to_season(seasons, ids.to_numpy(), contact)
            if seasons is not None
            else np.full(n, np.nan)
        )
        f = features.reindex(ids)
        f["lifecycle_stage"] = frame["lifecycle_stage"]
        state = purchase_state(
            features, policy.campaign_window_days, getattr(response, "persuadable_", None)
        ).reindex(ids)
        design = design_matrix(
            f,
            seasons if seasons is not None else pd.DataFrame(columns=["season_half_width_days"]),
            history,
            season_days,
            state,
        )
        for act in response.actions_:
            mask = action == act
            if mask.any():
                pred = response.predict(act, design[mask])
                if policy.uplift_value == "spend":
                    value[mask] = policy.margin * pred["uplift_spend"].to_numpy()
                else:
                    value[mask] = (
                        policy.margin * pred["uplift_purchase"].to_numpy() * order_value[mask]
                    )
                source[mask] = "measured"
    cost = np.array([policy.cost(a) for a in action], dtype=float)
    candidate = action != "do_not_contact"
    below = candidate & (value < cost)
    for i in np.flatnonzero(below):
        reason[i] = (
            f"{reason[i]}; but expected value {value[i]:.2f} ({source[i]}) is below the "
            f"cost {cost[i]:.2f} of {action[i]}"
        )
    action[below] = "do_not_contact"

    # 4. contact cap
    if contacts is not None:
        candidate = action != "do_not_contact"
        history = contact_history(
            contacts,
            ids.to_numpy()[candidate],
            contact[candidate] + np.timedelta64(1, "D"),
            window_days=policy.contact_window_days,
        )
        # contacts in (contact - window, contact]: the planned one makes one more
        recent = history["contacts_recent"].to_numpy()
        capped = np.zeros(n, dtype=bool)
        capped[np.flatnonzero(candidate)] = recent + 1 > policy.max_contacts
        for i, k in zip(np.flatnonzero(capped), recent[capped[candidate]], strict=True):
            reason[i] = (
                f"{reason[i]}; but contacted {int(k)} time(s) in the "
                f"{policy.contact_window_days} days before {pd.Timestamp(contact[i]).date()} "
                f"(cap {policy.max_contacts})"
            )
        action[capped] = "do_not_contact"

    # 5. budget
    candidate = np.flatnonzero(action != "do_not_contact")
    net = value - cost
    ratio = np.where(cost > 0, net / np.where(cost > 0, cost, 1.0), np.inf)
    order = candidate[np.lexsort((ids.to_numpy()[candidate], -net[candidate], -ratio[candidate]))]
    priority = np.zeros(n, dtype=np.int64)
    spent = 0.0
    rank = 0
    budget = policy.budget
    for i in order:
        if budget is not None and spent + cost[i] > budget + 1e-9:
            reason[i] = (
                f"{reason[i]}; but the budget {budget:,.2f} is spent (net value {net[i]:.2f})"
            )
            action[i] = "do_not_contact"
            continue
        spent += cost[i]
        rank += 1
        priority[i] = rank
    dnc = action == "do_not_contact"
    value = np.where(dnc, 0.0, value)
    cost = np.where(dnc, 0.0, cost)
    source = np.where(dnc, "", source)
    plan = pd.DataFrame(
        {
            CUSTOMER_ID: ids.to_numpy(),
            "action": pd.Categorical(action, categories=list(RETENTION_ACTIONS)),
            "reason": reason.astype(str),
            "contact_date": pd.to_datetime(np.where(dnc, np.datetime64("NaT"), contact)),
            "expected_incremental_value": value,
            "cost": cost,
            "expected_net_value": value - cost,
            "response_source": source.astype(str),
            "priority": priority,
            "lifecycle_stage": frame["lifecycle_stage"].to_numpy(),
            "p_churn": p_churn,
            "clv": clv,
            "value_at_risk": frame["value_at_risk"].to_numpy(dtype=float),
            "as_of": pd.Timestamp(day),
        }
    )
    key = np.where(plan["priority"] > 0, plan["priority"], np.iinfo(np.int64).max)
    plan = plan.iloc[np.lexsort((plan[CUSTOMER_ID].to_numpy(), key))].reset_index(drop=True)
    plan = plan.loc[:, list(PLAN_COLUMNS)]
    plan.attrs["as_of"] = day.isoformat()
    plan.attrs["policy"] = policy.summary()
    plan.attrs["totals"] = plan_totals(plan, policy).as_dict()
    return plan


@dataclass(frozen=True)
class PlanTotals:
    """What a plan spends and expects to earn.

    Attributes
    ----------
    customers, contacted
        Customers planned; customers with a contact.
    by_action
        Customers per action (every action, 0 included).
    cost, expected_incremental_value, expected_net_value
        Totals over the contacts.
    budget, budget_left
        The policy's budget (None: no limit) and what is left of it.
    """

    customers: int
    contacted: int
    by_action: dict[str, int]
    cost: float
    expected_incremental_value: float
    expected_net_value: float
    budget: float | None
    budget_left: float | None

    def as_dict(self) -> dict[str, Any]:
        """Return the totals as plain values (``by_action`` flattened to ``n_<action>``)."""
        out: dict[str, Any] = {
            "customers": self.customers,
            "contacted": self.contacted,
            "cost": self.cost,
            "expected_incremental_value": self.expected_incremental_value,
            "expected_net_value": self.expected_net_value,
            "budget": self.budget,
            "budget_left": self.budget_left,
        }
        out.update({f"n_{a}": n for a, n in self.by_action.items()})
        return out


def plan_totals(plan: pd.DataFrame, policy: RetentionPolicy) -> PlanTotals:
    """Sum a plan: customers per action, cost, expected incremental and net value."""
    counts = plan["action"].astype("str").value_counts()
    cost = float(plan["cost"].sum())
    return PlanTotals(
        customers=len(plan),
        contacted=int((plan["action"].astype("str") != "do_not_contact").sum()),
        by_action={a: int(counts.get(a, 0)) for a in RETENTION_ACTIONS},
        cost=cost,
        expected_incremental_value=float(plan["expected_incremental_value"].sum()),
        expected_net_value=float(plan["expected_net_value"].sum()),
        budget=policy.budget,
        budget_left=None if policy.budget is None else float(policy.budget - cost),
    )
