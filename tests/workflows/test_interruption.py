"""Fault tolerance of batch scoring: killed runs, re-runs, and a model that is not ours.

``churnmodel score`` runs as a subprocess, as a scheduler would run it, and is killed with
SIGKILL (no clean-up code runs):

* mid-way through scoring a simulated log in many small chunks: no output file, nothing under
  the output's name; only the quarantine file of the load, written whole before scoring;
* during the final write, after a previous run's output exists: the previous file is intact,
  and the half-written temporary file is left under a hidden name (``.<output>.<random>.tmp``,
  documented in docs/reliability.md, "Interruption");
* re-running the command on the same input gives the same scores, byte for byte.

The scoring errors that need no subprocess (unknown alias, a log whose columns do not match)
are in ``tests/test_cli_mlflow.py`` and ``tests/workflows/test_train_score.py``; a model that
is not a churnmodel model (another flavor, other inputs) is checked here.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.cli import main
from churnmodel.datasets import simulate_to_parquet
from tests.tracking.session import TrainedStore, cli, trained_store

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]

# 20,000 customers in chunks of 250: 80 chunks, several seconds of scoring.
N_CUSTOMERS = 20_000
CHUNK = 250


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    return trained_store(tmp_path_factory)


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interruption") / "log.parquet"
    simulate_to_parquet(path, N_CUSTOMERS, seed=7)
    return path


def _config(trained: TrainedStore, folder: Path) -> Path:
    config = folder / "churnmodel.toml"
    config.write_text(
        f'[tracking]\nuri = "{trained.tracking_uri}"\n[scoring]\nchunk_customers = {CHUNK}\n'
    )
    return config


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"exited ({process.returncode}) too early:\n{log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"nothing happened within {timeout:.0f} s:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)


def _kill(process: subprocess.Popen[bytes], log: Path) -> None:
    assert process.poll() is None, f"finished before the kill:\n{log.read_text()[-2000:]}"
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _env(trained: TrainedStore) -> dict[str, str]:
    # OpenMP threads that spin while idle make scoring several times slower on a busy machine.
    return {"OMP_WAIT_POLICY": "PASSIVE", **trained.env()}


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


# Runs the CLI with DataFrame.to_parquet writing half of the scores' temporary file and then
# hanging, so that the test can kill the process in the middle of the final write.
_HANG_IN_WRITE = """
import os, sys, time
import pandas as pd

real = pd.DataFrame.to_parquet

def half_then_hang(self, path, *args, **kwargs):
    real(self, path, *args, **kwargs)
    if str(path).endswith(".tmp"):
        os.truncate(path, os.path.getsize(path) // 2)
        print("WRITING", path, flush=True)
        time.sleep(600)

pd.DataFrame.to_parquet = half_then_hang
from churnmodel.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_killed_score_leaves_no_partial_output_and_reruns_give_identical_scores(
    trained: TrainedStore, big_log: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out = out_dir / "scores.parquet"
    quarantine = out_dir / "scores.quarantine.csv"
    args = ["score", "--data", str(big_log), "--output", str(out)]
    args += ["--config", str(_config(trained, tmp_path))]
    env = _env(trained)

    # 1. SIGKILL while scoring: the quarantine file is written once the log is loaded, and the
    # 80 chunks take several seconds after that.
    log = tmp_path / "killed_scoring.log"
    process = _start(cli(*args), env, log)
    _wait_for(quarantine.exists, process, log)
    time.sleep(0.5)
    _kill(process, log)
    assert not out.exists()
    assert _files(out_dir) == ["scores.quarantine.csv"]  # no partial or temporary file
    assert pd.read_csv(quarantine).empty  # whole: the header of an empty quarantine

    # 2. The same command, run to the end.
    _run(cli(*args), env)
    first = out.read_bytes()
    scores = pd.read_parquet(out)
    assert len(scores) == N_CUSTOMERS and scores["customer_id"].is_unique
    assert _files(out_dir) == ["scores.parquet", "scores.quarantine.csv"]

    # 3. SIGKILL in the middle of writing the scores (one chunk, to get there sooner): the
    # previous scores stay whole; the half-written temporary file is left under a hidden name.
    log = tmp_path / "killed_writing.log"
    hang = [sys.executable, "-c", _HANG_IN_WRITE, *args]
    process = _start(hang, {**env, "CHURNMODEL_SCORING__CHUNK_CUSTOMERS": "1000000"}, log)
    _wait_for(lambda: "WRITING" in log.read_text(), process, log)
    _kill(process, log)
    assert out.read_bytes() == first
    (leftover,) = (p for p in out_dir.iterdir() if p.name.startswith(".scores.parquet."))
    assert leftover.name.endswith(".tmp") and 0 < leftover.stat().st_size < len(first)

    # 4. The same command again: the same scores, byte for byte. The leftover stays
    # (docs/reliability.md says why: it could be another run's file in progress).
    _run(cli(*args), env)
    assert out.read_bytes() == first
    pd.testing.assert_frame_equal(pd.read_parquet(out), scores)
    assert _files(out_dir) == sorted([leftover.name, "scores.parquet", "scores.quarantine.csv"])


def test_a_model_that_is_not_a_churnmodel_model_is_one_clear_line(
    trained: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow.sklearn
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"recency": [1.0, 5.0, 9.0, 2.0], "tenure": [3.0, 1.0, 4.0, 8.0]})
    y = [0, 1, 1, 0]
    folder = tmp_path / "other_model"
    mlflow.sklearn.save_model(
        LogisticRegression().fit(x, y),
        folder,
        signature=ModelSignature(
            inputs=Schema([ColSpec("double", c) for c in x.columns]),
            outputs=Schema([ColSpec("long")]),
        ),
    )
    capsys.readouterr()
    out = tmp_path / "scores.parquet"
    args = ["score", "--data", str(trained.data), "--output", str(out), "--model", str(folder)]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
        env.delenv("CHURNMODEL_TRACKING__URI", raising=False)
        assert main(args) == 2
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith("churnmodel: error: ")
    assert "is not a churnmodel model: it is a sklearn model" in line
    assert "its inputs are 'recency', 'tenure'" in line
    assert "('customer_id', 'timestamp', 'amount')" in line
    assert not out.exists()
    # Serving it is refused the same way, from the model's metadata, before any server starts.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
        env.delenv("CHURNMODEL_TRACKING__URI", raising=False)
        assert main(["serve", "--model", str(folder), "--port", "1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "is not a churnmodel model: it is a sklearn model" in line
    assert "its inputs are 'recency', 'tenure'" in line
