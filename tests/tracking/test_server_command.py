"""`churnmodel server` without a database: the command it plans, and one line for each mistake.

The server itself, on a real PostgreSQL, is tested in ``test_team_server.py``.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from churnmodel.cli import main
from churnmodel.tracking.server import server_command
from tests.tracking.session import free_port

URI = "postgresql://mlflow:p%40ss%25word@db.internal:5432/mlflow"  # password p@ss%word


@pytest.fixture(autouse=True)
def _no_server_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHURNMODEL_SERVER__BACKEND_STORE_URI", "CHURNMODEL_SERVER__AUTH_DATABASE_URI"):
        monkeypatch.delenv(name, raising=False)


def _one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("churnmodel: error: ")
    return lines[0]


def test_without_a_database_it_names_the_setting_and_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _one_line(["server"], capsys)
    assert "CHURNMODEL_SERVER__BACKEND_STORE_URI=" in line and "--backend-store-uri" in line


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("sqlite:///mlflow.db", "must be a PostgreSQL URI"),
        ("postgres://u:p@h/db", "write 'postgresql://'"),
        ("postgresql://u:p@h:5432", "names no database"),
        ("not a uri", "is not a database URI"),
    ],
)
def test_a_wrong_uri_is_one_line(uri: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert says in _one_line(["server", "--backend-store-uri", uri], capsys)


def test_an_unreachable_database_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nothing listens there
    uri = f"postgresql://mlflow:topsecret@127.0.0.1:{port}/mlflow"
    line = _one_line(["server", "--backend-store-uri", uri], capsys)
    assert f"cannot connect to the backend store postgresql://mlflow:***@127.0.0.1:{port}" in line
    assert "topsecret" not in line
    assert "is PostgreSQL running there" in line


def test_the_plan_binds_loopback_with_auth_and_proxied_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    monkeypatch.delenv("MLFLOW_FLASK_SERVER_SECRET_KEY", raising=False)
    plan = server_command(URI, artifacts_destination="arts", auth_config_path=tmp_path / "auth.ini")
    command = plan.command
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--app-name") + 1] == "basic-auth"
    assert "--serve-artifacts" in command
    assert command[command.index("--artifacts-destination") + 1] == str(tmp_path / "arts")
    # the password travels in the environment, not in the process list
    assert not any("ss%25word" in part for part in command)
    assert plan.env["MLFLOW_BACKEND_STORE_URI"] == URI
    assert plan.env["MLFLOW_AUTH_CONFIG_PATH"] == str(tmp_path / "auth.ini")
    assert len(plan.env["MLFLOW_FLASK_SERVER_SECRET_KEY"]) >= 32
    assert "MLFLOW_TRACKING_URI" not in plan.env  # the server is not a client of another
    assert plan.backend_shown == "postgresql://mlflow:***@db.internal:5432/mlflow"
    # MLflow reads the auth config with configparser: the URI must come back as given.
    (tmp_path / "auth.ini").write_text(plan.auth_config)
    parsed = configparser.ConfigParser()
    parsed.read(tmp_path / "auth.ini")
    assert parsed["mlflow"]["database_uri"] == URI
    assert parsed["mlflow"]["admin_username"] == "admin"
    assert parsed["mlflow"]["default_permission"] == "READ"


def test_an_object_store_destination_and_other_hosts_are_passed_on(tmp_path: Path) -> None:
    plan = server_command(
        URI,
        artifacts_destination="s3://bucket/churnmodel",
        auth_config_path=tmp_path / "auth.ini",
        host="0.0.0.0",
        allowed_hosts=("mlflow.example.com", "10.0.0.5:5000"),
    )
    command = plan.command
    assert command[command.index("--artifacts-destination") + 1] == "s3://bucket/churnmodel"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--allowed-hosts") + 1] == "mlflow.example.com,10.0.0.5:5000"


def test_without_postgresql_the_end_to_end_test_skips_but_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.tracking import postgres

    monkeypatch.setattr(postgres, "postgres_bin", lambda: None)
    monkeypatch.delenv(postgres.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y postgresql"):
        postgres.require_postgres()
    monkeypatch.setenv(postgres.REQUIRE_ENV, "1")  # .ci/run sets it
    with pytest.raises(pytest.fail.Exception, match="CHURNMODEL_REQUIRE_POSTGRES=1 requires"):
        postgres.require_postgres()
