"""The team server, end to end: PostgreSQL, `churnmodel server`, and the commands through it.

A throwaway PostgreSQL cluster (``tests/tracking/postgres.py``) backs ``churnmodel server``
(basic auth, proxied artifacts in a temp folder) on a free loopback port. The commands then
run unchanged, as a team member would run them, with only ``MLFLOW_TRACKING_URI`` and the
credentials in their environment: train (registers the model and promotes it to
``@champion``), score with the champion, and monitor the champion's forecast once its window
has passed on a small simulated log. A request without credentials, or with a wrong
password, gets 401; a first start without the admin's password, or on a database that does
not exist, is one line. Chromium then signs in (HTTP basic auth) and finds the run with its
headline metrics and the champion alias; the screenshots are test artifacts
(``tests/tracking/browser.py``). The server and the cluster are stopped at the end, also when
the test fails.

Skipped, saying why, only where the PostgreSQL binaries are missing; ``.ci/run`` installs
them and sets ``CHURNMODEL_REQUIRE_POSTGRES=1`` so that CI fails rather than skips.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.tracking import HEADLINE_VIEW, ui_link
from tests.tracking.browser import browser_page, grid_columns, require_chromium, screenshot
from tests.tracking.postgres import postgres_cluster, require_postgres
from tests.tracking.session import REPO, cli, free_port, running

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.slow]

ADMIN = "admin"
# A test-only password for the throwaway server (MLflow requires 12 characters or more).
ADMIN_PASSWORD = "test-only-admin-password"
SERVED = "2023-09-30"
HEADLINE = ("lapse_roc_auc", "lapse_roc_auc_vs_baseline", "lapse_brier", "spend_spearman")


def _status(url: str, credentials: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _client_env(base: str) -> dict[str, str]:
    """A team member's environment: the server's address and credentials, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNMODEL_", "MLFLOW_"))}
    env.update(
        MLFLOW_TRACKING_URI=base,
        MLFLOW_TRACKING_USERNAME=ADMIN,
        MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD,
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        # fast settings: no backtest, no season-aligned repeat; any useful model is promoted
        CHURNMODEL_MODEL__BACKTEST_CUTOFFS="0",
        CHURNMODEL_MODEL__ALIGNED_EVALUATION="false",
        CHURNMODEL_TRACKING__PROMOTION_RULES='["lapse_roc_auc > 0.5"]',
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    started = time.perf_counter()
    done = subprocess.run(
        cli(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=1200
    )
    print(f"churnmodel {args[0]}: exit {done.returncode} in {time.perf_counter() - started:.0f} s")
    return done


def _logs(folder: Path) -> str:
    return (folder / "server.log").read_text()[-3000:] if (folder / "server.log").exists() else ""


def test_team_server_on_postgresql_runs_the_commands_and_requires_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    from churnmodel.datasets import simulate

    log = simulate(2_000, seed=5, start="2021-01-01", end="2023-12-31").transactions
    log[log["timestamp"] < pd.Timestamp("2023-10-01")].to_parquet(tmp_path / "to_sep.parquet")
    log.to_parquet(tmp_path / "to_dec.parquet")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with postgres_cluster() as db:
        server_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        server_env.update(
            CHURNMODEL_SERVER__BACKEND_STORE_URI=db.uri,
            MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
        )
        # Mistakes before the first start: one line each, and no server.
        no_admin = {k: v for k, v in server_env.items() if k != "MLFLOW_AUTH_ADMIN_PASSWORD"}
        first = subprocess.run(cli("server"), env=no_admin, capture_output=True, text=True)
        assert first.returncode == 2 and first.stderr.count("\n") == 1, first.stderr
        assert "first start: set MLFLOW_AUTH_ADMIN_PASSWORD" in first.stderr
        wrong_db = db.uri.rsplit("/", 1)[0] + "/nosuchdb"
        missing = subprocess.run(
            cli("server", "--backend-store-uri", wrong_db),
            env=server_env,
            capture_output=True,
            text=True,
        )
        assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
        assert '"nosuchdb" does not exist' in missing.stderr and "createdb" in missing.stderr
        assert db.password not in missing.stderr

        server = cli(
            "server",
            "--port",
            str(port),
            "--workers",
            "2",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
        )
        with running(server, server_env, f"{base}/health", tmp_path / "server.log"):
            search = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
            assert _status(search) == 401
            assert _status(search, (ADMIN, "not-the-password")) == 401
            assert _status(search, (ADMIN, ADMIN_PASSWORD)) == 200

            env = _client_env(base)
            train = _run(
                ["train", "--data", "to_sep.parquet", "--horizon-days", "92"], env, tmp_path
            )
            assert train.returncode == 0, train.stderr[-3000:] + _logs(tmp_path)
            assert f"store:    {base}" in train.stdout
            assert "is now @champion" in train.stdout, train.stdout

            score = _run(
                ["score", "--data", "to_sep.parquet", "--output", "scores.parquet"], env, tmp_path
            )
            assert score.returncode == 0, score.stderr[-3000:] + _logs(tmp_path)
            scores = pd.read_parquet(tmp_path / "scores.parquet")
            assert len(scores) > 1000 and scores["p_churn"].between(0, 1).all()

            monitor = _run(
                ["monitor", "--data", "to_dec.parquet", "--scores", "scores.parquet"],
                env,
                tmp_path,
            )
            assert monitor.returncode == 0, monitor.stdout + monitor.stderr[-3000:]
            assert "status:   ok" in monitor.stdout

            # What the server holds, read as a client with the same credentials.
            import mlflow

            for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
                monkeypatch.setenv(key, env[key])
            client = mlflow.MlflowClient(tracking_uri=base, registry_uri=base)
            champion = client.get_model_version_by_alias("churnmodel", "champion")
            run = client.get_run(champion.run_id)
            assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied
            assert any((tmp_path / "artifacts").rglob("MLmodel"))  # stored by the server
            assert champion.tags["monitor_status"] == "ok"
            assert set(HEADLINE) <= set(run.data.metrics)
            experiment_id = run.info.experiment_id
            # the rows live in PostgreSQL, not in a file next to the commands
            assert not list(tmp_path.glob("*.db")) and not (tmp_path / "mlruns").exists()

            # The UI, signed in: the run with its headline metrics, the champion alias.
            require_chromium()
            with browser_page(credentials=(ADMIN, ADMIN_PASSWORD), width=2000) as page:
                page.goto(ui_link(base, experiment_id, view=HEADLINE_VIEW), timeout=120_000)
                page.get_by_text(run.info.run_name, exact=True).first.wait_for(timeout=120_000)
                page.get_by_text(HEADLINE[0], exact=True).first.wait_for(timeout=60_000)
                auc = run.data.metrics["lapse_roc_auc"]  # logged rounded to 4 decimals
                page.get_by_text(f"{auc}", exact=True).first.wait_for(timeout=60_000)
                screenshot(page, "team-server-runs")
                assert set(HEADLINE) <= grid_columns(page)
                page.goto(ui_link(base, experiment_id, model="churnmodel"), timeout=120_000)
                alias = page.get_by_text(re.compile(r"^@\s*champion$"))
                alias.or_(page.get_by_text("champion", exact=True)).first.wait_for(timeout=60_000)
                screenshot(page, "team-server-model")
