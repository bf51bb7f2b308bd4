"""The champion's track record on the simulator: realised against promised, and input drift.

A champion is trained on a simulated log up to 2023-09-30 and serves the next 92 days. Then the
log grows to 2023-12-31, once as the same customers went on buying (no drift), once after a
change of regime on 2023-09-30: customers buy at 30 % of their rate and leave four times as
fast (:func:`churnmodel.datasets.change_regime`). Monitoring must report the drift and the
realised drop in the second case and nothing in the first.
"""

from __future__ import annotations

import fcntl
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.config import load_settings
from churnmodel.datasets import change_regime, simulate
from churnmodel.exceptions import ConfigError
from churnmodel.workflows import monitor_job, score_job, train_job

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]

SERVED = date(2023, 9, 30)
CHANGE = pd.Timestamp("2023-10-01")


class Store:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"

    def settings(self, **monitoring: object):  # type: ignore[no-untyped-def]
        return load_settings(
            None,
            {
                "tracking": {"uri": self.uri, "artifact_root": str(self.folder / "arts")},
                "model": {"backtest_cutoffs": 0},
                "monitoring": dict(monitoring),
            },
        )


def _build(folder: Path) -> None:
    log = simulate(3_000, seed=11, start="2020-01-01", end="2023-12-31")
    tx = log.transactions
    tx[tx["timestamp"] < CHANGE].to_parquet(folder / "train.parquet")
    tx.to_parquet(folder / "now.parquet")
    tx[tx["timestamp"] < pd.Timestamp("2023-11-01")].to_parquet(folder / "october.parquet")
    drifted = change_regime(log, day=SERVED, purchase_rate_factor=0.3, dropout_rate_factor=4.0)
    drifted.transactions.to_parquet(folder / "drift.parquet")
    settings = load_settings(
        None,
        {
            "tracking": {"uri": Store(folder).uri, "artifact_root": str(folder / "arts")},
            "model": {"horizon_days": 92, "backtest_cutoffs": 0},
        },
    )
    trained = train_job(settings, data=folder / "train.parquet")
    assert trained.promoted and trained.served_through == SERVED


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The champion's store, built once per session and shared by the xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / "monitor_session"
    folder.mkdir(exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (folder / "trained").exists():
                _build(folder)
                (folder / "trained").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return Store(folder)


def test_without_drift_nothing_is_reported(store: Store) -> None:
    r = monitor_job(store.settings(), data=store.folder / "now.parquet")
    assert r.complete and r.as_of == SERVED and r.window_end == date(2023, 12, 31)
    assert r.ok, r.problems
    assert r.promised_scorecard == "aligned"
    assert abs(r.realised["lapse_roc_auc"] - r.promised["lapse_roc_auc"]) < 0.05
    assert abs(r.realised["lapse_calibration_gap"]) < 0.1
    held = r.drift[r.drift["held_to_limit"]]
    assert held["psi"].max() < 0.2
    # the registered version carries its latest record
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store.uri)
    tags = client.get_model_version("churnmodel", r.model.version).tags
    assert tags["monitor_status"] == "ok" and tags["monitor_run_id"] == r.run_id
    assert float(tags["realised_lapse_roc_auc"]) == pytest.approx(
        r.realised["lapse_roc_auc"], abs=1e-4
    )
    run = client.get_run(r.run_id)
    assert run.data.tags["window"] == "complete"
    assert run.data.metrics["realised_lapse_roc_auc"] == round(r.realised["lapse_roc_auc"], 4)
    assert "psi/purchases_90d" in run.data.metrics
    assert client.get_experiment(run.info.experiment_id).name == "churnmodel-monitoring"
    assert "**Realised**" in run.data.tags["mlflow.note.content"]


def test_drift_and_the_realised_drop_are_reported_with_exit_code_3(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = monitor_job(store.settings(), data=store.folder / "drift.parquet")
    assert not r.ok
    assert any(p.startswith("input drift: PSI above 0.2") for p in r.problems), r.problems
    realised = [p for p in r.problems if not p.startswith("input drift")]
    assert realised, r.problems  # the forecast was off too: fewer purchases than promised
    assert r.realised["lapse_base_rate"] > r.realised["lapse_mean_p_churn"] + 0.05
    assert r.realised["spend_total_relative_error"] > 0.5  # the forecast spend did not come
    # the command line: exit code 3, one line per problem on stderr
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    monkeypatch.setenv("CHURNMODEL_MODEL__BACKTEST_CUTOFFS", "0")
    code = main(["monitor", "--data", str(store.folder / "drift.parquet")])
    out = capsys.readouterr()
    assert code == 3, out.err
    assert "churnmodel: monitor: input drift" in out.err
    assert "realised:" in out.out and "promised" in out.out
    assert main(["monitor", "--data", str(store.folder / "now.parquet")]) == 0


def test_limits_are_settings(store: Store) -> None:
    loose = monitor_job(
        store.settings(
            max_psi=5.0,
            max_calibration_gap=1.0,
            max_spearman_drop=1.0,
            max_spend_error=100.0,
            max_auc_drop=1.0,
            max_brier_rise=1.0,
        ),
        data=store.folder / "drift.parquet",
    )
    assert loose.ok
    strict = monitor_job(store.settings(max_psi=0.001), data=store.folder / "now.parquet")
    assert [p for p in strict.problems if p.startswith("input drift")]


def test_an_open_window_measures_drift_only(store: Store) -> None:
    r = monitor_job(store.settings(), data=store.folder / "october.parquet")
    assert not r.complete and not r.realised
    assert r.data_end == date(2023, 10, 31) and len(r.drift) > 10
    import mlflow

    run = mlflow.MlflowClient(tracking_uri=store.uri).get_run(r.run_id)
    assert run.data.tags["window"] == "open"
    assert "no realised metrics yet" in run.data.tags["mlflow.note.content"]


def test_earlier_scores_are_judged_as_sent(store: Store, tmp_path: Path) -> None:
    settings = store.settings()
    scores = score_job(
        settings, data=store.folder / "train.parquet", output=tmp_path / "scores.parquet"
    )
    assert scores.as_of == SERVED
    sent = monitor_job(settings, data=store.folder / "now.parquet", scores=scores.output)
    again = monitor_job(settings, data=store.folder / "now.parquet")
    assert sent.realised["lapse_roc_auc"] == pytest.approx(again.realised["lapse_roc_auc"])
    assert sent.scores_source == str(scores.output)


def test_what_cannot_be_judged_is_refused(store: Store, tmp_path: Path) -> None:
    settings = store.settings()
    with pytest.raises(ConfigError, match="fitted on data to 2023-09-30, which include"):
        monitor_job(settings, data=store.folder / "now.parquet", as_of="2023-08-31")
    with pytest.raises(ConfigError, match="monitoring needs the log as it is now"):
        monitor_job(settings, data=store.folder / "train.parquet")
    other = tmp_path / "other.parquet"
    pd.DataFrame({"customer_id": ["C1"], "p_churn": [0.5]}).to_parquet(other)
    with pytest.raises(ConfigError, match="no churnmodel metadata"):
        monitor_job(settings, data=store.folder / "now.parquet", scores=other)
