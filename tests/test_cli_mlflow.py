"""The MLflow commands of the CLI: train, score, serve, ui (errors map to exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnmodel.cli import main
from tests.tracking.session import TrainedStore, trained_store

pytestmark = pytest.mark.mlflow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    return trained_store(tmp_path_factory)


@pytest.fixture
def store_env(trained: TrainedStore, monkeypatch: pytest.MonkeyPatch) -> TrainedStore:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    monkeypatch.delenv("CHURNMODEL_TRACKING__URI", raising=False)
    return trained


def test_help_lists_the_mlflow_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "score", "serve", "ui"):
        assert command in out


def test_score_writes_scores_and_prints_a_summary(
    store_env: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores.parquet"
    code = main(["score", "--data", str(store_env.data), "--output", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert f"scored 2,357 customers at 1998-06-30 with churnmodel v{store_env.version}" in text
    assert "total value at risk" in text and "top 10 customers by value at risk" in text
    assert "counts reconcile: yes" in text
    assert f"scores:     {out}" in text
    assert len(pd.read_parquet(out)) == 2357
    assert (tmp_path / "scores.quarantine.csv").exists()


def test_wrong_alias_lists_registered_models(
    store_env: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(store_env.data), "--output", str(tmp_path / "s.parquet")]
    assert main(["score", *args, "--model", "models:/churnmodel@prod"]) == 2
    err = capsys.readouterr().err
    assert "churnmodel: error: model 'models:/churnmodel@prod' not found" in err
    assert "Registered models: " in err and "churnmodel (@champion -> v" in err
    assert main(["serve", "--model", "models:/missing@champion"]) == 2  # before any server
    assert "no registered model named 'missing'" in capsys.readouterr().err


def test_schema_mismatch_is_one_clear_line(
    store_env: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    renamed = tmp_path / "orders.csv"
    pd.read_csv(store_env.data).rename(columns={"customer_id": "cust"}).to_csv(renamed, index=False)
    args = ["score", "--data", str(renamed), "--output", str(tmp_path / "s.parquet")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "column(s) 'customer_id' not found" in err and "'cust'" in err
    assert "--customer-col" in err  # the hint names the flag
    assert main([*args, "--customer-col", "cust"]) == 0


def test_train_that_fails_the_rules_says_why_and_keeps_no_champion(
    store_env: TrainedStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "churnmodel.toml"
    config.write_text(
        '[model]\ncutoff = "1997-09-30"\n'
        "[features]\nzero_net_is_purchase = true\n"
        f'[tracking]\nuri = "sqlite:///{tmp_path / "mlflow.db"}"\n'
        f'artifact_root = "{tmp_path / "arts"}"\n'
        'promotion_rules = ["lapse_roc_auc > baseline_recency_roc_auc", "lapse_roc_auc > 0.99"]\n'
    )
    code = main(
        ["train", "--data", str(store_env.data), "--config", str(config), "--experiment", "cli"]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "calibration to 1997-09-30, holdout 1997-10-01 .. 1998-06-30 (273 days)" in text
    assert "lapse_roc_auc" in text and "baseline_recency_roc_auc" in text
    assert "champion: NOT promoted, @champion stays on no version: " in text
    assert "lapse_roc_auc > 0.99 fails (lapse_roc_auc = 0." in text
    assert "model:    churnmodel v1, " in text and " MB (" in text
    # Scoring by the default alias now explains that no version holds it.
    args = ["score", "--data", str(store_env.data), "--output", str(tmp_path / "s.csv")]
    assert main([*args, "--config", str(config)]) == 2
    assert "'churnmodel' has no alias @champion" in capsys.readouterr().err


def test_train_flags_refit_register_and_the_compared_champion(
    store_env: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "churnmodel.toml"
    config.write_text(
        '[model]\ncutoff = "1997-09-30"\n'
        "[features]\nzero_net_is_purchase = true\n"
        f'[tracking]\nuri = "sqlite:///{store_env.folder / "mlflow.db"}"\n'
        f'artifact_root = "{tmp_path / "arts"}"\n'
    )
    args = ["train", "--data", str(store_env.data), "--config", str(config)]
    assert main([*args, "--no-refit", "--no-register", "--experiment", "flags"]) == 0
    text = capsys.readouterr().out
    assert "served:   fitted on data to 1997-09-30, forecasts 1997-10-01 .. 1998-06-30" in text
    assert "model:    logged, not registered (--no-register)" in text
    # Not registered, but compared with the champion it would have competed with.
    champion = f"churnmodel v{store_env.version}"
    assert f"compared: {champion} (holdout fit, data to 1997-09-30) on the holdout" in text
    assert "champion_lapse_roc_auc" in text
    # where to review it, in the UI's model-training mode
    assert "review:   churnmodel ui, then http://127.0.0.1:5000/#/experiments/" in text
    assert "workflowType=machine_learning" in text and "viewStateShareKey=" in text
