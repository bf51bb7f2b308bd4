"""churnmodel plan end to end: scores + log + contact log -> plan file and one MLflow run."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.datasets import seasonal_retailer
from churnmodel.datasets.campaigns import add_campaigns, monthly_campaigns
from churnmodel.schemas import PLAN_COLUMNS
from churnmodel.workflows.evaluate import fit_bundle


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("plan")
    sc = seasonal_retailer(1_500, seed=4)
    cs = add_campaigns(sc, monthly_campaigns("2024-01-01", "2025-03-01", share=0.5), seed=4)
    tx = cs.scenario.transactions
    paths = {
        "log": folder / "log.parquet",
        "contacts": folder / "contacts.csv",
        "scores": folder / "scores.parquet",
        "store": folder / "mlflow.db",
    }
    tx.to_parquet(paths["log"])
    cs.contact_log().to_csv(paths["contacts"], index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = fit_bundle(tx, cutoff=sc.end, horizon_days=90)
    bundle.predict(tx, sc.end).reset_index().to_parquet(paths["scores"])
    return paths


@pytest.mark.slow
def test_plan_command_learns_from_the_contact_log_and_logs_a_run(
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{files['store']}")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "plan.parquet"
    argv = [
        "plan", "--scores", str(files["scores"]), "--output", str(out), "--budget", "500",
        "--data", str(files["log"]), "--contacts", str(files["contacts"]),
    ]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small campaigns: balance notes, few repeat buyers
        code = main(argv)
    text = capsys.readouterr().out
    assert code == 0, text
    plan = pd.read_parquet(out)
    assert tuple(plan.columns) == PLAN_COLUMNS
    assert plan["cost"].sum() <= 500 + 1e-9
    assert (plan["response_source"] == "measured").any()
    assert "holdout Qini (spend)" in text and "run:" in text

    import mlflow

    run = mlflow.search_runs(experiment_names=["churnmodel"], output_format="list")[0]
    assert run.data.params["plan.budget"] == "500.0"
    assert run.data.metrics["plan_cost"] == pytest.approx(plan["cost"].sum())
    assert "qini_spend" in run.data.metrics and "qini_spend_ci_low" in run.data.metrics
    m = run.data.metrics
    assert m["qini_spend_ci_low"] <= m["qini_spend_ci_high"]
    client = mlflow.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/qini.png" in artifacts
    # the rule table: the holdout Qini of the uplift model beside value_at_risk and p_churn
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "plan")}
    assert {"plan/holdout_rules.json", "plan/actions.json"} <= tables
    rules = mlflow.load_table("plan/holdout_rules.json", run_ids=[run.info.run_id])
    assert set(rules["rule"]) == {"uplift model", "value_at_risk", "p_churn"}
    assert (rules["ci_low"] <= rules["ci_high"]).all()
    model = rules.set_index("rule").loc["uplift model"]
    assert model["qini_spend"] == pytest.approx(m["qini_spend"])


def test_csv_customer_ids_keep_their_leading_zeros(tmp_path: Path) -> None:
    from churnmodel.workflows.plan import read_table

    path = tmp_path / "contacts.csv"
    path.write_text("customer_id,contact_date,action,control\n007,2024-03-01,win_back,false\n")
    assert read_table(path, "contact log")["customer_id"].tolist() == ["007"]


def test_plan_command_errors_name_the_problem(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "contacts.csv"
    log = pd.read_csv(files["contacts"])
    log.loc[3, "customer_id"] = "NOBODY"
    log.to_csv(bad, index=False)
    code = main(
        ["plan", "--scores", str(files["scores"]), "--output", str(tmp_path / "p.csv"),
         "--data", str(files["log"]), "--contacts", str(bad)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "does not know: 1 row(s), e.g. row(s) 4" in err and "NOBODY" in err
    code = main(
        ["plan", "--scores", str(files["scores"]), "--output", str(tmp_path / "p.csv"),
         "--contacts", str(files["contacts"])]
    )  # fmt: skip
    assert code == 2 and "--contacts needs --data" in capsys.readouterr().err
