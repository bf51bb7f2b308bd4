"""What ``churnmodel train`` serves: refitted to the end of the log, season-aligned, and only
promoted over the champion it beats, on data the champion was trained on.

Every test trains into its own temporary MLflow store (or the session's shared one, which the
CDNOW sample trained: see ``tests/tracking/session.py``).
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churnmodel.config import load_settings
from churnmodel.datasets import simulate
from churnmodel.serving import load_model
from churnmodel.tracking import Champion, decide_promotion, find_champion, open_store
from churnmodel.workflows.train import RegistryChampion, TrainResult, train_job
from tests.tracking.session import AS_OF, CUTOFF, TrainedStore, trained_store


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    return trained_store(tmp_path_factory)


def _settings(folder: Path, **sections: dict[str, Any]) -> Any:
    tracking = {
        "uri": f"sqlite:///{folder / 'mlflow.db'}",
        "artifact_root": str(folder / "mlartifacts"),
        # The CDNOW sample's classifier does not beat recency reliably (the full log's does);
        # these tests are about which model is served and when it takes the alias.
        "promotion_rules": ["lapse_roc_auc > 0.5", "lapse_roc_auc > champion_lapse_roc_auc"],
        **sections.pop("tracking", {}),
    }
    model = {"cutoff": CUTOFF, **sections.pop("model", {})}
    features = {"zero_net_is_purchase": True, **sections.pop("features", {})}
    return load_settings(
        None, {"tracking": tracking, "model": model, "features": features, **sections}
    )


@pytest.fixture
def copy(trained: TrainedStore, tmp_path: Path) -> Path:
    """A copy of the session's store (its runs' artifacts stay where they are, read-only):
    tests that train more runs do so here, so no other test sees their models."""
    shutil.copy(trained.folder / "mlflow.db", tmp_path / "mlflow.db")
    open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def _bundle(uri: str) -> Any:
    return load_model(uri).model.payload.bundle


# ------------------------------------------------------------------------- refit
def test_the_registered_model_is_refitted_to_the_end_of_the_log(trained: TrainedStore) -> None:
    """The session store's model: evaluated at 1997-09-30, served from 1998-06-30."""
    open_store(trained.tracking_uri)
    champion = find_champion("churnmodel")
    assert champion is not None and champion.version == trained.version
    assert champion.tags["fitted_through"] == AS_OF  # the last day of the log
    assert champion.tags["cutoff"] == CUTOFF  # where it was evaluated
    bundle = _bundle(trained.champion_uri)
    assert bundle.cutoff == date.fromisoformat(AS_OF)
    # Its training design ends at the end of the log, not at the evaluation cut-off, and holds
    # the snapshot whose label window is the served window's one year earlier.
    summary = bundle.training_summary
    label_ends = pd.DatetimeIndex(summary["label_end"])
    assert label_ends.max() == pd.Timestamp(AS_OF)
    assert pd.Timestamp(AS_OF) - pd.Timedelta(days=365) in pd.DatetimeIndex(summary.index)
    # The season window of the served features is the served horizon.
    assert bundle.windows.season == 273


def test_no_refit_registers_the_evaluated_model(tmp_path: Path) -> None:
    result = _train(tmp_path, model={"refit": False})
    assert result.served_through == date.fromisoformat(CUTOFF)
    assert _bundle(f"models:/churnmodel/{result.registered.version}").cutoff == result.cutoff
    assert result.profile["served"]["forecast"]["start"] == "1997-10-01"


# -------------------------------------------------------------------- champion
def test_a_challenger_equal_to_the_champion_is_not_promoted(
    trained: TrainedStore, copy: Path
) -> None:
    before = find_champion("churnmodel")
    assert before is not None and before.version == trained.version
    second = train_job(_settings(copy), data=trained.data)
    assert second.registered is not None and not second.promoted
    # The champion was scored on the same holdout with its fit that had not seen it (its
    # served model saw the holdout), which is the same recipe on the same data.
    assert "holdout fit, data to 1997-09-30" in second.notes["champion"]
    assert second.metrics["champion_lapse_roc_auc"] == pytest.approx(
        second.metrics["lapse_roc_auc"], abs=1e-12
    )
    assert "lapse_roc_auc > champion_lapse_roc_auc fails" in second.decision.summary
    after = find_champion("churnmodel")
    assert after is not None and after.version == trained.version


