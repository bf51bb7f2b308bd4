"""Usage errors: one line that says what was wrong and what is close, exit code 2, no traceback.

Every subcommand is driven with an unknown option, an option without its value, a missing
required option (where it has one), a value of the wrong type, and a misspelt command name.
Nothing here reads data or starts a job: each case fails while the command line is parsed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from churnmodel.cli import app, main
from churnmodel.dates import DATE_FORM

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]

# command -> (an option taking a number, a value it refuses)
WRONG_TYPE = {
    "features": ("--max-quarantine-share", "a lot"),
    "simulate": ("--customers", "ten"),
    "train": ("--horizon-days", "abc"),
    "score": ("--max-quarantine-share", "x"),
    "monitor": ("--max-quarantine-share", "lots"),
    "serve": ("--port", "http"),
    "server": ("--workers", "many"),
    "ui": ("--port", "5000a"),
    "plan": ("--budget", "plenty"),
}
# command -> its required option (commands without one are absent)
REQUIRED = {"features": "--output", "simulate": "--output", "score": "--output"}
# What the required option needs so that a wrong-type case fails on the type, not on it.
REQUIRED_ARGS = {c: [o, "out.parquet"] for c, o in REQUIRED.items()}
REQUIRED_ARGS["plan"] = ["--scores", "scores.parquet", "--output", "plan.parquet"]

# Every date argument of the command line: command -> option.
DATE_OPTIONS = {
    ("features", "--as-of"),
    ("score", "--as-of"),
    ("monitor", "--as-of"),
    ("train", "--cutoff"),
    ("simulate", "--start"),
    ("simulate", "--end"),
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_usage_line(code: int, err: str, prefix: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prefix}: error: "), err
    return lines[0]


def test_every_command_is_covered() -> None:
    assert set(COMMANDS) == set(WRONG_TYPE)


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_option_names_the_closest(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    typo, meant = (
        ("--customer", "--customers") if command == "simulate" else ("--confg", "--config")
    )
    line = _one_usage_line(*_run([command, typo, "x"], capsys)[::2], prefix=f"churnmodel {command}")
    assert f"no such option {typo}; did you mean {meant}?" in line
    line = _one_usage_line(*_run([command, "--zzzz"], capsys)[::2], prefix=f"churnmodel {command}")
    assert f"see churnmodel {command} --help" in line


def test_the_issue_s_misspelt_column_flag(capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_usage_line(*_run(["train", "--date-column", "x"], capsys)[::2], "churnmodel train")
    assert line.endswith("did you mean --date-col?")


@pytest.mark.parametrize("command", COMMANDS)
def test_option_without_its_value(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    option = WRONG_TYPE[command][0]
    line = _one_usage_line(*_run([command, option], capsys)[::2], prefix=f"churnmodel {command}")
    assert f"Option '{option}' requires an argument" in line


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_missing_required_option(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_usage_line(*_run([command], capsys)[::2], prefix=f"churnmodel {command}")
    assert "Missing option '--output'" in line and f"churnmodel {command} --help" in line


def test_plan_without_its_scores(capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_usage_line(*_run(["plan", "-o", "p.csv"], capsys)[::2], prefix="churnmodel plan")
    assert "Missing option '--scores'" in line and "churnmodel plan --help" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_wrong_type(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    option, value = WRONG_TYPE[command]
    argv = [command, *REQUIRED_ARGS.get(command, []), option, value]
    line = _one_usage_line(*_run(argv, capsys)[::2], prefix=f"churnmodel {command}")
    assert f"Invalid value for '{option}'" in line


TYPOS = {
    "features": "feautres",
    "simulate": "simulte",
    "train": "trian",
    "score": "scroe",
    "monitor": "monitr",
    "serve": "serv",
    "server": "servr",
    "ui": "uii",
    "plan": "paln",
}


@pytest.mark.parametrize("command", COMMANDS)
def test_misspelt_command_names_the_command(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = TYPOS[command]
    line = _one_usage_line(*_run([typo, "--help"], capsys)[::2], prefix="churnmodel")
    assert line == f"churnmodel: error: no such command {typo!r}; did you mean {command!r}?"


def test_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_usage_line(*_run(["xyzzy"], capsys)[::2], prefix="churnmodel")
    assert line.endswith("the commands are " + ", ".join(COMMANDS))


def test_every_date_option_is_iso_8601() -> None:
    group = typer.main.get_command(app)
    found = {
        (name, opt)
        for name, cmd in group.commands.items()  # type: ignore[attr-defined]
        for param in cmd.params
        for opt in param.opts
        if param.metavar == DATE_FORM
    }
    assert found == DATE_OPTIONS
    dated = {
        (name, opt)
        for name, cmd in group.commands.items()  # type: ignore[attr-defined]
        for param in cmd.params
        for opt in param.opts
        # words of the flag, so that --backend-store-uri is not an "end"
        if {"date", "as", "cutoff", "start", "end"} & set(opt.removeprefix("--").split("-"))
    }
    # --date-col and --date-format name a column and the form of the timestamps inside files.
    assert {opt for _, opt in dated - found} <= {"--date-col", "--date-format"}


@pytest.mark.parametrize(("command", "option"), sorted(DATE_OPTIONS))
@pytest.mark.parametrize("value", ["01/06/2024", "13/06/2024", "2024-6-1", "2024-02-30"])
def test_dates_refuse_anything_but_iso(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, *REQUIRED_ARGS.get(command, []), option, value]
    line = _one_usage_line(*_run(argv, capsys)[::2], prefix=f"churnmodel {command}")
    assert f"Invalid value for '{option}': {value!r} is not an ISO 8601 date" in line
    assert DATE_FORM in line and "2024-06-30" in line


def test_help_shows_every_default_and_the_date_form(capsys: pytest.CaptureFixture[str]) -> None:
    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        for param in cmd.params:
            if param.name == "help" or param.required:
                continue
            assert param.show_default not in (None, False) or param.default not in (None, False), (
                f"{name} {param.opts[0]} shows no default"
            )
        assert main([name, "--help"]) == 0
        text = capsys.readouterr().out
        assert not re.search(r"[a-z] \.(\s|$)", text), text  # "End of calibration ."
        assert "<bool>" not in text
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--cutoff YYYY-MM-DD" in text and "[default: (CDNOW: 1997-09-30" in text


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("churnmodel")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)


def test_the_installed_command() -> None:
    bare = _cli()
    assert bare.returncode == 0 and "Usage: churnmodel" in bare.stdout and not bare.stderr
    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("churnmodel 0.")
    wrong = _cli("score")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().count("\n") == 0 and "Missing option '--output'" in wrong.stderr
