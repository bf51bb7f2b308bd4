"""docs/configuration.md is generated from the settings classes and the CLI, and current."""

from __future__ import annotations

import typer

from churnmodel import reference
from churnmodel.cli import SETTING_FLAGS, _data_flags, app
from churnmodel.config import DataSettings, Settings

# Options of the commands that are not settings: inputs, outputs and servers.
NOT_SETTINGS = {
    "--output",
    "--data",
    "--as-of",
    "--config",
    "--engine",
    "--spark-master",
    "--model",
    "--port",
    "--host",
    "--workers",
    "--customers",
    "--seed",
    "--start",
    "--end",
    "--scenario",
    "--scores",
    "--contacts",
}


def test_configuration_md_is_current() -> None:
    assert reference.main(["--check"]) == 0, "run: .venv/bin/python -m churnmodel.reference"


def test_every_setting_is_documented_with_its_environment_variable() -> None:
    text = reference.settings_reference()
    for section, field in Settings.model_fields.items():
        assert f"## [{section}]" in text
        for name, info in field.annotation.model_fields.items():  # type: ignore[union-attr]
            assert info.description, f"{section}.{name} has no docstring in config.py"
            assert f"`CHURNMODEL_{section.upper()}__{name.upper()}`" in text


def test_every_option_is_a_setting_flag_or_known_not_to_be_one() -> None:
    group = typer.main.get_command(app)
    options = {
        opt
        for command in group.commands.values()  # type: ignore[attr-defined]
        for param in command.params
        for opt in param.opts
        if opt.startswith("--")
    }
    assert set(SETTING_FLAGS.values()) <= options
    assert options - set(SETTING_FLAGS.values()) == NOT_SETTINGS
    for key in SETTING_FLAGS:
        section, name = key.split(".")
        assert name in Settings.model_fields[section].annotation.model_fields  # type: ignore[union-attr]


def test_the_data_flags_are_the_data_settings() -> None:
    flags = _data_flags(*[None] * 11)
    assert set(flags) == set(DataSettings.model_fields)
    assert {k for k in SETTING_FLAGS if k.startswith("data.")} == {f"data.{n}" for n in flags}
