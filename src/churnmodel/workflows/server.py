"""Start the team's MLflow tracking server from the ``[server]`` settings (``churnmodel server``).

The server itself is described in :mod:`churnmodel.tracking.server`; this job checks the
database, refuses a first start without the admin's password, writes the auth configuration
to a private temporary folder for the server's lifetime, and runs the server in the
foreground (:func:`churnmodel.workflows.score.run_foreground`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from churnmodel.exceptions import ConfigError

if TYPE_CHECKING:
    from churnmodel.config import Settings
    from churnmodel.tracking.server import ServerPlan

__all__ = ["plan_team_server", "run_team_server"]

ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
#: MLflow's password policy for its basic-auth users (mlflow.utils.validation).
MIN_PASSWORD_LENGTH = 12


def plan_team_server(settings: Settings, auth_config_path: Path) -> ServerPlan:
    """Check the database and return the server's plan (raises :class:`ConfigError`)."""
    from churnmodel.tracking.server import check_backend, server_command

    s = settings.server
    plan = server_command(
        s.backend_store_uri,
        artifacts_destination=s.artifacts_destination,
        auth_config_path=auth_config_path,
        host=s.host,
        port=s.port,
        workers=s.workers,
        auth_database_uri=s.auth_database_uri,
        admin_username=s.admin_username,
        default_permission=s.default_permission,
        allowed_hosts=s.allowed_hosts,
    )
    state = check_backend(s.backend_store_uri or "", s.auth_database_uri, s.admin_username)
    if not state.admin_exists:
        password = os.environ.get(ADMIN_PASSWORD_ENV, "")
        if not password:
            raise ConfigError(
                f"first start: set {ADMIN_PASSWORD_ENV} to the password MLflow gives the admin "
                f"user {s.admin_username!r} (read only until that user exists)"
            )
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ConfigError(
                f"{ADMIN_PASSWORD_ENV} is {len(password)} characters; MLflow requires at least "
                f"{MIN_PASSWORD_LENGTH}"
            )
    return plan


def run_team_server(settings: Settings, echo: Callable[[str], None] = print) -> int:
    """Run the team server until it stops (Ctrl-C); return its exit code."""
    from churnmodel.workflows.score import run_foreground

    with tempfile.TemporaryDirectory(prefix="churnmodel-server-") as folder:
        config = Path(folder) / "basic_auth.ini"
        plan = plan_team_server(settings, config)
        config.touch(mode=0o600)
        config.write_text(plan.auth_config)
        s = settings.server
        echo(
            f"MLflow team server on http://{s.host}:{s.port} (basic auth; Ctrl-C stops it)\n"
            f"  runs and registry: {plan.backend_shown}\n"
            f"  artifacts:         {plan.artifacts_destination} (proxied by the server)\n"
            f"  clients:           MLFLOW_TRACKING_URI=http://{s.host}:{s.port} with "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (docs/team-server.md)"
        )
        return run_foreground(plan.command, plan.env)
