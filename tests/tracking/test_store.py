from __future__ import annotations

from pathlib import Path

import pytest

from churnmodel.exceptions import ConfigError
from churnmodel.tracking import DEFAULT_TRACKING_URI, open_store, resolve_tracking_uri, ui_command


def test_tracking_uri_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")
    assert resolve_tracking_uri() == "http://mlflow.team:5000"  # a team server
    assert resolve_tracking_uri("sqlite:///other.db") == "sqlite:///other.db"  # settings win
    with pytest.raises(ConfigError, match="three slashes"):
        resolve_tracking_uri("sqlite://mlflow.db")


@pytest.mark.mlflow
def test_local_store_keeps_artifacts_beside_the_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = open_store(uri, experiment="churn test/1", artifact_root="arts")
    assert store.is_local and store.uri == uri
    assert store.artifact_location == (tmp_path / "arts" / "churn_test_1").as_uri()
    again = open_store(uri, experiment="churn test/1")
    assert again.experiment_id == store.experiment_id


def test_ui_command_is_light_and_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    command, env = ui_command()
    assert command[1:4] == ["-m", "mlflow", "server"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--workers") + 1] == "1"
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:///mlflow.db"
    assert command[command.index("--default-artifact-root") + 1].endswith("/mlartifacts")
    assert env["MLFLOW_TRACKING_URI"] == "sqlite:///mlflow.db"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
