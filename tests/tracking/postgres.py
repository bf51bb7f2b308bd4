"""A throwaway PostgreSQL cluster for the team-server test: initdb and pg_ctl in a temp folder.

The binaries are Debian's (``postgresql`` package: ``/usr/lib/postgresql/<major>/bin``) or any
``pg_ctl`` on the PATH. PostgreSQL refuses to run as root, so as root (CI) every server command
runs as the ``postgres`` user the package creates (``runuser``), in a folder that user owns.
The cluster listens on loopback only, on a free port, with a password (scram-sha-256); its
socket lives in the same folder. :func:`postgres_cluster` stops it and removes the folder
when the block ends, whatever happened inside.

Without the binaries the test is skipped, saying how to install them; with
``CHURNMODEL_REQUIRE_POSTGRES=1`` (set by ``.ci/run``, which installs them) it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tracking.session import free_port

REQUIRE_ENV = "CHURNMODEL_REQUIRE_POSTGRES"


def postgres_bin() -> Path | None:
    """Return the folder of initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    ) + ([Path(found).resolve().parent] if found else [])
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "createdb")):
            return folder
    return None


def require_postgres() -> Path:
    """Return the binaries' folder; skip (or fail under CHURNMODEL_REQUIRE_POSTGRES=1) without."""
    folder = postgres_bin()
    problem = None
    if folder is None:
        problem = (
            "PostgreSQL is not installed (no pg_ctl on the PATH or in /usr/lib/postgresql/*/bin; "
            "'apt-get install -y postgresql' installs it, as .ci/run does)"
        )
    elif _root():
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            problem = "running as root without a 'postgres' user to run PostgreSQL as"
    if problem is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{problem}; {REQUIRE_ENV}=1 requires the team-server test to run")
        pytest.skip(problem)
    assert folder is not None
    return folder


@dataclass(frozen=True)
class Cluster:
    """A running cluster: a superuser with a password and one database for MLflow."""

    port: int
    user: str
    password: str
    database: str

    @property
    def uri(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"


def _root() -> bool:
    return os.geteuid() == 0


def _as_owner(command: list[str]) -> list[str]:
    """Run ``command`` as the postgres user when this process is root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if _root() else command


@contextlib.contextmanager
def postgres_cluster(database: str = "mlflow") -> Iterator[Cluster]:
    """Create, start and yield a cluster; stop it and delete its folder when the block ends."""
    bin_dir = require_postgres()
    # As root the cluster runs as postgres, which must reach the folder: /tmp (mode 1777),
    # whatever TMPDIR says.
    folder = Path(tempfile.mkdtemp(prefix="churnmodel-pg-", dir="/tmp" if _root() else None))
    data = folder / "data"
    password = secrets.token_urlsafe(16)
    cluster = Cluster(port=free_port(), user="churnmodel", password=password, database=database)
    started = False
    try:
        try:
            (folder / "pw").write_text(password + "\n")
            if _root():
                owner = pwd.getpwnam("postgres")
                for path in (folder, folder / "pw"):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            folder.chmod(0o700)
            subprocess.run(
                _as_owner(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        cluster.user,
                        f"--pwfile={folder / 'pw'}",
                        "--auth=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--no-instructions",
                    ]
                ),
                check=True,
                capture_output=True,
            )
            started = True  # from here on the block's end runs pg_ctl stop
            options = (
                f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off"
            )
            subprocess.run(
                _as_owner(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(folder / "postgres.log"),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ]
                ),
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    str(bin_dir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(cluster.port),
                    "-U",
                    cluster.user,
                    database,
                ],
                env={**os.environ, "PGPASSWORD": password},
                check=True,
                capture_output=True,
            )
        except subprocess.CalledProcessError as exc:
            log = folder / "postgres.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{exc.cmd[-1]} failed ({exc.returncode}): {exc.stderr.decode()[-2000:]}\n{tail}"
            ) from None
        yield cluster
    finally:
        if started:
            subprocess.run(
                _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                check=False,
                capture_output=True,
            )
        shutil.rmtree(folder, ignore_errors=True)
