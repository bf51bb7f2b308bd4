"""Write result tables atomically: a temporary file in the target folder, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
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


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    index: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``df`` to ``path`` (Parquet or CSV by extension) so readers never see half a file.

    The frame is written to a temporary file beside the target and renamed over it, which is
    atomic on POSIX file systems: an interrupted write leaves the old file (or none), never a
    partial one.

    Parameters
    ----------
    df, path, index
        The table, the target and whether to write the index.
    metadata
        Key-value metadata of a Parquet file (beside pandas' own ``pandas`` key), for example
        ``{"churnmodel": "<JSON>"}``; read it back with
        ``pyarrow.parquet.read_schema(path).metadata``. A CSV file has no place for it: ignored.

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
        if fmt == "parquet" and metadata:
            _write_parquet(df, tmp, index=index, metadata=metadata)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=index)
        else:
            df.to_csv(tmp, index=index)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _write_parquet(
    df: pd.DataFrame, path: Path, *, index: bool, metadata: Mapping[str, str]
) -> None:
    """Write ``df`` as pandas would, with ``metadata`` added to the file's key-value metadata.

    The schema pandas would infer, carrying ``metadata``, is passed to ``to_parquet`` (pyarrow
    adds pandas' own key beside it), so the file is written by the same call as without it.
    """
    import pyarrow as pa

    schema = pa.Schema.from_pandas(df, preserve_index=index)
    extra = {str(k).encode(): str(v).encode() for k, v in metadata.items()}
    df.to_parquet(path, index=index, schema=schema.with_metadata(extra))