def test_the_champion_stands_in_with_its_newest_fit_that_did_not_see_the_holdout(
    trained: TrainedStore, tmp_path: Path
) -> None:
    open_store(trained.tracking_uri)
    champion = find_champion("churnmodel")
    assert isinstance(champion, Champion)
    fits = RegistryChampion(champion, tmp_path)
    served, note = fits.bundle_for(date(1998, 6, 30))
    assert served is not None and served.cutoff == date(1998, 6, 30) and "served fit" in note
    evaluated, note = fits.bundle_for(date(1998, 1, 31))
    assert evaluated is not None and evaluated.cutoff == date(1997, 9, 30)
    assert "holdout fit" in note
    none, why = fits.bundle_for(date(1997, 6, 30))
    assert none is None and "saw data after 1997-06-30" in why


def test_a_second_dataset_does_not_move_the_champion_of_another(
    trained: TrainedStore, copy: Path
) -> None:
    other = copy / "sandbox.csv"
    frame = pd.read_csv(trained.data)
    frame[frame["customer_id"] < 1500].to_csv(other, index=False)  # another dataset
    before = find_champion("churnmodel")
    assert before is not None
    result = train_job(_settings(copy, tracking={"experiment": "sandbox"}), data=other)
    assert result.registered is not None and result.registered.name == "churnmodel-sandbox"
    assert "was trained on cdnow_sample.csv" in (result.registered_note or "")
    assert "--registered-model churnmodel or --promote" in (result.registered_note or "")
    after = find_champion("churnmodel")
    assert after is not None and after.version == before.version
    own = find_champion("churnmodel-sandbox")
    assert own is not None and own.version == result.registered.version  # its own champion


def test_naming_the_registered_model_lets_other_data_compete(
    trained: TrainedStore, copy: Path
) -> None:
    other = copy / "other.csv"
    frame = pd.read_csv(trained.data)
    frame.to_csv(other, index=False, lineterminator="\r\n")  # the same rows, other bytes
    result = train_job(_settings(copy, tracking={"registered_model": "churnmodel"}), data=other)
    assert result.registered is not None and result.registered.name == "churnmodel"
    assert result.registered_note is None
    assert result.champion is not None  # compared with the CDNOW-sample champion
    assert "champion_lapse_roc_auc" in result.metrics


def test_no_register_logs_the_run_only(tmp_path: Path, trained: TrainedStore) -> None:
    result = _train(tmp_path, tracking={"register_model": False})
    assert result.registered is None and not result.promoted
    open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert find_champion("churnmodel") is None


def _train(folder: Path, data: Path | None = None, **sections: dict[str, Any]) -> TrainResult:
    source = data
    if source is None:
        from churnmodel.datasets import load_cdnow

        source = folder / "cdnow_sample.csv"
        tx = load_cdnow(sample=True)
        tx.loc[:, ["customer_id", "timestamp", "amount"]].to_csv(source, index=False)
    return train_job(_settings(folder, **sections), data=source)


# -------------------------------------------------------------- season-aligned
def test_the_season_aligned_scorecard_appears_when_the_log_is_long_enough(
    tmp_path: Path,
) -> None:
    log = simulate(2_000, seed=5, start="2021-01-01", end="2023-06-30").transactions
    data = tmp_path / "two_and_a_half_years.parquet"
    log.to_parquet(data, index=False)
    result = train_job(
        _settings(
            tmp_path,
            model={"cutoff": None, "horizon_days": 90},
            features={"zero_net_is_purchase": False},
            tracking={"promotion_rules": ["lapse_roc_auc > baseline_recency_roc_auc"]},
        ),
        data=data,
    )
    assert result.aligned_cutoff == date(2022, 6, 30)  # one year before the served day
    assert "aligned_lapse_roc_auc" in result.metrics
    assert "aligned_baseline_recency_roc_auc" in result.metrics
    # The promotion rules read the season-aligned scorecard.
    assert result.decision.scorecard == "aligned"
    assert f"{result.metrics['aligned_lapse_roc_auc']:.4g}" in result.decision.summary
    assert result.served_through == date(2023, 6, 30)
    # The served design includes the served window one and two years earlier.
    summary = _bundle(f"models:/churnmodel/{result.registered.version}").training_summary  # type: ignore[union-attr]
    cutoffs = set(pd.DatetimeIndex(summary.index).date)
    assert {date(2022, 6, 30), date(2021, 6, 30)} <= cutoffs


