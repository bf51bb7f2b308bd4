"""The retention policy: what each action costs, what a contact is assumed to do, the limits.

:class:`RetentionPolicy` is the ``[plan]`` settings section
(:class:`churnmodel.config.PlanSettings`) with the planning methods; the fields are
validated when the policy is built, and a bad value is a
:class:`~churnmodel.exceptions.ConfigError` naming the field and the value.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from churnmodel.config import PlanSettings
from churnmodel.exceptions import ConfigError
from churnmodel.schemas import RETENTION_ACTIONS

__all__ = ["CONTACT_ACTIONS", "RetentionPolicy"]

#: The actions that contact a customer (every action but ``do_not_contact``).
CONTACT_ACTIONS = tuple(a for a in RETENTION_ACTIONS if a != "do_not_contact")


class RetentionPolicy(PlanSettings):
    """How a retention plan turns scores into one action per customer.

    Attributes
    ----------
    costs
        Cost of one contact, by action (``retain``, ``reward``, ``win_back``,
        ``seasonal_reminder``, ``nurture``; ``do_not_contact`` costs nothing). Default 2, 8,
        3, 1.5 and 1 (currency of the log's amounts). Names left out keep their default.
    response_rates
        Assumed share, by life-cycle stage, of *persuadable* customers (alive, and not
        buying in the window on their own: ``p_alive + p_churn - 1``) whom a contact turns
        into buyers; used when no campaign history is given (or an action has too little of
        it): the expected incremental value of a contact is ``margin * rate[stage] *
        persuadable * order value`` (``docs/planning.md``). Defaults: new 0.10, active
        0.05, loyal 0.04, lapsed_short 0.10, lapsed_long 0.06, lapsed_seasonal 0.15,
        inactive 0.02.
    margin
        Share of incremental revenue that counts as value (1.0: revenue). In ``(0, 1]``.
    budget
        Total contact cost the plan may spend; ``None`` (default): no limit. Never exceeded.
    max_contacts, contact_window_days
        The contact-frequency cap: a customer is contacted only if, with the planned contact,
        they get at most ``max_contacts`` contacts in the ``contact_window_days`` days up to
        the contact date (default 2 in 90 days). Contacts of the campaign history count;
        control-group rows do not (they were not contacted).
    campaign_window_days
        Days after a contact in which its response is counted (default 90): the outcome
        window of the uplift models and of the value of an action.
    contact_delay_days
        Days after the scores' ``as_of`` when contacts that are not timed go out (default 1).
    retain_min_p_churn
        An active or loyal customer is contacted (``retain``) only when ``p_churn`` is at or
        above this (their risk is rising); below it they are on rhythm and left alone.
    reward_top_share
        Loyal customers whose CLV is among the top ``reward_top_share`` of all scored
        customers get ``reward`` (default 0.05).
    seasonal_lead_days
        A seasonal customer is contacted this many days before their own season starts
        (default 21).
    seasonal_min_concentration, seasonal_min_span_days
        A lapsed customer whose purchase days concentrate in one time of year (``R`` at least
        this, default 0.9) over at least this many days (default 300) is seasonal: contacted
        before their season, never in the off-season (the life-cycle rule of
        ``lapsed_seasonal``, ``docs/features.md``).
    nurture_after_days
        New customers are nurtured this many days after their first purchase (default 14),
        or as soon as possible when that day has passed.
    uplift_value
        How a measured response is valued: ``"purchase"`` (default), the incremental purchase
        probability times the customer's order value (mean spend per purchase day), or
        ``"spend"``, the incremental spend model itself. Spend in a window varies far more
        between customers than whether they buy, so its uplift is the noisier estimate.
    min_treated, min_control
        Least treated and control contacts of an action for its uplift model; with fewer, the
        action's value is the assumed one (default 200 and 50).
    holdout_share
        Share of the contact log (the latest campaigns) held out to evaluate the uplift
        models (default 0.25).
    n_boot
        Bootstrap resamples of the holdout Qini coefficient's interval (default 200).
    seed
        Seed of the uplift models and the bootstrap.
    """

    @classmethod
    def from_values(cls, values: dict[str, Any] | None = None, **kw: Any) -> RetentionPolicy:
        """Build a policy from a mapping of field values; ``ConfigError`` names a bad one."""
        merged = {**(values or {}), **kw}
        try:
            return cls(**merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid retention policy: {problems}") from exc

    def cost(self, action: str) -> float:
        """Return the cost of one contact with ``action`` (0 for ``do_not_contact``)."""
        if action == "do_not_contact":
            return 0.0
        try:
            return float(self.costs[action])
        except KeyError:
            raise ConfigError(
                f"unknown action {action!r}; actions: {list(RETENTION_ACTIONS)}"
            ) from None

    def summary(self) -> dict[str, Any]:
        """Return the policy as plain values (for logging: ``plan.*`` parameters)."""
        return self.model_dump()
