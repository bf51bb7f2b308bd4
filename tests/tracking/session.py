"""One trained MLflow store per test session, shared by every xdist worker.

Training takes a while, so the first worker that needs the store trains into a folder beside
pytest's per-worker temp folders (under a file lock); the others wait and reuse it. Everything
MLflow writes goes there (a temporary SQLite store), never into the project.

The model is trained on the CDNOW 1/10 sample (2,357 customers), written to a CSV so that the
job reads it like any user file: calibration to 1997-09-30, holdout to 1998-06-30. It is
trained twice, as a team retraining on the same data would: the second run is compared with
the first as the champion (``*_vs_champion`` metrics), and the two runs must read as two.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.datasets import load_cdnow

REPO = Path(__file__).resolve().parents[2]
CUTOFF = "1997-09-30"
AS_OF = "1998-06-30"


@dataclass(frozen=True)
class TrainedStore:
    """A store with one trained, registered and promoted model."""

    folder: Path
    tracking_uri: str
    data: Path
    run_id: str
    experiment_id: str
    model_uri: str
    version: str
    promoted: bool
    first_run_id: str = ""

    @property
    def champion_uri(self) -> str:
        return "models:/churnmodel@champion"

    def env(self) -> dict[str, str]:
        """Environment of a subprocess that uses this store (and can import tests.*)."""
        env = dict(os.environ)
        env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env.pop("CHURNMODEL_TRACKING__URI", None)
        return env


_CACHE: dict[Path, TrainedStore] = {}


def _train(folder: Path) -> TrainedStore:
    from churnmodel.config import load_settings
    from churnmodel.workflows.train import train_job

    tx = load_cdnow(sample=True)
    assert isinstance(tx, pd.DataFrame)
    data = folder / "cdnow_sample.csv"
    tx.loc[:, ["customer_id", "timestamp", "amount"]].to_csv(data, index=False)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracking = {
        "uri": uri,
        "artifact_root": str(folder / "mlartifacts"),
        # On the 1/10 sample the classifier does not beat recency reliably (it does on the
        # full log); these tests are about the pipeline, so any useful model is promoted.
        "promotion_rules": ["lapse_roc_auc > 0.5"],
    }
    settings = load_settings(
        None,
        {
            "model": {"cutoff": CUTOFF},
            "features": {"zero_net_is_purchase": True},
            "tracking": tracking,
        },
    )
    first = train_job(settings, data=data)
    result = train_job(settings, data=data)
    return TrainedStore(
        folder=folder,
        tracking_uri=uri,
        data=data,
        first_run_id=first.run_id,
        run_id=result.run_id,
        experiment_id=result.experiment_id,
        model_uri=result.model_uri,
        version=result.registered.version,
        promoted=result.promoted,
    )


def trained_store(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    """Return the session's trained store, training it if no worker has yet."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    folder = root / "mlflow_session"
    if folder in _CACHE:
        return _CACHE[folder]
    folder.mkdir(exist_ok=True)
    done = folder / "trained.json"
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if done.exists():
                state = json.loads(done.read_text())
                store = TrainedStore(
                    **{**state, "folder": Path(state["folder"]), "data": Path(state["data"])}
                )
            else:
                store = _train(folder)
                state = {**store.__dict__, "folder": str(store.folder), "data": str(store.data)}
                done.write_text(json.dumps(state))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _CACHE[folder] = store
    return store


def free_port() -> int:
    """Return a TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Wait until ``url`` answers 200, failing early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}) before {url} answered")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], health_url: str, log: Path) -> Iterator[None]:
    """Run a server in its own process group until the block ends; stop the whole group."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            try:
                wait_http(health_url, process)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}; server log:\n{log.read_text()[-3000:]}") from None
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                process.wait()


def cli(*args: str) -> list[str]:
    """The churnmodel command as run in a subprocess."""
    return [sys.executable, "-m", "churnmodel.cli", *args]
