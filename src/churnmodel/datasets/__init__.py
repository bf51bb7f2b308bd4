"""Bundled and simulated transaction logs."""

from churnmodel.datasets.cdnow import (
    CDNOW_CALIBRATION_END,
    CDNOW_END,
    load_cdnow,
)
from churnmodel.datasets.regimes import change_regime
from churnmodel.datasets.scenarios import SCENARIOS, Scenario, seasonal_retailer
from churnmodel.datasets.simulate import (
    SimulatedLog,
    SimulatedParquet,
    simulate,
    simulate_to_parquet,
)

__all__ = [
    "CDNOW_CALIBRATION_END",
    "CDNOW_END",
    "SCENARIOS",
    "Scenario",
    "SimulatedLog",
    "SimulatedParquet",
    "change_regime",
    "load_cdnow",
    "seasonal_retailer",
    "simulate",
    "simulate_to_parquet",
]
