from __future__ import annotations

from pathlib import Path

import pytest

from churnmodel import ConfigError
from churnmodel.config import load_settings


def test_precedence_defaults_file_environment_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[data]\ncustomer_col = "from_file"\ntimezone = "Europe/Paris"\n'
        'amount_col = "file_amount"\n[features]\ntime_unit = "W"\n'
    )
    monkeypatch.setenv("CHURNMODEL_DATA__TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("CHURNMODEL_DATA__AMOUNT_COL", "env_amount")
    s = load_settings(cfg, {"data": {"amount_col": "flag_amount", "date_col": None}})
    assert s.data.customer_col == "from_file"  # file over default
    assert s.data.timezone == "Asia/Tokyo"  # environment over file
    assert s.data.amount_col == "flag_amount"  # flag over environment
    assert s.data.date_col == "timestamp"  # unset flag leaves the default
    assert s.features.time_unit == "W"


def test_invalid_values_name_the_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[features]\ntime_unit = "Y"\n')
    with pytest.raises(ConfigError, match=r"features.time_unit"):
        load_settings(cfg)
    cfg.write_text("[data]\nunknown = 1\n")
    with pytest.raises(ConfigError, match=r"data.unknown"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")
