"""Retention planning: from scores to one action per customer, with a reason, value and date.

Above ``models`` and ``evaluation`` and below ``workflows``; like them it touches neither
MLflow nor files (``docs/architecture.md``).

* :mod:`~churnmodel.planning.policy`: :class:`RetentionPolicy`, costs per action, assumed
  response rates by stage, the contact cap and the budget (the ``[plan]`` settings).
* :mod:`~churnmodel.planning.plan`: :func:`plan_retention` and :func:`plan_totals`.
* :mod:`~churnmodel.planning.contacts`: the contact log (validation, history, the balance
  check of control groups) and :func:`uplift_table`, the training data of the uplift models.
* :mod:`~churnmodel.planning.uplift`: :class:`UpliftRegressor` (X- or T-learner),
  :class:`ResponseModel` per action, :func:`evaluate_response` on a time holdout.

``docs/planning.md`` describes the rules and the measured results.
"""

from typing import Any

from churnmodel.planning.compare import compare_rules
from churnmodel.planning.contacts import (
    CONTACT_COLUMNS,
    DESIGN_COLUMNS,
    ControlGroupWarning,
    check_balance,
    contact_history,
    uplift_table,
    validate_contacts,
)
from churnmodel.planning.persuadable import PERSUADABLE_COLUMNS, PersuadableModel
from churnmodel.planning.plan import PlanTotals, plan_retention, plan_totals, stage_actions
from churnmodel.planning.policy import CONTACT_ACTIONS, RetentionPolicy

# The uplift models import scikit-learn: loaded on first use, so `import churnmodel` stays cheap.
_UPLIFT = (
    "ResponseEvaluation",
    "ResponseModel",
    "UpliftRegressor",
    "evaluate_response",
    "holdout_qini",
)

__all__ = [
    "CONTACT_ACTIONS",
    "CONTACT_COLUMNS",
    "DESIGN_COLUMNS",
    "PERSUADABLE_COLUMNS",
    "ControlGroupWarning",
    "PersuadableModel",
    "PlanTotals",
    "ResponseEvaluation",
    "ResponseModel",
    "RetentionPolicy",
    "UpliftRegressor",
    "check_balance",
    "compare_rules",
    "contact_history",
    "evaluate_response",
    "holdout_qini",
    "plan_retention",
    "plan_totals",
    "stage_actions",
    "uplift_table",
    "validate_contacts",
]


def __getattr__(name: str) -> Any:
    """Import the uplift models on first use (they pull in scikit-learn)."""
    if name in _UPLIFT:
        from churnmodel.planning import uplift

        return getattr(uplift, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
