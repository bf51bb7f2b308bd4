"""Probabilistic purchase and spend models (temporary surface, being built)."""

from churnmodel.models.beta_geo import BetaGeoModel
from churnmodel.models.modified_beta_geo import ModifiedBetaGeoModel
from churnmodel.models.pareto_nbd import ParetoNBDModel

__all__ = ["BetaGeoModel", "ModifiedBetaGeoModel", "ParetoNBDModel"]
