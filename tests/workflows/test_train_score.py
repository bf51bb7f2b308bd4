"""Train and score workflows: the split, the fingerprint, and chunked batch scoring."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.config import load_settings
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.io import TransactionTable
from churnmodel.serving import SCORE_COLUMNS, load_model
from churnmodel.workflows.features import quarantine_path
from churnmodel.workflows.score import score_job
from churnmodel.workflows.train import data_fingerprint, resolve_split, train_job
from tests.tracking.session import AS_OF, TrainedStore, trained_store


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    return trained_store(tmp_path_factory)


FIRST, LAST = date(1997, 1, 1), date(1998, 6, 30)


def _split(**model: object) -> tuple[date, int]:
    return resolve_split(load_settings(None, {"model": model}), first=FIRST, last=LAST, cdnow=False)


def test_split_defaults_and_precedence() -> None:
    cdnow = resolve_split(load_settings(), first=FIRST, last=LAST, cdnow=True)
    assert cdnow == (date(1997, 9, 30), 273)  # the published calibration / holdout split
    assert _split() == (date(1998, 4, 1), 90)  # other logs: the last 90 days
    assert _split(cutoff="1998-01-31") == (date(1998, 1, 31), 150)  # holdout to the end
    assert _split(horizon_days=30) == (date(1998, 5, 31), 30)
    assert _split(cutoff="1997-06-30", horizon_days=60) == (date(1997, 6, 30), 60)
    with pytest.raises(ConfigError, match=r"ends on 1998-07-30, after the last transaction"):
        _split(cutoff="1998-01-31", horizon_days=180)
    with pytest.raises(ConfigError, match="must fall within the log"):
        _split(cutoff="1996-12-31")


def test_fingerprint_is_the_hash_of_the_input(tmp_path: Path) -> None:
    f = tmp_path / "log.csv"
    f.write_text("customer_id,timestamp,amount\n1,2024-01-01,5\n")
    assert data_fingerprint(f) == "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest()
    folder = tmp_path / "parts"
    folder.mkdir()
    frame = pd.DataFrame(
        {"customer_id": ["1"], "timestamp": [pd.Timestamp("2024-01-01")], "amount": [5.0]}
    )
    frame.to_parquet(folder / "a.parquet")
    before = data_fingerprint(folder)
    assert before.startswith("sha256:") and data_fingerprint(frame) == data_fingerprint(frame)
    frame.assign(amount=6.0).to_parquet(folder / "a.parquet")
    assert data_fingerprint(folder) != before
    assert data_fingerprint(frame) != data_fingerprint(frame.assign(amount=6.0))


def test_bad_promotion_rule_fails_before_training(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {
            "tracking": {
                "promotion_rules": ["lapse_roc_auc better"],
                "uri": f"sqlite:///{tmp_path / 'x.db'}",
            }
        },
    )
    with pytest.raises(ConfigError, match="promotion rule must read"):
        train_job(settings, data=tmp_path / "missing.csv")
    assert not (tmp_path / "x.db").exists()


def _settings(trained: TrainedStore, **scoring: object) -> object:
    return load_settings(
        None, {"tracking": {"uri": trained.tracking_uri}, "scoring": dict(scoring)}
    )


@pytest.mark.mlflow
def test_chunked_scores_equal_one_chunk_and_the_model(
    trained: TrainedStore, tmp_path: Path
) -> None:
    many = score_job(
        _settings(trained, chunk_customers=500),  # type: ignore[arg-type]
        data=trained.data,
        output=tmp_path / "many.parquet",
        progress=False,
    )
    one = score_job(
        _settings(trained),  # type: ignore[arg-type]
        data=trained.data,
        output=tmp_path / "one.csv",
        as_of=AS_OF,
        progress=False,
    )
    assert many.n_chunks == 5 and one.n_chunks == 1
    a = pd.read_parquet(many.output)
    b = pd.read_csv(one.output, dtype={"customer_id": str}, parse_dates=["as_of"])
    assert tuple(a.columns) == SCORE_COLUMNS and len(a) == 2357 == many.n_customers
    assert a["customer_id"].is_unique and a["customer_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9)
    import mlflow

    mlflow.set_tracking_uri(trained.tracking_uri)
    model = load_model(trained.champion_uri).model
    tx = pd.read_csv(trained.data, dtype={"customer_id": str})
    direct = model.predict(None, tx, params={"as_of": AS_OF})
    pd.testing.assert_frame_equal(a, direct, check_dtype=False, rtol=1e-9)
    assert many.model.label == f"churnmodel v{trained.version} (@champion)"
    assert sum(many.stage_counts.values()) == 2357
    assert many.total_value_at_risk == pytest.approx(a["value_at_risk"].sum())
    assert list(many.top["value_at_risk"]) == sorted(a["value_at_risk"], reverse=True)[:10]
    assert quarantine_path(many.output).read_text().startswith("row_number,reason")


@pytest.mark.mlflow
def test_pipelined_chunks_score_as_one_after_the_other(trained: TrainedStore) -> None:
    """score_table computes the next chunk's features while the models score this one.

    The scores must be those of scoring each chunk from its transactions in turn (the code
    before the pipeline), and features computed apart must score as the transactions do.
    """
    import mlflow

    from churnmodel.workflows.features import load_log
    from churnmodel.workflows.score import _chunk_views, score_table

    mlflow.set_tracking_uri(trained.tracking_uri)
    model = load_model(trained.champion_uri).model
    settings = _settings(trained)
    as_of = date.fromisoformat(AS_OF)
    table, report = load_log(trained.data, settings, as_of=as_of)  # type: ignore[arg-type]
    assert isinstance(table, TransactionTable)
    n = int(report.customers)
    scores, n_chunks = score_table(
        model, table, as_of=as_of, n_customers=n, chunk_customers=500, progress=False
    )
    assert n_chunks == 5 and len(scores) == n
    one_by_one = pd.concat(
        [model.score(view, as_of) for view, _ in _chunk_views(table, n, 500)],
        ignore_index=True,
    ).sort_values("customer_id", kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(scores, one_by_one, check_exact=False, rtol=1e-12, atol=0)
    view = _chunk_views(table, n, 500)[2][0]
    pd.testing.assert_frame_equal(
        model.score(model.features(view, as_of), as_of),
        model.score(view, as_of),
        check_exact=False,
        rtol=1e-12,
        atol=0,
    )


@pytest.mark.mlflow
def test_as_of_quarantine_and_a_model_folder(trained: TrainedStore, tmp_path: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(trained.tracking_uri)
    folder = mlflow.artifacts.download_artifacts(trained.champion_uri, dst_path=str(tmp_path / "m"))
    tx = pd.read_csv(trained.data, dtype=str)
    tx.loc[[3, 7], "amount"] = "n/a"  # two bad rows: quarantined, not fatal (limit 1 %)
    log = tmp_path / "log.csv"
    tx.to_csv(log, index=False)
    out = tmp_path / "scores.parquet"
    # A model folder needs no tracking store: the one in the settings is never opened.
    unused = tmp_path / "unused.db"
    result = score_job(
        load_settings(None, {"tracking": {"uri": f"sqlite:///{unused}"}}),
        data=log,
        output=out,
        model_uri=folder,
        as_of="1997-03-31",
        progress=False,
    )
    assert result.as_of == date(1997, 3, 31) and result.model.uri == str(Path(folder).resolve())
    assert not unused.exists()
    scores = pd.read_parquet(out)
    first_seen = pd.to_datetime(tx["timestamp"]).groupby(tx["customer_id"]).min()
    assert set(scores["customer_id"]) <= set(first_seen[first_seen <= "1997-03-31"].index)
    assert (scores["as_of"] == pd.Timestamp("1997-03-31")).all()
    quarantine = pd.read_csv(quarantine_path(out))
    assert list(quarantine["row_number"]) == [4, 8] and set(quarantine["reason"]) == {
        "non-numeric amount"
    }


@pytest.mark.mlflow
def test_schema_mismatch_and_unknown_model_are_clear(trained: TrainedStore, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(trained.data).rename(columns={"amount": "revenue"}).to_csv(renamed, index=False)
    with pytest.raises(DataValidationError, match=r"column\(s\) 'amount' not found.*'revenue'"):
        score_job(_settings(trained), data=renamed, output=tmp_path / "s.parquet")  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"has no alias @staging.*Registered models: .*churnmodel"
    ):
        score_job(
            _settings(trained),
            data=trained.data,
            output=tmp_path / "s.parquet",  # type: ignore[arg-type]
            model_uri="models:/churnmodel@staging",
        )
    with pytest.raises(ConfigError, match=r"must end in \.parquet or \.csv"):
        score_job(_settings(trained), data=trained.data, output=tmp_path / "s.xlsx")  # type: ignore[arg-type]


def test_the_run_logs_the_tracking_plot(trained: TrainedStore) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=trained.tracking_uri)
    plots = {item.path for item in client.list_artifacts(trained.run_id, "plots")}
    assert "plots/purchase_model_tracking.png" in plots
    assert "plots/purchase_model_calibration_vs_holdout.png" in plots
