"""A small stand-in bundle with the scoring interface of the real one (tests only).

BG/NBD + Gamma-Gamma on the RFM summary at a cut-off; ``predict(transactions, as_of)`` returns
the score columns. Importable by path ``tests.serving.standin`` so a pickled instance loads in
a subprocess whose PYTHONPATH holds the repository root.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnmodel.features import PurchaseRule, customer_features
from churnmodel.features.engine import TransactionsLike
from churnmodel.models import BetaGeoModel, GammaGammaModel
from churnmodel.workflows.train import TrainingOutcome


class StandInBundle:
    def __init__(self, *, horizon_days: int = 90, purchase: PurchaseRule | None = None) -> None:
        self.horizon_days = horizon_days
        self.purchase = purchase or PurchaseRule()

    def fit(self, transactions: TransactionsLike, cutoff: date) -> StandInBundle:
        summary = customer_features(transactions, cutoff, time_unit="W", purchase=self.purchase)
        self.purchase_model_ = BetaGeoModel().fit(summary)
        self.spend_model_ = GammaGammaModel().fit(summary[summary["monetary_value"] > 0])
        return self

    def predict(self, transactions: TransactionsLike, as_of: date) -> pd.DataFrame:
        f = customer_features(transactions, as_of, time_unit="W", purchase=self.purchase)
        h = self.horizon_days / 7.0
        out = pd.DataFrame(index=f.index)
        out["p_alive"] = self.purchase_model_.probability_alive(f)
        out["p_churn"] = self.purchase_model_.probability_no_purchase(f, h)
        out["expected_purchases"] = self.purchase_model_.expected_purchases(f, h)
        money = f["monetary_value"].where(f["frequency"] == 0, f["monetary_value"].clip(lower=0.01))
        out["expected_spend"] = self.spend_model_.expected_spend(f.assign(monetary_value=money))
        out["clv"] = out["expected_purchases"] * out["expected_spend"]
        out["value_at_risk"] = out["clv"] * out["p_churn"]
        out["lifecycle_stage"] = f["lifecycle_stage"].astype(str)
        return out


def standin_trainer(
    transactions: pd.DataFrame,
    *,
    cutoff: date,
    horizon_days: int,
    settings: object,
    cdnow: bool,
) -> TrainingOutcome:
    """Fit the stand-in and score the holdout: the trainer interface of workflows.train."""
    from churnmodel.evaluation import plot_calibration, plot_roc, scorecard
    from churnmodel.features import build_snapshots

    purchase = PurchaseRule(zero_net_is_purchase=cdnow)
    bundle = StandInBundle(horizon_days=horizon_days, purchase=purchase).fit(transactions, cutoff)
    snap = build_snapshots(transactions, [cutoff], horizon_days, purchase=purchase)
    snap = snap.set_index("customer_id")
    scores = bundle.predict(transactions, cutoff)
    y = snap["lapsed"].astype(int)
    card = scorecard(
        lapse_label=y,
        lapse_scores={
            "bgnbd": scores["p_churn"],
            "baseline_recency": snap["days_since_last"].astype(float),
        },
        spend_actual=snap["spend_next"],
        spend_predictions={
            "bgnbd_gg": scores["expected_purchases"] * scores["expected_spend"],
            "baseline_scaled_spend": snap["total_spend"].clip(lower=0)
            * horizon_days
            / snap["tenure_days"].clip(lower=1),
        },
        n_boot=20,
    )
    figures = {
        "plots/roc.png": plot_roc(y, {"bgnbd": scores["p_churn"]}).figure,
        "plots/calibration.png": plot_calibration(y, {"bgnbd": scores["p_churn"]}).figure,
    }
    return TrainingOutcome(
        bundle=bundle,
        scorecard=card,
        figures=figures,
        params={"purchase_model": "bgnbd (stand-in)"},
    )
