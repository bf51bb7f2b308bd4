"""The team's MLflow tracking server: PostgreSQL, proxied artifacts, basic authentication.

``churnmodel server`` runs ``mlflow server`` with

* runs, models and the registry in PostgreSQL (``--backend-store-uri postgresql://...``,
  handed over in the environment so the password is not in the process list);
* artifacts proxied by the server (``--serve-artifacts --artifacts-destination``): clients
  upload and download through it and need no access of their own to the folder or bucket;
* MLflow's basic authentication (``--app-name basic-auth``): its users and permissions in
  PostgreSQL too, described by an auth configuration file this module writes (readable by
  the owner only, since the database URI holds a password); the admin's password comes from
  ``MLFLOW_AUTH_ADMIN_PASSWORD`` on the first start, never from a file of the project.

Before starting, :func:`check_backend` connects to the database, so a wrong URI or an
unreachable PostgreSQL is one clear line rather than a server that restarts its workers.
``docs/team-server.md`` shows how a team uses it.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from churnmodel.exceptions import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["BackendState", "ServerPlan", "check_backend", "parse_postgres_uri", "server_command"]

_SCHEMES = ("postgresql", "postgresql+psycopg", "postgresql+psycopg2")
_EXAMPLE = "postgresql://mlflow:PASSWORD@db.internal:5432/mlflow"
_BACKEND_ENV = "CHURNMODEL_SERVER__BACKEND_STORE_URI"


def parse_postgres_uri(uri: str | None, what: str = "backend_store_uri") -> URL:
    """Return ``uri`` parsed, or raise :class:`ConfigError` naming the setting and the fix."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not uri:
        raise ConfigError(
            f"[server] {what} is not set: give the PostgreSQL database, e.g. "
            f"{_BACKEND_ENV}='{_EXAMPLE}' (or --backend-store-uri)"
        )
    try:
        url = make_url(uri)
    except ArgumentError:
        raise ConfigError(
            f"[server] {what} is not a database URI: use the form {_EXAMPLE}"
        ) from None
    if url.drivername == "postgres":
        raise ConfigError(f"[server] {what}: write 'postgresql://', not 'postgres://'")
    if url.drivername not in _SCHEMES:
        raise ConfigError(
            f"[server] {what} must be a PostgreSQL URI ({_EXAMPLE}), got one for {url.drivername!r}"
        )
    if not url.database:
        raise ConfigError(
            f"[server] {what} names no database: end it with /<database>, e.g. {_EXAMPLE}"
        )
    return url


def _shown(url: URL) -> str:
    """Return the URI as it may be printed: the password hidden."""
    return url.render_as_string(hide_password=True)


@dataclass(frozen=True)
class BackendState:
    """What :func:`check_backend` found: whether the auth store already has its admin."""

    admin_exists: bool


def check_backend(uri: str, auth_uri: str | None, admin_username: str) -> BackendState:
    """Connect to the backend (and auth) database and see whether the admin user exists.

    Raises a one-line :class:`ConfigError` when either database is wrong or unreachable.
    """
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    url = parse_postgres_uri(uri)
    targets = [("backend store", url)]
    if auth_uri is not None:
        targets.append(("auth database", parse_postgres_uri(auth_uri, "auth_database_uri")))
    admin_exists = False
    for which, u in targets:
        engine = create_engine(u, connect_args={"connect_timeout": 5}, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                # The auth store is the last target: the backend store unless one is named.
                if u is targets[-1][1] and inspect(conn).has_table("users"):
                    found = conn.execute(
                        text("SELECT 1 FROM users WHERE username = :u"), {"u": admin_username}
                    )
                    admin_exists = found.first() is not None
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot connect to the {which} {_shown(u)}: {_reason(exc)}{_hint(exc, u)}"
            ) from None
        finally:
            engine.dispose()
    return BackendState(admin_exists=admin_exists)


def _reason(exc: Exception) -> str:
    """Return the driver's message on one line (the server's answer comes first)."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


def _hint(exc: Exception, url: URL) -> str:
    message = str(getattr(exc, "orig", None) or exc)
    if "does not exist" in message and "database" in message:
        return f" (create it first: createdb -h {url.host} -U {url.username} {url.database})"
    if "password authentication failed" in message:
        return f" (check the user and password in {_BACKEND_ENV})"
    if "Connection refused" in message or "timeout" in message or "could not translate" in message:
        return " (is PostgreSQL running there, and does its firewall let this host in?)"
    return ""


@dataclass(frozen=True)
class ServerPlan:
    """The server's command, its environment, and the auth configuration it reads."""

    command: list[str]
    env: dict[str, str]
    auth_config: str
    backend_shown: str
    artifacts_destination: str


def _ini_value(value: str) -> str:
    # MLflow reads the file with configparser, whose interpolation treats % specially.
    return value.replace("%", "%%")


def server_command(
    backend_store_uri: str | None,
    *,
    artifacts_destination: str,
    auth_config_path: Path,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 2,
    auth_database_uri: str | None = None,
    admin_username: str = "admin",
    default_permission: str = "READ",
    allowed_hosts: tuple[str, ...] = (),
) -> ServerPlan:
    """Return how to start the team server (nothing is started or written).

    The caller writes ``plan.auth_config`` to ``auth_config_path`` (mode 0600) and runs
    ``plan.command`` with ``plan.env``. A local ``artifacts_destination`` is made absolute;
    ``s3://...`` and other object-store URIs are passed on as they are.
    """
    url = parse_postgres_uri(backend_store_uri)
    auth_url = url if auth_database_uri is None else parse_postgres_uri(auth_database_uri)
    if "://" not in artifacts_destination:
        artifacts_destination = str(Path(artifacts_destination).expanduser().resolve())
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts_destination,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if allowed_hosts:
        command += ["--allowed-hosts", ",".join(allowed_hosts)]
    auth_config = (
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = {_ini_value(auth_url.render_as_string(hide_password=False))}\n"
        f"admin_username = {_ini_value(admin_username)}\n"
    )
    env = dict(os.environ)
    env["MLFLOW_BACKEND_STORE_URI"] = url.render_as_string(hide_password=False)
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(auth_config_path)
    # Every worker must sign forms with the same key; a team sets its own to keep sessions
    # across restarts, else each start draws one.
    if not env.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(32)
    # The GenAI job runner (several more processes) is not needed to track and review runs.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    env.setdefault("PYTHONWARNINGS", "ignore:starlette.middleware.wsgi is deprecated:UserWarning")
    # The server is not a client of itself: a tracking URI or credentials in the operator's
    # shell must not leak into it.
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    return ServerPlan(
        command=command,
        env=env,
        auth_config=auth_config,
        backend_shown=_shown(url),
        artifacts_destination=artifacts_destination,
    )
