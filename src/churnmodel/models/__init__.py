"""Models: BG/NBD-family purchase models, Gamma-Gamma spend, discounted CLV, model choice.

The only part of churnmodel that imports lifetimes (lazily, inside ``fit``). Estimators follow
scikit-learn's contract (keyword-only hyperparameters stored by ``__init__``, validation in
``fit``, fitted state ending in ``_``, no training data kept) and take lifetimes' RFM summary
frame, whose ``attrs["time_unit"]`` ("D", "W" or "M") gives the unit of ``recency`` and ``T``.

Purchase models (:class:`BetaGeoModel`, :class:`ModifiedBetaGeoModel`, :class:`ParetoNBDModel`,
and :class:`BetaGeoBetaBinomModel` for discrete opportunities):
``expected_purchases(summary, horizon)``, ``probability_alive(summary, horizon=0)``,
``probability_no_purchase(summary, horizon)`` (the lapse score; ``1 - P(alive)`` is not one),
``probability_of_purchases(summary, n, horizon)``, ``dert(summary, discount_rate)``,
``expected_cumulative_purchases(summary, times)``, ``frequency_distribution(summary)``, the new
customer's ``probability_of_purchases_new_customer`` and ``expected_purchases_new_customer``,
``log_likelihood(summary)``, ``from_params(params)`` and ``summary_``.
Spend model (:class:`GammaGammaModel`): ``expected_spend(summary)``. Every model:
``to_dict``/``from_dict``, ``save``/``load`` (JSON, no pickle), ``sample_params``.

See ``docs/models.md`` for the formulas, units, CLV conventions, intervals and the model-choice
rule.

Supervised models (``docs/lapse-and-spend.md``): :func:`build_training_set` (snapshots at past
cut-offs with the probabilistic models' outputs as features), :class:`LapseClassifier`
(calibrated P(no purchase in the next H days)), :class:`SpendRegressor` (spend in the next H
days), :class:`ChurnBundle` (every fitted model; scores customers).
"""

from churnmodel.models._base import (
    DegenerateFitWarning,
    ProbabilisticModel,
    load_model,
    model_from_dict,
)
from churnmodel.models._purchase import PurchaseModel
from churnmodel.models._simulate import simulate_bgnbd_summary
from churnmodel.models.beta_geo import BetaGeoModel
from churnmodel.models.beta_geo_beta_binom import BetaGeoBetaBinomModel
from churnmodel.models.bundle import SCORE_COLUMNS, ChurnBundle
from churnmodel.models.clv import customer_lifetime_value, discount_schedule
from churnmodel.models.design import TrainingCutoffs, TrainingDesign
from churnmodel.models.gamma_gamma import GammaGammaModel
from churnmodel.models.lapse import LapseClassifier
from churnmodel.models.modified_beta_geo import ModifiedBetaGeoModel
from churnmodel.models.pareto_nbd import ParetoNBDModel
from churnmodel.models.probabilistic import PROBABILISTIC_COLUMNS, ProbabilisticFeatures
from churnmodel.models.selection import ModelComparison, compare_purchase_models
from churnmodel.models.spend import (
    CLV_METHODS,
    SpendRegressor,
    horizon_extension_factor,
    rescaled_clv,
)
from churnmodel.models.training import FEATURE_COLUMNS, TrainingSet, build_training_set

__all__ = [
    "CLV_METHODS",
    "FEATURE_COLUMNS",
    "PROBABILISTIC_COLUMNS",
    "SCORE_COLUMNS",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "ChurnBundle",
    "DegenerateFitWarning",
    "GammaGammaModel",
    "LapseClassifier",
    "ModelComparison",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "ProbabilisticFeatures",
    "ProbabilisticModel",
    "PurchaseModel",
    "SpendRegressor",
    "TrainingCutoffs",
    "TrainingDesign",
    "TrainingSet",
    "build_training_set",
    "compare_purchase_models",
    "customer_lifetime_value",
    "discount_schedule",
    "horizon_extension_factor",
    "load_model",
    "model_from_dict",
    "rescaled_clv",
    "simulate_bgnbd_summary",
]
