"""The [plan] settings section: file, environment, merge over the defaults, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnmodel.config import load_settings
from churnmodel.exceptions import ConfigError
from churnmodel.workflows.plan import policy_from_settings


def test_file_and_environment_reach_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[plan]\nbudget = 1000.0\ncosts = { win_back = 4.5 }\n")
    monkeypatch.setenv("CHURNMODEL_PLAN__MAX_CONTACTS", "3")
    policy = policy_from_settings(load_settings(config))
    assert policy.budget == 1000.0 and policy.max_contacts == 3
    assert policy.cost("win_back") == 4.5 and policy.cost("nurture") == 1.0  # merged
    assert policy_from_settings(load_settings(config), budget=50.0).budget == 50.0


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[plan]\nresponse_rates = { loyal = 1.5 }\n")
    with pytest.raises(ConfigError, match=r"plan.response_rates.*\[0, 1\]"):
        load_settings(config)
    config.write_text("[plan]\nmax_contacts = 0\n")
    with pytest.raises(ConfigError, match=r"plan\.max_contacts"):
        load_settings(config)
