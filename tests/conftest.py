"""Shared fixtures: small logs built in memory, the CDNOW files that lifetimes ships, and the
Spark session of the tests marked ``spark``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.datasets.cdnow import load_cdnow


@pytest.fixture(scope="session")
def cdnow_sample() -> pd.DataFrame:
    """CDNOW 1/10 sample transactions (canonical columns)."""
    tx = load_cdnow(sample=True)
    assert isinstance(tx, pd.DataFrame)
    return tx


def random_log(
    n_rows: int = 5_000, n_customers: int = 400, seed: int = 0, days: int = 700
) -> pd.DataFrame:
    """A log of positive purchases at random times (canonical columns)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": pd.array(
                [f"{c:05d}" for c in rng.integers(0, n_customers, n_rows)], dtype="str"
            ),
            "timestamp": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, days * 86_400, n_rows), unit="s"),
            "amount": rng.gamma(2.0, 15.0, n_rows).round(2) + 0.01,
        }
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session (``local[2]``, loopback) for every Spark test of the process.

    Skips without pyspark or Java, unless CI demands Spark (``CHURNMODEL_REQUIRE_SPARK=1``).
    """
    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "pyspark is not installed (pip install 'churnmodel[spark]')"
    if missing is None and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        missing = "no Java runtime (Spark needs Java 17)"
    if missing:
        if os.environ.get("CHURNMODEL_REQUIRE_SPARK") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from churnmodel.features.spark import spark_session

    session = spark_session("local[2]", "churnmodel-tests", timezone="UTC", shuffle_partitions=2)
    yield session
    session.stop()
