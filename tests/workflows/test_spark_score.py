"""Batch scoring on Spark: the in-process job's scores, from the same model and load rules.

"Equal" means the same customers, the same text columns and every score within 1e-9: both
jobs call ``ChurnPyfuncModel.score`` on chunks of customers, so only the chunking differs. The
model is the session's trained store (CDNOW sample, ``tests/tracking/session.py``); the Spark
session is the one ``local[2]`` session the Spark tests share.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.config import load_settings
from churnmodel.datasets import simulate, simulate_to_parquet
from churnmodel.serving import SCORE_COLUMNS
from churnmodel.workflows.score import score_job
from churnmodel.workflows.spark_score import spark_score_job
from tests.tracking.session import TrainedStore, trained_store

pytestmark = [pytest.mark.spark, pytest.mark.mlflow]

NUMERIC = [c for c in SCORE_COLUMNS if c not in ("customer_id", "as_of", "lifecycle_stage",
                                                 "model_version")]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    return trained_store(tmp_path_factory)


@pytest.fixture
def store_env(trained: TrainedStore, monkeypatch: pytest.MonkeyPatch) -> TrainedStore:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    monkeypatch.delenv("CHURNMODEL_TRACKING__URI", raising=False)
    return trained


def assert_same_scores(got: pd.DataFrame, expected: pd.DataFrame) -> dict[str, float]:
    """Rows matched by customer; text equal, scores within 1e-9; return the max differences."""
    assert list(got.columns) == list(SCORE_COLUMNS) == list(expected.columns)
    assert got["customer_id"].is_unique and expected["customer_id"].is_unique
    got = got.set_index("customer_id").sort_index()
    expected = expected.set_index("customer_id").sort_index()
    assert got.index.tolist() == expected.index.tolist()
    for col in ("lifecycle_stage", "model_version"):
        assert (got[col].astype(str) == expected[col].astype(str)).all(), col
    as_of = got["as_of"].to_numpy("datetime64[us]")
    assert (as_of == expected["as_of"].to_numpy("datetime64[us]")).all()
    diffs = {}
    for col in NUMERIC:
        g, e = got[col].to_numpy("float64"), expected[col].to_numpy("float64")
        assert np.isfinite(g).all(), col
        diffs[col] = float(np.abs(g - e).max())
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-9, err_msg=col)
    return diffs


def test_spark_scores_equal_the_in_process_job(
    spark: Any, trained: TrainedStore, tmp_path: Path
) -> None:
    log = simulate_to_parquet(tmp_path / "log.parquet", 20_000, 7)
    assert log.rows >= 200_000
    settings = load_settings(
        None, {"tracking": {"uri": trained.tracking_uri}, "data": {"order_col": "order_id"}}
    )
    expected = score_job(settings, data=log.path, output=tmp_path / "in.parquet", progress=False)
    got = spark_score_job(
        settings, data=str(log.path), output=tmp_path / "spark.parquet", master="local[2]"
    )
    # A folder of part files written by Spark; read back it is the in-process table.
    assert Path(got.output).is_dir() and any(Path(got.output).glob("part-*.parquet"))
    diffs = assert_same_scores(pd.read_parquet(got.output), pd.read_parquet(expected.output))
    # Both say what the scores are, in every file: as-of date, horizons, model.
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(expected.output).metadata[b"churnmodel"])
    assert meta["as_of"] == str(expected.as_of) and meta["horizon_days"] == 273.0
    assert meta["column_horizon_days"]["clv"] == meta["clv_horizon_days"] == 365.0
    assert meta["model_version"] == trained.run_id and meta["model_uri"]
    for part in Path(got.output).glob("part-*.parquet"):
        assert json.loads(pq.read_schema(part).metadata[b"churnmodel"]) == meta
    assert not list(Path(got.output).glob(".part-*.crc"))  # no stale checksums
    print(f"\nmax abs difference over {log.rows:,} rows, {got.n_customers:,} customers: {diffs}")
    # The same load (counts, quarantine), the same summary.
    assert got.report.to_dict() == expected.report.to_dict()
    assert got.as_of == expected.as_of and got.model.label == expected.model.label
    assert got.n_customers == expected.n_customers == 20_000
    assert got.n_chunks >= 8  # at least four chunks per shuffle partition
    assert got.stage_counts == expected.stage_counts
    assert got.total_clv == pytest.approx(expected.total_clv, rel=1e-12)
    assert got.total_value_at_risk == pytest.approx(expected.total_value_at_risk, rel=1e-12)
    pd.testing.assert_frame_equal(got.top, expected.top, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(
        pd.read_csv(got.quarantine), pd.read_csv(expected.quarantine), check_dtype=False
    )


def _raw_log() -> pd.DataFrame:
    """A simulated log with other column names, text amounts, a few bad rows and duplicates."""
    tx = simulate(n_customers=3_000, seed=11).transactions
    raw = pd.DataFrame(
        {
            "kunde": tx["customer_id"].astype(object),
            "zeit": tx["timestamp"],
            "betrag": tx["amount"].map(lambda a: f"{a:.2f} EUR").astype(object),
            "bestellung": tx["order_id"].astype(object),
        }
    )
    raw = pd.concat([raw, raw.iloc[:25]], ignore_index=True)  # 25 exact duplicates
    raw.loc[100, "kunde"] = ""
    raw.loc[200, "betrag"] = "n/a"
    raw.loc[300, "zeit"] = pd.NaT
    return raw


def test_score_engine_spark_on_a_spark_written_folder(
    spark: Any, store_env: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _raw_log()
    folder = tmp_path / "log"
    spark.createDataFrame(raw).repartition(3).write.parquet(str(folder))
    assert len(list(folder.glob("part-*.parquet"))) == 3
    flags = [
        "--data", str(folder), "--customer-col", "kunde", "--date-col", "zeit",
        "--amount-col", "betrag", "--order-col", "bestellung",
    ]  # fmt: skip
    spark_out = tmp_path / "spark" / "scores.parquet"
    code = main(["score", "--engine", "spark", "--spark-master", "local[2]",
                 "--output", str(spark_out), *flags])  # fmt: skip
    spark_printed = capsys.readouterr().out
    assert code == 0, spark_printed
    duck_out = tmp_path / "duckdb" / "scores.parquet"
    code = main(["score", "--output", str(duck_out), *flags])
    duck_printed = capsys.readouterr().out
    assert code == 0, duck_printed

    # The same load report and summary, printed the same way (but for time and chunks).
    assert "counts reconcile: yes" in spark_printed
    counts = {
        k.strip(): int(v.replace(",", ""))
        for k, v in re.findall(r"^\s*([a-z_ -]+):\s+([\d,]+)", spark_printed, re.M)
    }
    assert counts["rows read"] == len(raw) and counts["duplicates removed"] == 25
    assert counts["quarantined"] == 3

    def summary(text: str) -> str:
        return re.sub(r" in [\d.]+ s \(\d+ chunks?\)", "", text.split("\nscores:")[0])

    assert summary(spark_printed) == summary(duck_printed)
    assert f"with churnmodel v{store_env.version} (@champion)" in spark_printed
    assert f"scores:     {spark_out}" in spark_printed

    assert spark_out.is_dir() and any(spark_out.glob("part-*.parquet"))
    assert_same_scores(pd.read_parquet(spark_out), pd.read_parquet(duck_out))
    q_spark = pd.read_csv(spark_out.with_name("scores.quarantine.csv"))
    q_duck = pd.read_csv(duck_out.with_name("scores.quarantine.csv"))
    pd.testing.assert_frame_equal(q_spark, q_duck)
    assert len(q_spark) == 3


def test_spark_scoring_errors_are_one_line(
    store_env: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "s.parquet")
    assert main(["score", "--engine", "spark", "--output", out]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["score", "--engine", "nope", "--output", out]) == 2
    assert "'engine' must be one of" in capsys.readouterr().err
    data = ["--data", str(store_env.data)]
    assert main(["score", "--engine", "spark", *data, "--output", str(tmp_path / "s.csv")]) == 2
    assert "writes a Parquet folder" in capsys.readouterr().err
    # The model is looked up before Spark starts: a wrong alias lists what exists.
    model = ["--model", "models:/churnmodel@prod"]
    assert main(["score", "--engine", "spark", *data, *model, "--output", out]) == 2
    err = capsys.readouterr().err
    assert "churnmodel: error: model 'models:/churnmodel@prod' not found" in err
    assert "churnmodel (@champion -> v" in err
    assert len(err.strip().splitlines()) == 1