def test_the_season_aligned_scorecard_is_skipped_on_a_short_log(trained: TrainedStore) -> None:
    """CDNOW's 18 months cannot hold the served 273-day design one year earlier: no
    season-aligned scorecard, the holdout's decides, and the run says why."""
    open_store(trained.tracking_uri)
    from mlflow import MlflowClient

    run = MlflowClient().get_run(trained.run_id)
    assert not any(k.startswith("aligned_") for k in run.data.metrics)
    note = run.data.tags["mlflow.note.content"]
    assert "No season-aligned evaluation: the log before 1997-06-30" in note
    assert "| **served** (registered) | 1997-01-01 .. 1998-06-30 | forecasts 1998-07-01" in note


# ----------------------------------------------------------------- promotion
def test_rules_read_the_season_aligned_scorecard_and_the_champion() -> None:
    metrics = {
        "lapse_roc_auc": 0.80,
        "baseline_recency_roc_auc": 0.70,
        "champion_lapse_roc_auc": 0.79,
        "aligned_lapse_roc_auc": 0.70,
        "aligned_baseline_recency_roc_auc": 0.72,
        "aligned_champion_lapse_roc_auc": 0.69,
    }
    rules = ["lapse_roc_auc > baseline_recency_roc_auc", "lapse_roc_auc > champion_lapse_roc_auc"]
    holdout = decide_promotion(metrics, rules, champion="churnmodel v1")
    assert holdout.promote and holdout.scorecard == "holdout"
    aligned = decide_promotion(metrics, rules, prefix="aligned_", champion="churnmodel v1")
    assert not aligned.promote and aligned.scorecard == "aligned"
    assert "aligned scorecard" in aligned.summary and "0.72" in aligned.summary
    first = decide_promotion({"lapse_roc_auc": 0.8, "baseline_recency_roc_auc": 0.7}, rules)
    assert first.promote and "there is no champion yet" in first.reasons[1]
    unscored = decide_promotion(
        {"lapse_roc_auc": 0.8, "baseline_recency_roc_auc": 0.7},
        rules,
        champion="churnmodel v1",
        champion_note="every fit of churnmodel v1 saw data after 1998-04-01",
    )
    assert not unscored.promote
    assert "churnmodel v1 could not be scored on this holdout (every fit" in unscored.summary
    # A holdout metric never stands in for a missing season-aligned one.
    missing = decide_promotion(
        {"lapse_roc_auc": 0.8, "baseline_recency_roc_auc": 0.7, "aligned_lapse_roc_auc": 0.8},
        rules[:1],
        prefix="aligned_",
    )
    assert not missing.promote and "was not logged" in missing.summary


def test_design_adds_the_served_window_one_and_two_years_earlier() -> None:
    from churnmodel.models import TrainingDesign

    design = TrainingDesign(horizon_days=184, n_cutoffs=2)
    cutoffs = design.cutoffs(date(2025, 6, 30), data_start=date(2023, 1, 1))
    s = date(2025, 6, 30)
    assert s - timedelta(days=365) in cutoffs.all and s - timedelta(days=730) in cutoffs.all
    assert cutoffs.label_end == s
    only_last = TrainingDesign(horizon_days=184, n_cutoffs=2, same_window_years=1).cutoffs(
        s, data_start=date(2023, 1, 1)
    )
    assert s - timedelta(days=730) not in only_last.all
    assert s - timedelta(days=365) in only_last.all
