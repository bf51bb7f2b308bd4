from __future__ import annotations

import math

import pytest

from churnmodel.exceptions import ConfigError
from churnmodel.tracking import PromotionRule, decide_promotion, parse_rule


def test_rules_parse_metric_or_number_on_the_right() -> None:
    assert parse_rule("lapse_roc_auc > baseline_recency_roc_auc") == PromotionRule(
        "lapse_roc_auc", ">", "baseline_recency_roc_auc"
    )
    assert parse_rule("  lapse_brier<=0.2 ") == PromotionRule("lapse_brier", "<=", 0.2)
    assert parse_rule("spend_total_relative_error >= -0.25").right == -0.25
    assert parse_rule("x < 1e-3").right == 0.001


@pytest.mark.parametrize("text", ["", "lapse_roc_auc", "a => b", "a > b > c", "1 > a", "a == b"])
def test_malformed_rules_are_config_errors_naming_the_form(text: str) -> None:
    with pytest.raises(ConfigError, match="<metric> <op> <metric or number>"):
        parse_rule(text)


def test_promotes_only_when_every_rule_holds_and_says_why() -> None:
    metrics = {"lapse_roc_auc": 0.77, "baseline_recency_roc_auc": 0.76, "lapse_brier": 0.16}
    ok = decide_promotion(
        metrics, ["lapse_roc_auc > baseline_recency_roc_auc", "lapse_brier < 0.2"]
    )
    assert ok.promote
    assert "holds (lapse_roc_auc = 0.77, baseline_recency_roc_auc = 0.76)" in ok.summary

    worse = {**metrics, "lapse_roc_auc": 0.75}
    no = decide_promotion(worse, ["lapse_roc_auc > baseline_recency_roc_auc", "lapse_brier < 0.2"])
    assert not no.promote
    assert no.summary.startswith("lapse_roc_auc > baseline_recency_roc_auc fails")
    assert "lapse_brier" not in no.summary  # the summary names the failing rules only


def test_a_missing_or_nan_metric_fails_the_rule() -> None:
    d = decide_promotion({"lapse_roc_auc": 0.8}, ["lapse_roc_auc > baseline_recency_roc_auc"])
    assert not d.promote and "'baseline_recency_roc_auc' was not logged" in d.summary
    d = decide_promotion({"lapse_roc_auc": math.nan}, ["lapse_roc_auc > 0.5"])
    assert not d.promote


def test_no_rules_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        decide_promotion({"a": 1.0}, [])
