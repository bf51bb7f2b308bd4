from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from churnmodel import ConfigError
from churnmodel.io import write_table


@pytest.mark.parametrize("name", ["out.parquet", "out.csv"])
def test_write_table_round_trips_and_leaves_no_temporary_file(tmp_path: Path, name: str) -> None:
    df = pd.DataFrame({"customer_id": ["007", "1"], "x": [1.5, 2.0]})
    path = write_table(df, tmp_path / "sub" / name)
    back = (
        pd.read_parquet(path)
        if name.endswith(".parquet")
        else pd.read_csv(path, dtype={"customer_id": str})
    )
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert sorted(p.name for p in path.parent.iterdir()) == [name]


def test_write_table_permissions_follow_the_umask(tmp_path: Path) -> None:
    path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "f.csv")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.csv"
    target.write_text("old\n")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_table(pd.DataFrame({"a": [1]}), target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.parquet or \.csv"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "f.xlsx")
