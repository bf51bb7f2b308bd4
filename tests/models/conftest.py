"""Fixtures for the model tests: CDNOW as lifetimes ships it, simulated summaries, fitted models."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.models import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    simulate_bgnbd_summary,
)
from churnmodel.models._base import import_lifetimes
from tests.models.helpers import DAY_PARAMS, SPEND_PARAMS


@pytest.fixture(scope="session")
def lifetimes() -> ModuleType:
    """The lifetimes package (reference implementation), imported without side effects."""
    module = import_lifetimes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importlib.import_module("lifetimes.datasets")
    return module


@pytest.fixture(scope="session")
def cdnow(lifetimes: ModuleType) -> pd.DataFrame:
    """CDNOW 1/10 sample, weeks 1-39: frequency, recency, T (weeks), monetary_value."""
    summary = lifetimes.datasets.load_cdnow_summary_data_with_monetary_value()
    summary.attrs["time_unit"] = "W"
    return summary


@pytest.fixture(scope="session")
def cdnow_holdout(lifetimes: ModuleType, cdnow: pd.DataFrame) -> dict[str, Any]:
    """Weeks 40-78 of the CDNOW sample: weekly repeat purchases and per-customer counts.

    Built from the transactions file lifetimes ships; a purchase is a distinct purchase day, as
    in the summary's frequency.
    """
    path = Path(lifetimes.datasets.__file__).parent / "CDNOW_sample.txt"
    tx = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master", "id", "date", "qty", "amount"],
        dtype={"date": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    days = tx.drop_duplicates(["id", "date"])
    cut = pd.Timestamp("1997-09-30")
    hold = days[(days["date"] > cut) & (days["date"] <= cut + pd.Timedelta(weeks=39))]
    week = np.ceil((hold["date"] - cut).dt.days / 7).astype(int)
    weekly = week.value_counts().sort_index().reindex(range(1, 40), fill_value=0).astype(float)
    per_customer = hold.groupby("id").size().reindex(cdnow.index, fill_value=0)
    frame = pd.DataFrame({"frequency_holdout": per_customer, "duration_holdout": 39.0})
    return {"weekly": weekly, "per_customer": frame}


@pytest.fixture(scope="session")
def bgnbd_cdnow(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow)


@pytest.fixture(scope="session")
def mbgnbd_cdnow(cdnow: pd.DataFrame) -> ModifiedBetaGeoModel:
    return ModifiedBetaGeoModel().fit(cdnow)


@pytest.fixture(scope="session")
def pareto_cdnow(cdnow: pd.DataFrame) -> ParetoNBDModel:
    return ParetoNBDModel().fit(cdnow)


@pytest.fixture(scope="session")
def gg_cdnow(cdnow: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(cdnow)


@pytest.fixture(scope="session")
def small_days() -> pd.DataFrame:
    """3,000 simulated customers at day resolution with spend (fast to fit)."""
    ages = np.random.default_rng(7).integers(60, 366, 3000)
    return simulate_bgnbd_summary(3000, DAY_PARAMS, ages, seed=11, spend_params=SPEND_PARAMS)
