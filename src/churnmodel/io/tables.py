"""Write result tables atomically: a temporary file in the target folder, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from churnmodel.exceptions import ConfigError

__all__ = ["table_format", "write_table"]


def table_format(path: str | os.PathLike[str]) -> str:
    """Return ``"parquet"`` or ``"csv"`` from a path's extension.

    Raises
    ------
    ConfigError
        If the extension is neither.
    """
    suffix = Path(path).suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise ConfigError(
        f"output {str(path)!r} must end in .parquet or .csv, got {suffix or 'no extension'!r}"
    )


def write_table(df: pd.DataFrame, path: str | os.PathLike[str], *, index: bool = False) -> Path:
    """Write ``df`` to ``path`` (Parquet or CSV by extension) so readers never see half a file.

    The frame is written to a temporary file beside the target and renamed over it, which is
    atomic on POSIX file systems: an interrupted write leaves the old file (or none), never a
    partial one.

    Returns
    -------
    Path
        The path written.
    """
    target = Path(path)
    fmt = table_format(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file 0600; give it the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        if fmt == "parquet":
            df.to_parquet(tmp, index=index)
        else:
            df.to_csv(tmp, index=index)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
