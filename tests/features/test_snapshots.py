from __future__ import annotations

import pandas as pd
import pytest

from churnmodel import ConfigError
from churnmodel.features import build_snapshots, customer_features, snapshot_cutoffs


def _log() -> pd.DataFrame:
    rows = [
        ("a", "2024-01-05", 10.0),
        ("a", "2024-02-10", 20.0),
        ("a", "2024-03-15", 5.0),
        ("b", "2024-01-20", 30.0),
        ("c", "2024-02-20", 40.0),
        ("c", "2024-02-25", -40.0),
        ("c", "2024-04-30", 8.0),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


def test_labels_count_what_happened_in_the_next_horizon() -> None:
    snaps = build_snapshots(_log(), ["2024-01-31", "2024-02-29"], horizon_days=61)
    jan = snaps[snaps["cutoff"] == "2024-01-31"].set_index("customer_id")
    assert sorted(jan.index) == ["a", "b"]  # c is first seen after the cut-off
    assert jan.loc["a", "purchases_next"] == 2 and jan.loc["a", "spend_next"] == 25.0
    assert bool(jan.loc["b", "lapsed"]) and jan.loc["b", "spend_next"] == 0.0
    feb = snaps[snaps["cutoff"] == "2024-02-29"].set_index("customer_id")
    assert sorted(feb.index) == ["a", "b", "c"]
    assert feb.loc["c", "purchases_next"] == 1 and feb.loc["c", "spend_next"] == 8.0


def test_snapshot_features_equal_features_at_the_cutoff() -> None:
    log = _log()
    snaps = build_snapshots(log, ["2024-02-29"], horizon_days=60)
    direct = customer_features(log, "2024-02-29")
    got = snaps.drop(columns=["cutoff", "purchases_next", "spend_next", "lapsed"]).set_index(
        "customer_id"
    )
    pd.testing.assert_frame_equal(
        got, direct, check_names=False, check_like=False, check_exact=True, check_flags=False
    )


def test_incomplete_label_windows_are_refused() -> None:
    with pytest.raises(ConfigError, match="ends after the last transaction date 2024-04-30"):
        build_snapshots(_log(), ["2024-03-31"], horizon_days=60)


def test_cutoffs_do_not_overlap_the_scoring_window_and_include_last_year() -> None:
    cuts = snapshot_cutoffs("2024-06-30", 90, n_recent=3)
    assert [c.isoformat() for c in cuts] == ["2023-07-01", "2023-10-04", "2024-01-02", "2024-04-01"]
    assert all(c.toordinal() + 90 <= pd.Timestamp("2024-06-30").toordinal() for c in cuts)
