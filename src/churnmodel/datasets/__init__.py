"""Bundled and simulated transaction logs."""

from churnmodel.datasets.simulate import (
    SimulatedLog,
    SimulatedParquet,
    simulate,
    simulate_to_parquet,
)

__all__ = [
    "SimulatedLog",
    "SimulatedParquet",
    "simulate",
    "simulate_to_parquet",
]
