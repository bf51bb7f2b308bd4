"""The training benchmark's arithmetic: stages from train's progress lines, growth exponents.

The benchmark itself (``make bench``) runs ``churnmodel train`` on 100k and 1M customers; here
only its parsing and exponents, on lines as ``train`` writes them.
"""

from __future__ import annotations

import math

import pytest
from benchmarks.bench_train import TrainRun, growth_exponent, stage_name, stage_seconds, table


def test_stages_are_summed_over_cutoffs_and_the_last_runs_to_the_exit() -> None:
    lines = [
        (1.5, "[   0.1 s] loading sim_100000_11.parquet"),
        (3.5, "[   2.1 s] loaded 1,000,425 rows (0 quarantined), 100,000 customers"),
        (4.0, "not a progress line"),
        (10.0, "[   8.6 s] 2023-10-02: fitting bgnbd and Gamma-Gamma"),
        (14.0, "[  12.6 s] 2022-12-31: fitting bgnbd and Gamma-Gamma"),
        (20.0, "[  18.6 s] logging the run to MLflow (sqlite:////tmp/x/mlflow.db)"),
    ]
    stages = stage_seconds(lines, wall_s=25.0)
    assert stages == {
        "start-up": 1.5,
        "loading the log": 2.0,
        "loaded: validate, build the log": 6.5,
        "fitting bgnbd and Gamma-Gamma": 10.0,
        "logging the run to MLflow": 5.0,
    }
    assert sum(stages.values()) == pytest.approx(25.0)
    assert stage_name("2023-10-02: fitting the lapse classifier (hgb)") == (
        "fitting the lapse classifier (hgb)"
    )


def test_growth_exponent() -> None:
    assert growth_exponent(1e5, 10.0, 1e6, 100.0) == pytest.approx(1.0)
    assert growth_exponent(1e5, 10.0, 1e6, 10.0 * 10**1.5) == pytest.approx(1.5)
    assert math.isnan(growth_exponent(1e5, 0.0, 1e6, 3.0))


def test_table_has_an_exponent_per_stage_and_size_pair() -> None:
    runs = [
        TrainRun(100_000, 10.0, 500.0, {"fit": 4.0, "score": 6.0}),
        TrainRun(1_000_000, 160.0, 4000.0, {"fit": 40.0, "score": 120.0}),
    ]
    rows = {row["stage"]: row for row in table(runs)}
    assert rows["fit"]["exponent_100000_1000000"] == pytest.approx(1.0)
    assert rows["score"]["exponent_100000_1000000"] == pytest.approx(math.log10(20.0))
    assert rows["total (wall)"]["exponent_100000_1000000"] == pytest.approx(math.log10(16.0))
    assert rows["score"]["1000000_share"] == pytest.approx(0.75)
