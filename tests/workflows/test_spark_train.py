"""`churnmodel train --engine spark`: the in-process model, trained from a log on Spark.

The log is a Parquet folder written by Spark. With every customer in the training sample
the Spark run logs the same metrics and registers a model whose scores equal the in-process
model's within 1e-9; with a smaller sample the served model is still the in-process one (the
same sample, the same snapshots, the purchase models on every customer) while the
evaluations score the sampled customers only.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.config import load_settings
from churnmodel.datasets import simulate
from churnmodel.serving import load_model
from churnmodel.tracking import open_store
from churnmodel.workflows.train import TrainResult, train_job

pytestmark = [pytest.mark.spark, pytest.mark.mlflow]

CUSTOMERS = 1_500


@dataclass(frozen=True)
class Trained:
    folder: Path
    transactions: pd.DataFrame
    printed: dict[str, str]
    stores: dict[str, str]


@pytest.fixture(scope="module")
def log_folder(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    tx = simulate(n_customers=CUSTOMERS, seed=5).transactions
    folder = tmp_path_factory.mktemp("spark-train") / "log"
    columns = tx[["customer_id", "timestamp", "amount", "order_id"]].astype(
        {"customer_id": object, "order_id": object}
    )
    spark.createDataFrame(columns).repartition(3).write.parquet(str(folder))
    return folder, tx


def _config(folder: Path, name: str, **model: Any) -> Path:
    lines = [
        "[tracking]",
        f'uri = "sqlite:///{folder / name}.db"',
        f'artifact_root = "{folder / name}-artifacts"',
        "[data]",
        'order_col = "order_id"',
        "[model]",
        *(f"{key} = {value}" for key, value in model.items()),
    ]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(
    log_folder: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Trained:
    """The churnmodel command trains twice on the folder: on Spark and in process."""
    folder, tx = log_folder
    work = tmp_path_factory.mktemp("stores")
    printed: dict[str, str] = {}
    stores: dict[str, str] = {}
    for engine in ("spark", "duckdb"):
        config = _config(work, engine)
        flags = ["--engine", engine, "--spark-master", "local[2]"] if engine == "spark" else []
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["train", "--data", str(folder), "--config", str(config), *flags])
        printed[engine] = out.getvalue()
        assert code == 0, printed[engine]
        stores[engine] = f"sqlite:///{work / engine}.db"
    return Trained(folder, tx, printed, stores)


def _section(printed: str, start: str, end: str) -> str:
    return printed.split(start, 1)[1].split(end, 1)[0]


def test_the_command_trains_on_spark_registers_and_promotes(trained: Trained) -> None:
    spark, duck = trained.printed["spark"], trained.printed["duckdb"]
    assert "counts reconcile: yes" in spark
    assert re.search(r"model:\s+churnmodel v1", spark)
    assert "champion: v1 is now @champion" in spark
    # The same load report and the same data profile, printed the same way.
    assert spark.split("holdout metrics:")[0] == duck.split("holdout metrics:")[0]
    # Every customer is in the sample: the same evaluation, metric for metric.
    assert _section(spark, "holdout metrics:", "served:") == _section(
        duck, "holdout metrics:", "served:"
    )
    assert "lapse_roc_auc" in _section(spark, "holdout metrics:", "served:")


def _served_scores(store: str, transactions: pd.DataFrame) -> pd.DataFrame:
    open_store(store)
    bundle = load_model("models:/churnmodel@champion").model.payload.bundle
    return bundle.predict(transactions, as_of=bundle.cutoff)


def _assert_same_scores(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got.index.equals(expected.index) and len(got) > 1_000
    assert (got["lifecycle_stage"].astype(str) == expected["lifecycle_stage"].astype(str)).all()
    numeric = [c for c in expected.columns if pd.api.types.is_float_dtype(expected[c])]
    assert {"p_churn", "p_alive", "expected_purchases", "expected_spend", "clv"} <= set(numeric)
    for column in numeric:
        np.testing.assert_allclose(
            got[column], expected[column], rtol=1e-9, atol=1e-12, err_msg=column
        )


def test_the_spark_trained_model_scores_as_the_in_process_model(trained: Trained) -> None:
    spark = _served_scores(trained.stores["spark"], trained.transactions)
    duck = _served_scores(trained.stores["duckdb"], trained.transactions)
    _assert_same_scores(spark, duck)
    assert spark["p_churn"].nunique() > 100  # a real model, not a constant


def test_a_sample_trains_the_in_process_model_and_evaluates_the_sample(
    log_folder: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    folder, tx = log_folder
    results: dict[str, TrainResult] = {}
    for engine in ("spark", "duckdb"):
        settings = load_settings(_config(tmp_path, engine, training_customers=800))
        results[engine] = train_job(
            settings, data=str(folder), engine=engine, spark_master="local[2]"
        )
    spark, duck = results["spark"], results["duckdb"]
    assert spark.profile["engine"] == "spark" and duck.profile["engine"] == "duckdb"
    from mlflow import MlflowClient

    open_store(spark.tracking_uri)
    assert MlflowClient().get_run(spark.run_id).data.tags["engine"] == "spark"
    note = spark.notes["training_sample"]
    assert "on Spark" in note and f"of its {CUSTOMERS:,} customers" in note
    # The evaluations scored the sampled customers only; in process, every customer.
    assert spark.metrics["lapse_n_customers"] < 0.6 * duck.metrics["lapse_n_customers"]
    # The served models are the same: the same sample, snapshots and purchase models.
    _assert_same_scores(
        _served_scores(spark.tracking_uri, tx), _served_scores(duck.tracking_uri, tx)
    )
