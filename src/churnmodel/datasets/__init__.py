"""Bundled and simulated transaction logs, and the donations table (BG/BB)."""

from churnmodel.datasets.cdnow import (
    CDNOW_CALIBRATION_END,
    CDNOW_END,
    load_cdnow,
)
from churnmodel.datasets.donations import load_donations
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
    "load_donations",
    "seasonal_retailer",
    "simulate",
    "simulate_to_parquet",
]
