"""What one training run leaves in MLflow (the session's run on the CDNOW sample)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from churnmodel.exceptions import ConfigError
from churnmodel.tracking import (
    PromotionDecision,
    RegisteredVersion,
    apply_promotion,
    register_version,
    resolve_model,
)
from tests.tracking.session import CUTOFF, TrainedStore

pytestmark = pytest.mark.mlflow


@pytest.fixture(scope="module")
def client(trained: TrainedStore) -> Any:
    import mlflow

    mlflow.set_tracking_uri(trained.tracking_uri)
    mlflow.set_registry_uri(trained.tracking_uri)
    return mlflow.MlflowClient()


def test_run_has_a_descriptive_name_params_and_tags(trained: TrainedStore, client: Any) -> None:
    run = client.get_run(trained.run_id)
    # data, cut-off, horizon and when: distinct for two runs on the same data
    name = rf"cdnow-sample {CUTOFF} \+273d \d{{4}}-\d\d-\d\dT\d\d:\d\d"
    assert re.fullmatch(rf"{name}( #2)?", run.info.run_name), run.info.run_name
    first = client.get_run(trained.first_run_id)
    assert re.fullmatch(name, first.info.run_name) and first.info.run_name != run.info.run_name
    # the run spans the whole job (it is opened after training, back-dated to its start)
    assert run.info.end_time - run.info.start_time > 1000 * run.data.metrics["train_seconds"] * 0.9
    params = run.data.params
    assert params["model.cutoff"] == CUTOFF and params["model.horizon_days"] == "273"
    assert params["data.customer_col"] == "customer_id"
    assert params["tracking.promotion_rules"] == "lapse_roc_auc > 0.5"
    assert params["profile.customers"] == "2357"
    tags = run.data.tags
    digest = hashlib.sha256(trained.data.read_bytes()).hexdigest()
    assert tags["data_fingerprint"] == f"sha256:{digest}"
    assert tags["churnmodel_version"] == "0.1.0"
    assert len(tags["git_commit"]) == 40 and tags["git_commit"] == tags["mlflow.source.git.commit"]
    assert tags["promotion"] == "promoted" and tags["registered_version"] == trained.version
    assert int(tags["model_size_bytes"]) > 0


def test_metrics_read_well_in_the_ui(trained: TrainedStore, client: Any) -> None:
    metrics = client.get_run(trained.run_id).data.metrics
    for name in (
        "lapse_roc_auc",
        "lapse_brier",
        "lapse_pr_auc",
        "spend_spearman",
        "spend_normalized_gini",
        "baseline_recency_roc_auc",
        "lapse_n_customers",
        "model_size_mb",
        "train_seconds",
    ):
        assert name in metrics, name
    assert 0.5 < metrics["lapse_roc_auc"] < 1 and metrics["lapse_n_customers"] == 2357
    assert 0 < metrics["model_size_mb"] < 20


def test_headline_metrics_come_first_rounded_with_their_differences(
    trained: TrainedStore, client: Any
) -> None:
    from churnmodel.workflows.summary import VIEW_METRICS

    metrics = client.get_run(trained.run_id).data.metrics
    # the run page lists metrics in the order they were logged: the headline first
    assert tuple(metrics)[: len(VIEW_METRICS)] == VIEW_METRICS
    assert all(round(value, 4) == value for value in metrics.values())
    best = max(metrics["baseline_recency_roc_auc"], metrics["baseline_bgnbd_roc_auc"])
    assert metrics["lapse_roc_auc_vs_baseline"] == pytest.approx(
        metrics["lapse_roc_auc"] - best, abs=2e-4
    )
    # the same recipe on the same data as the champion: no difference
    assert metrics["lapse_roc_auc_vs_champion"] == 0
    assert metrics["lapse_roc_auc"] == metrics["champion_lapse_roc_auc"]
    first = client.get_run(trained.first_run_id).data.metrics
    assert "lapse_roc_auc_vs_champion" not in first  # there was no champion yet


def test_backtest_is_a_line_over_the_cutoffs(trained: TrainedStore, client: Any) -> None:
    history = client.get_metric_history(trained.run_id, "backtest/lapse_roc_auc")
    assert len(history) == 4
    steps = [point.step for point in sorted(history, key=lambda p: p.step)]
    assert steps == sorted(set(steps)) and steps[-1] == (date(1997, 9, 30) - date(1997, 1, 1)).days
    last = max(history, key=lambda p: p.step)
    assert last.value == client.get_run(trained.run_id).data.metrics["lapse_roc_auc"]
    assert last.timestamp == 875577600000  # 1997-09-30T00:00Z: the time axis reads the cut-off


def test_input_data_is_an_mlflow_dataset(trained: TrainedStore, client: Any) -> None:
    (entry,) = client.get_run(trained.run_id).inputs.dataset_inputs
    dataset = entry.dataset
    assert dataset.name == "cdnow_sample.csv"
    digest = hashlib.sha256(trained.data.read_bytes()).hexdigest()
    assert dataset.digest == digest[:12]
    assert json.loads(dataset.source)["uri"] == str(trained.data.resolve())
    columns = [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]]
    assert columns == ["customer_id", "timestamp", "amount"]
    profile = json.loads(dataset.profile)
    assert profile["rows_read"] == 6919 and profile["customers"] == 2357
    assert {t.key: t.value for t in entry.tags}["mlflow.data.context"] == "training"


def test_experiment_opens_as_model_training_with_the_headline_view(
    trained: TrainedStore, client: Any
) -> None:
    from churnmodel.tracking.views import HEADLINE_VIEW, VIEW_TAG_PREFIX

    tags = client.get_experiment(trained.experiment_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert tags["mlflow.experiment.primaryMetric.name"] == "lapse_roc_auc"
    view = json.loads(tags[f"{VIEW_TAG_PREFIX}{HEADLINE_VIEW}"])
    state = json.loads(view["state"])
    assert view["name"] == "churnmodel: headline metrics"
    assert "metrics.`lapse_roc_auc_vs_champion`" in state["selectedColumns"]


def test_description_is_a_markdown_scorecard(trained: TrainedStore, client: Any) -> None:
    text = client.get_run(trained.run_id).data.tags["mlflow.note.content"]
    for part in (
        "**Headline**",
        "vs best baseline",
        "ROC AUC [95% interval]",
        "baseline: days since last purchase",
        "champion churnmodel v1",
        "**Backtest**",
        "**Which data each model saw**",
        "promoted to @champion",
    ):
        assert part in text, part
    auc = client.get_run(trained.run_id).data.metrics["lapse_roc_auc"]
    assert f"| **{auc:.3f} [" in text  # the model's row: value with its interval, bold


def test_artifacts_settings_profile_scorecard_and_plots(trained: TrainedStore, client: Any) -> None:
    import mlflow

    root = Path(
        mlflow.artifacts.download_artifacts(
            run_id=trained.run_id, dst_path=str(trained.folder / f"download-{trained.run_id}")
        )
    )
    settings = json.loads((root / "config" / "settings.json").read_text())
    assert settings["model"]["cutoff"] == CUTOFF and settings["data"]["timezone"] == "UTC"
    profile = json.loads((root / "data" / "profile.json").read_text())
    assert profile["rows"]["rows_read"] == 6919 and profile["customers"] == 2357
    assert profile["reconciles"] and profile["holdout"]["days"] == 273
    assert profile["fingerprint"].startswith("sha256:")
    table = json.loads((root / "evaluation" / "scorecard.json").read_text())
    assert {"task", "name", "roc_auc", "spearman"} <= set(table["columns"])
    assert (root / "evaluation" / "scorecard.csv").read_text().startswith("task,name")
    lapse = json.loads((root / "evaluation" / "scorecard_lapse.json").read_text())
    assert lapse["columns"][:2] == ["model", "ROC AUC [95% interval]"]
    assert len(lapse["columns"]) <= 6  # narrow enough for the artifact viewer
    backtest = (root / "evaluation" / "backtest.csv").read_text()
    assert backtest.startswith("cutoff,task,name") and "1997-07-02" in backtest
    plots = sorted(p.name for p in (root / "plots").glob("*.png"))
    assert {"roc.png", "calibration.png", "value_risk_matrix.png", "backtest.png"} <= set(plots)
    for png in (root / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_registered_model_has_signature_example_and_champion_alias(
    trained: TrainedStore,
    client: Any,
) -> None:
    from mlflow.models import get_model_info

    version = client.get_model_version_by_alias("churnmodel", "champion")
    assert str(version.version) == trained.version and version.run_id == trained.run_id
    assert version.tags["promotion"] == "promoted"
    info = get_model_info(trained.champion_uri)
    assert info.signature.inputs.input_names() == ["customer_id", "timestamp", "amount"]
    assert "p_churn" in info.signature.outputs.input_names()
    assert info.saved_input_example_info is not None
    assert info.metadata["cutoff"] == CUTOFF


def test_a_version_failing_the_rules_does_not_take_the_alias(
    trained: TrainedStore,
    client: Any,
) -> None:
    name = "churnmodel-rules-test"
    first = register_version(trained.model_uri, name)
    apply_promotion(first, PromotionDecision(True, ("a > b holds",)), client=client)
    second = register_version(trained.model_uri, name)
    previous = apply_promotion(
        second, PromotionDecision(False, ("a > b fails (a = 1, b = 2)",)), client=client
    )
    assert previous == first.version
    assert str(client.get_model_version_by_alias(name, "champion").version) == first.version
    tags = client.get_model_version(name, second.version).tags
    assert tags["promotion"] == "not promoted" and "fails" in tags["promotion_reason"]
    assert isinstance(second, RegisteredVersion)


def test_resolve_model_lists_what_exists(trained: TrainedStore, client: Any) -> None:
    ok = resolve_model(trained.champion_uri)
    assert (
        ok.version == trained.version and ok.label == f"churnmodel v{trained.version} (@champion)"
    )
    assert resolve_model(f"models:/churnmodel/{trained.version}").run_id == trained.run_id
    with pytest.raises(ConfigError, match=r"has no alias @prod.*churnmodel \(@champion -> v"):
        resolve_model("models:/churnmodel@prod")
    with pytest.raises(ConfigError, match=r"no registered model named 'nope'.*Registered models"):
        resolve_model("models:/nope@champion")
    with pytest.raises(ConfigError, match="has no version 99"):
        resolve_model("models:/churnmodel/99")
    with pytest.raises(ConfigError, match="not a folder holding an MLmodel"):
        resolve_model(str(trained.folder / "nowhere"))
