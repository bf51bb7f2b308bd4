"""The season features: the forecast window one and two years earlier, and R, on hand-built logs.

Engine parity of these columns (NumPy twin, Spark) is in test_small.py and
test_spark_parity.py, with the other columns.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from churnmodel import ConfigError
from churnmodel.features import BEHAVIOUR_COLUMNS, FeatureWindows, customer_features
from churnmodel.features.engine import DuckDBEngine
from churnmodel.features.queries import ledger_sql

AS_OF = date(2024, 3, 31)
SEASON_COLUMNS = (
    "purchases_season_last_year",
    "spend_season_last_year",
    "season_share",
    "season_concentration",
)


def _log(rows: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(cid, pd.Timestamp(day) + pd.Timedelta(hours=12), amount) for cid, days in rows.items()
         for day, amount in days],
        columns=["customer_id", "timestamp", "amount"],
    )  # fmt: skip


def _features(
    log: pd.DataFrame, engine: str, windows: FeatureWindows | None = None
) -> pd.DataFrame:
    """Features by the NumPy twin (a small frame) or by the SQL on DuckDB."""
    if engine == "numpy":
        return customer_features(log, AS_OF, windows=windows)
    duck, table = DuckDBEngine.for_transactions(log)
    ledger = duck.view(ledger_sql(table), prefix="ledger")
    return customer_features(log, AS_OF, windows=windows, ledger=ledger, engine=duck)


def _concentration(days: list[str]) -> float:
    epoch_days = (pd.to_datetime(days) - pd.Timestamp("1970-01-01")).days.to_numpy()
    theta = 2 * np.pi * epoch_days / 365.2425
    return float(np.abs(np.exp(1j * theta).sum()) / len(days))


def test_the_season_columns_are_behaviour_columns_in_order() -> None:
    i = BEHAVIOUR_COLUMNS.index("purchases_season_last_year")
    assert BEHAVIOUR_COLUMNS[i : i + 4] == SEASON_COLUMNS
    f = customer_features(_log({"a": [("2024-01-05", 10.0)]}), AS_OF)
    assert [c for c in f.columns if c in BEHAVIOUR_COLUMNS] == list(BEHAVIOUR_COLUMNS)
    assert all(f[c].dtype == "float64" for c in SEASON_COLUMNS[1:])


# a = 2024-03-31: a - 365 = 2023-04-01, a - 730 = 2022-04-01 (2024 is a leap year).
DAYS = {
    "a": [
        ("2021-06-01", 99.0),  # more than two years ago: in no window, but in R
        ("2022-04-01", 7.0),  # on a - 730: outside (the windows are open on the left)
        ("2022-05-10", 5.0),  # two years ago, in the season window (90 days)
        ("2023-04-02", 20.0),  # one year ago, in the season window
        ("2023-06-29", 30.0),  # ... on its last day (a - 365 + 90 = 2023-06-30)
        ("2023-06-30", -4.0),  # a return only: not a purchase day
        ("2023-09-01", 40.0),  # one year ago, after the 90 days (in them for season=184)
        ("2024-03-01", 50.0),
    ],
    "silent": [("2021-05-01", 10.0), ("2021-05-20", 10.0)],  # nothing in the last two years
}


@pytest.mark.parametrize(
    ("season", "purchases", "spend", "share"),
    [
        # Five purchase days in (a - 730, a]; the season windows one and two years earlier:
        (90, 2, 50.0, 3 / 5),  # (2023-04-01, 2023-06-30] and (2022-04-01, 2022-06-30]
        (184, 3, 90.0, 4 / 5),  # (2023-04-01, 2023-10-02] and (2022-04-01, 2022-10-02]
        (365, 4, 140.0, 5 / 5),  # the last year and the year before: every day
        (1, 1, 20.0, 1 / 5),  # (2023-04-01, 2023-04-02] and (2022-04-01, 2022-04-02]
    ],
)
@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_season_windows_follow_the_forecast_window(
    engine: str, season: int, purchases: int, spend: float, share: float
) -> None:
    f = _features(_log(DAYS), engine, windows=FeatureWindows(season=season))
    a = f.loc["a"]
    assert a["purchases_season_last_year"] == purchases
    assert a["spend_season_last_year"] == spend
    assert a["season_share"] == share
    purchase_days = [d for d, amount in DAYS["a"] if amount > 0]
    assert a["season_concentration"] == pytest.approx(_concentration(purchase_days), abs=1e-12)
    silent = f.loc["silent"]
    assert silent["purchases_season_last_year"] == 0
    assert silent["spend_season_last_year"] == 0.0
    assert silent["season_share"] == 0.0  # no purchase day in the last two years
    assert silent["season_concentration"] == pytest.approx(
        _concentration(["2021-05-01", "2021-05-20"]), abs=1e-12
    )


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_concentration_is_one_for_one_season_and_small_for_a_spread(engine: str) -> None:
    start = pd.Timestamp("2020-01-01")
    rows = {
        "once": [("2023-11-20", 10.0)],
        # The same three weeks of three years.
        "winter": [
            (str((start + pd.Timedelta(days=d)).date()), 10.0)
            for d in (1420, 1430, 1440, 1055, 1065, 690, 700)
        ],
        # Every 30 days for three years.
        "spread": [(str((start + pd.Timedelta(days=d)).date()), 10.0) for d in range(0, 1500, 30)],
        # Two purchase days half a year apart: the angles cancel.
        "opposite": [("2023-01-01", 10.0), ("2023-07-02", 10.0)],
    }
    f = _features(_log(rows), engine)["season_concentration"]
    assert f["once"] <= 1.0 and f["once"] == pytest.approx(1.0, abs=1e-15)
    assert f["winter"] > 0.95
    assert f["spread"] < 1 / np.sqrt(50)
    assert f["opposite"] == pytest.approx(abs(np.cos(np.pi * 182 / 365.2425)), abs=1e-12)
    assert f["opposite"] < 0.01


def test_only_the_season_columns_depend_on_the_season_window() -> None:
    rng = np.random.default_rng(4)
    n = 3_000
    log = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 200, n)],
            "timestamp": pd.Timestamp(AS_OF - timedelta(days=1_000))
            + pd.to_timedelta(rng.integers(0, 1_100 * 86_400, n), "s"),
            "amount": rng.gamma(2.0, 10.0, n).round(2),
        }
    )
    base = customer_features(log, AS_OF)
    for season in (184, 273, 365):
        other = customer_features(log, AS_OF, windows=FeatureWindows(season=season))
        same = [c for c in base.columns if c not in SEASON_COLUMNS[:3]]
        pd.testing.assert_frame_equal(other[same], base[same])
        assert (other["purchases_season_last_year"] >= base["purchases_season_last_year"]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"season": 0}, "FeatureWindows.season must be an integer > 0, got 0"),
        ({"season": 400}, "FeatureWindows.season must be <= 365 .*, got 400"),
        ({"short": -7}, "FeatureWindows.short must be an integer > 0, got -7"),
        ({"medium": 90.5}, "FeatureWindows.medium must be an integer > 0, got 90.5"),
    ],
)
def test_windows_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FeatureWindows(**kwargs)  # type: ignore[arg-type]


def test_numpy_integers_are_windows_too() -> None:
    windows = FeatureWindows(season=np.int64(184))  # type: ignore[arg-type]
    assert windows.season == 184 and type(windows.season) is int
    assert windows == FeatureWindows(season=184)
