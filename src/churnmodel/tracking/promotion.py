"""The promotion rule: when a newly trained model may take the champion alias.

A rule compares one logged metric with another metric or a number::

    lapse_roc_auc > baseline_recency_roc_auc
    lapse_brier <= 0.2
    spend_spearman >= baseline_bgnbd_gg_spearman

A model is promoted only when every rule holds. A rule naming a metric the run did not log
fails (a missing metric is never taken as a pass), and says so.

Rules are read on one scorecard: the holdout's metrics as logged (``lapse_roc_auc``), or,
with ``prefix="aligned_"``, the season-aligned ones (``aligned_lapse_roc_auc`` is read where a
rule says ``lapse_roc_auc``). ``champion_*`` metrics are the current champion scored on the
same holdout: a rule naming one holds when there is no champion yet (nothing to beat), and
fails when there is one that could not be scored, with the reason.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from churnmodel.exceptions import ConfigError

__all__ = [
    "CHAMPION_PREFIX",
    "PromotionDecision",
    "PromotionRule",
    "decide_promotion",
    "parse_rule",
]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RULE = re.compile(rf"^\s*({_NAME})\s*(>=|<=|>|<)\s*({_NAME}|{_NUMBER})\s*$")


@dataclass(frozen=True)
class PromotionRule:
    """``left op right``: ``left`` is a metric name, ``right`` a metric name or a number."""

    left: str
    op: str
    right: str | float

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    @property
    def names(self) -> tuple[str, ...]:
        """The metric names the rule reads."""
        return (self.left, self.right) if isinstance(self.right, str) else (self.left,)

    def check(self, metrics: Mapping[str, float]) -> tuple[bool, str]:
        """Return whether the rule holds on ``metrics`` and a sentence saying why."""
        left = metrics.get(self.left)
        if left is None or math.isnan(left):
            return False, f"{self} fails: metric {self.left!r} was not logged"
        if isinstance(self.right, str):
            right = metrics.get(self.right)
            if right is None or math.isnan(right):
                return False, f"{self} fails: metric {self.right!r} was not logged"
            shown = f"{self.left} = {left:.4g}, {self.right} = {right:.4g}"
        else:
            right = self.right
            shown = f"{self.left} = {left:.4g}"
        holds = _OPS[self.op](left, right)
        return holds, f"{self} {'holds' if holds else 'fails'} ({shown})"


@dataclass(frozen=True)
class PromotionDecision:
    """Whether to promote, the outcome of every rule, and the scorecard they were read on."""

    promote: bool
    reasons: tuple[str, ...]
    scorecard: str = "holdout"

    @property
    def summary(self) -> str:
        """One line: the failing rules when not promoted, every rule otherwise."""
        failing = [r for r in self.reasons if " fails" in r]
        text = "; ".join(failing if failing else self.reasons)
        return text if self.scorecard == "holdout" else f"{text} [{self.scorecard} scorecard]"


def parse_rule(text: str) -> PromotionRule:
    """Parse ``"<metric> <op> <metric or number>"``.

    Raises
    ------
    ConfigError
        If the text is not of that form.
    """
    match = _RULE.match(text)
    if match is None:
        raise ConfigError(
            f"promotion rule must read '<metric> <op> <metric or number>' with op one of "
            f"> >= < <=, e.g. 'lapse_roc_auc > baseline_recency_roc_auc', got {text!r}"
        )
    left, op, right = match.groups()
    value: str | float = float(right) if re.fullmatch(_NUMBER, right) else right
    return PromotionRule(left=left, op=op, right=value)


#: Metric names of the current champion scored beside the new model start with this.
CHAMPION_PREFIX = "champion_"


def decide_promotion(
    metrics: Mapping[str, float],
    rules: Iterable[str],
    *,
    prefix: str = "",
    champion: str | None = None,
    champion_note: str | None = None,
) -> PromotionDecision:
    """Check every rule against ``metrics``; promote only when all hold.

    Parameters
    ----------
    metrics
        The run's metrics.
    rules
        ``"<metric> <op> <metric or number>"`` texts.
    prefix
        Read the rules on the metrics starting with ``prefix`` (``"aligned_"``: the
        season-aligned scorecard); empty for the holdout's.
    champion
        The current champion (e.g. ``"churnmodel v3"``), or None when there is none: then
        every rule naming a ``champion_*`` metric holds.
    champion_note
        Why the champion's metrics are missing, when they are (it could not be scored).

    Raises
    ------
    ConfigError
        If there is no rule (a champion must pass at least one check) or a rule is malformed.
    """
    parsed = [parse_rule(r) for r in rules]
    if not parsed:
        raise ConfigError(
            "'promotion_rules' is empty; give at least one, e.g. "
            "'lapse_roc_auc > baseline_recency_roc_auc'"
        )
    view = dict(metrics)
    if prefix:
        view.update({k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)})
        # A scorecard's own metrics only: a holdout metric never stands in for a missing one.
        for key in metrics:
            if not key.startswith(prefix) and f"{prefix}{key}" not in metrics:
                view.pop(key, None)
    outcomes = []
    for rule in parsed:
        on_champion = any(name.startswith(CHAMPION_PREFIX) for name in rule.names)
        if on_champion and champion is None:
            outcomes.append((True, f"{rule} holds: there is no champion yet"))
            continue
        ok, why = rule.check(view)
        if not ok and on_champion and champion_note and "was not logged" in why:
            why = f"{rule} fails: {champion} could not be scored on this holdout ({champion_note})"
        outcomes.append((ok, why))
    return PromotionDecision(
        promote=all(ok for ok, _ in outcomes),
        reasons=tuple(why for _, why in outcomes),
        scorecard="aligned" if prefix == "aligned_" else (prefix.rstrip("_") or "holdout"),
    )
