from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel.cli import main


def _messy_log(path: Path, n: int = 3_000, bad: int = 12) -> pd.DataFrame:
    """Other column names, offsets, string amounts, returns, duplicates and a few bad rows."""
    rng = np.random.default_rng(7)
    ts = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 500 * 86400, n), "s"
    )
    amounts = rng.gamma(2.0, 20.0, n).round(2)
    returns = rng.random(n) < 0.05
    amounts[returns] *= -1
    df = pd.DataFrame(
        {
            "Kunde": [f"{c:06d}" for c in rng.integers(0, 300, n)],
            "Zeitpunkt": [t.tz_convert("America/New_York").isoformat() for t in ts],
            "Betrag": [f"${a:,.2f}" if a >= 0 else f"({-a:,.2f})" for a in amounts],
            "Bestellung": [f"B{i}" for i in range(n)],
        }
    )
    df = pd.concat([df, df.iloc[:25]], ignore_index=True)  # 25 exact duplicates
    df.loc[df.index[100 : 100 + bad], "Zeitpunkt"] = "not a date"  # none of them duplicated
    df.to_csv(path, index=False)
    return df


def test_features_command_on_a_messy_log_reconciles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "raw.csv"
    raw = _messy_log(src)
    out = tmp_path / "out" / "features.parquet"
    code = main(
        [
            "features",
            "--data",
            str(src),
            "--output",
            str(out),
            "--as-of",
            "2024-03-31",
            "--customer-col",
            "Kunde",
            "--date-col",
            "Zeitpunkt",
            "--amount-col",
            "Betrag",
            "--order-col",
            "Bestellung",
            "--timezone",
            "Europe/Berlin",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "counts reconcile: yes" in printed
    features = pd.read_parquet(out)
    assert features["customer_id"].str.len().eq(6).all()  # leading zeros kept
    quarantine = pd.read_csv(out.with_name("features.quarantine.csv"))
    assert len(quarantine) == 12 and set(quarantine["reason"]) == {"unparseable timestamp"}
    counts = {
        k.strip(): int(v.replace(",", ""))
        for k, v in re.findall(r"^\s*([a-z -]+):\s+([\d,]+)", printed, re.M)
    }
    assert len(raw) == counts["rows read"] == 3_025
    assert counts["duplicates removed"] == 25 and counts["quarantined"] == 12
    assert counts["rows read"] == counts["used"] + 12 + 25 + counts["after as-of date"]


def test_user_errors_exit_2_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "raw.csv"
    _messy_log(src)
    code = main(["features", "--data", str(src), "--output", str(tmp_path / "f.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("churnmodel: error: column(s) 'customer_id'")
    assert "'Kunde'" in err and "Traceback" not in err


def test_too_many_bad_rows_still_write_the_quarantine_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "raw.csv"
    _messy_log(src, bad=300)
    out = tmp_path / "f.parquet"
    code = main(
        [
            "features",
            "--data",
            str(src),
            "--output",
            str(out),
            "--customer-col",
            "Kunde",
            "--date-col",
            "Zeitpunkt",
            "--amount-col",
            "Betrag",
        ]
    )
    assert code == 2
    assert not out.exists()
    assert len(pd.read_csv(tmp_path / "f.quarantine.csv")) == 300
    assert "hint:" in capsys.readouterr().err


def test_bad_output_extension_is_refused_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["features", "--output", str(tmp_path / "f.xlsx")])
    assert code == 2
    assert ".parquet or .csv" in capsys.readouterr().err


def test_simulate_a_scenario_writes_the_log_and_the_truth_of_the_next_season(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "scenario"
    assert (
        main(["simulate", "--scenario", "seasonal_retailer", "-n", "500", "-o", str(folder)]) == 0
    )
    out = capsys.readouterr().out
    assert "(2023-01-01 .. 2025-06-30)" in out and "truth of 2025-07-01 .. 2025-12-31" in out
    log = pd.read_parquet(folder / "transactions.parquet")
    truth = pd.read_parquet(folder / "truth.parquet")
    assert log["timestamp"].max() < pd.Timestamp("2025-07-01")
    assert {"lapsed", "spend_next", "p_lapse", "segment"} <= set(truth.columns)
    assert set(truth["customer_id"]) <= set(log["customer_id"])
    assert main(["simulate", "--scenario", "nope", "-o", str(folder)]) == 2
    assert "--scenario must be one of ['seasonal_retailer'], got 'nope'" in capsys.readouterr().err
    args = ["simulate", "--scenario", "seasonal_retailer", "--start", "2020-01-01"]
    assert main([*args, "-o", str(folder)]) == 2
    assert "--start does not apply to --scenario" in capsys.readouterr().err


def test_train_with_no_purchase_stops_naming_the_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNMODEL_TRACKING__URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    src = tmp_path / "returns.csv"
    src.write_text(
        "customer_id,timestamp,amount\na,2024-01-01,-10\nb,2024-03-02,-5\na,2024-06-01,-3\n"
    )
    code = main(["train", "--data", str(src)])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.splitlines()[0].endswith("loading returns.csv")  # stages as it works
    errors = [line for line in captured.err.splitlines() if line.startswith("churnmodel:")]
    assert errors == [
        "churnmodel: error: no customer to train on at the as-of date 2024-06-01: the log's 3 "
        "rows (from 2024-01-01 to 2024-06-01) hold no purchase, only returns or amounts that "
        "net to zero"
    ]
    assert "Traceback" not in captured.err
