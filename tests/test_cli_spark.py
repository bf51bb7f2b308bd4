"""`churnmodel features --engine spark`: a Parquet folder in, the embedded engine's results out."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.datasets import simulate

pytestmark = pytest.mark.spark

AS_OF = "2023-10-31"


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


def _counts(printed: str) -> dict[str, int]:
    return {
        k.strip(): int(v.replace(",", ""))
        for k, v in re.findall(r"^\s*([a-z_ -]+):\s+([\d,]+)", printed, re.M)
    }


def test_features_on_a_spark_written_parquet_folder_equal_the_embedded_engine(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _raw_log()
    folder = tmp_path / "log"
    spark.createDataFrame(raw).repartition(3).write.parquet(str(folder))
    assert len(list(folder.glob("part-*.parquet"))) == 3
    flags = [
        "--data", str(folder), "--as-of", AS_OF, "--customer-col", "kunde",
        "--date-col", "zeit", "--amount-col", "betrag", "--order-col", "bestellung",
    ]  # fmt: skip
    spark_out = tmp_path / "spark" / "features.parquet"
    code = main(["features", "--engine", "spark", "--spark-master", "local[2]",
                 "--output", str(spark_out), *flags])  # fmt: skip
    spark_printed = capsys.readouterr().out
    assert code == 0, spark_printed
    duck_out = tmp_path / "duckdb" / "features.parquet"
    code = main(["features", "--output", str(duck_out), *flags])
    duck_printed = capsys.readouterr().out
    assert code == 0, duck_printed

    # The same accounting of every row, printed the same way.
    assert "counts reconcile: yes" in spark_printed
    counts = _counts(spark_printed)
    assert counts == _counts(duck_printed)
    assert counts["rows read"] == len(raw) and counts["duplicates removed"] == 25
    assert counts["quarantined"] == 3
    spark_summary = spark_printed.split("features:")[0]
    duck_summary = duck_printed.split("features:")[0]
    assert spark_summary == duck_summary

    # Spark writes a folder of part files; read back it is the embedded engine's table.
    assert spark_out.is_dir() and any(spark_out.glob("part-*.parquet"))
    got = pd.read_parquet(spark_out).sort_values("customer_id").reset_index(drop=True)
    expected = pd.read_parquet(duck_out)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) > 2_000
    for col in expected.columns:
        e, g = expected[col], got[col]
        if pd.api.types.is_float_dtype(e):
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12, err_msg=col)
        elif pd.api.types.is_datetime64_any_dtype(e):
            assert (g.to_numpy("datetime64[us]") == e.to_numpy("datetime64[us]")).all(), col
        else:
            assert (g.astype(str).to_numpy() == e.astype(str).to_numpy()).all(), col
    # The quarantine file: same rows, same reasons, same row numbers.
    q_spark = pd.read_csv(spark_out.with_name("features.quarantine.csv"))
    q_duck = pd.read_csv(duck_out.with_name("features.quarantine.csv"))
    pd.testing.assert_frame_equal(q_spark, q_duck)
    assert set(q_spark["reason"]) == {
        "missing customer_id",
        "non-numeric amount",
        "missing timestamp",
    }


def test_spark_engine_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path / "f.parquet")
    assert main(["features", "--engine", "spark", "--output", out]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["features", "--engine", "nope", "--output", out]) == 2
    assert "'engine' must be one of" in capsys.readouterr().err
    # Training on Spark reads a Parquet log, not the bundled CDNOW sample.
    assert main(["train", "--engine", "spark"]) == 2
    assert "pass --data PATH" in capsys.readouterr().err
    assert main(["train", "--engine", "nope"]) == 2
    assert "'engine' must be one of" in capsys.readouterr().err
    # Without pyspark installed: a clear message naming the extra to install.
    monkeypatch.setitem(sys.modules, "pyspark", None)
    data = tmp_path / "log.parquet"
    pd.DataFrame({"customer_id": ["a"], "timestamp": [pd.Timestamp("2024-01-01")],
                  "amount": [1.0]}).to_parquet(data)  # fmt: skip
    assert main(["features", "--engine", "spark", "--data", str(data), "--output", out]) == 2
    err = capsys.readouterr().err
    assert "pip install 'churnmodel[spark]'" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["train", "--engine", "spark", "--data", str(data)]) == 2
    err = capsys.readouterr().err  # train's stage lines, then one error line
    errors = [line for line in err.splitlines() if not line.startswith("[")]
    assert len(errors) == 1 and "pip install 'churnmodel[spark]'" in errors[0], err
