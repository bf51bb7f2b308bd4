"""Forward test of what is served: the train-then-score flow against a scenario's known future.

A smaller draw of ``seasonal_retailer`` than ``make forward-test`` (which reports the figures):
train as ``churnmodel train --horizon-days 184`` does on the log up to 30 June, score 30 June
with the registered model as ``churnmodel score`` does, and compare with what the customers did
in the next 184 days. The served model must beat the baselines there, beat the model that was
evaluated (fitted half a year earlier), and stay below the ceiling of the true probabilities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from churnmodel.config import load_settings
from churnmodel.datasets import seasonal_retailer
from churnmodel.features import customer_features
from churnmodel.models import ProbabilisticFeatures
from churnmodel.serving import load_payload
from churnmodel.tracking import download_artifact
from churnmodel.workflows.score import score_job
from churnmodel.workflows.train import train_job

H = 184


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("forward")
    scenario = seasonal_retailer(8_000, seed=3, horizon_days=H)
    data = folder / "transactions.parquet"
    scenario.transactions.to_parquet(data, index=False)
    settings = load_settings(
        None,
        {
            "model": {"horizon_days": H},
            "tracking": {
                "uri": f"sqlite:///{folder / 'mlflow.db'}",
                "artifact_root": str(folder / "mlartifacts"),
            },
        },
    )
    result = train_job(settings, data=data)
    assert result.registered is not None
    scored = score_job(
        settings,
        data=data,
        output=folder / "scores.parquet",
        model_uri=f"models:/churnmodel/{result.registered.version}",
        as_of=scenario.end.isoformat(),
    )
    scores = pd.read_parquet(scored.output).set_index("customer_id")
    truth = scenario.truth()
    features = customer_features(scenario.transactions, scenario.end)
    bgnbd = ProbabilisticFeatures().fit(features).transform(features, H)
    # The model the run evaluated, fitted at its holdout cut-off (half a year earlier).
    evaluated = download_artifact(
        folder / "fits",
        run_id=result.run_id,
        artifact_path=f"fits/holdout-{result.cutoff.isoformat()}.pkl",
    )
    assert evaluated is not None
    stale = load_payload(evaluated).bundle.predict(scenario.transactions, as_of=scenario.end)
    return {
        "result": result,
        "frame": truth.join(scores, how="inner")
        .join(bgnbd)
        .join(features["days_since_last"])
        .join(stale["p_churn"].rename("stale_p_churn")),
        "n_truth": len(truth),
    }


def _auc(frame: pd.DataFrame, column: str) -> float:
    return float(roc_auc_score(frame["lapsed"], frame[column]))


def test_the_served_model_scores_every_customer_known_at_the_serving_day(
    served: dict[str, object],
) -> None:
    frame = served["frame"]
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == served["n_truth"]
    assert (frame["horizon_days"] == H).all()
    assert (frame["as_of"] == pd.Timestamp("2025-06-30")).all()


def test_the_served_forecast_beats_the_baselines_and_the_stale_model(
    served: dict[str, object],
) -> None:
    frame = served["frame"]
    assert isinstance(frame, pd.DataFrame)
    model = _auc(frame, "p_churn")
    assert model > _auc(frame, "prob_p_no_purchase") + 0.005  # BG/NBD on the same log
    assert model > _auc(frame, "days_since_last")
    assert model > _auc(frame, "stale_p_churn")  # fitted at the evaluation cut-off
    assert model < _auc(frame, "p_lapse")  # the truth's own probabilities: a ceiling
    seasonal = frame[frame["segment"] == "seasonal"]
    assert _auc(seasonal, "p_churn") > _auc(seasonal, "prob_p_no_purchase")
    spend = frame["spend_next"].to_numpy()
    ours = spearmanr(frame["expected_spend"], spend).statistic
    assert ours > spearmanr(frame["prob_expected_spend"], spend).statistic  # BG/NBD x GG
    assert abs(frame["expected_spend"].sum() / spend.sum() - 1) < 0.25
    # Calibrated: the mean predicted lapse probability is close to the lapse rate.
    assert abs(frame["p_churn"].mean() - frame["lapsed"].mean()) < 0.05
    assert np.isfinite(frame["clv"]).all() and (frame["clv"] >= 0).all()
