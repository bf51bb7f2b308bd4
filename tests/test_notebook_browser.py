"""`make notebook`: JupyterLab on the notebooks, the project's .venv as kernel, jupytext pairing.

The server is started the way a person starts it (``make notebook``), on a copy of
``notebooks/`` so that saving writes nothing into the repository, and driven with Debian's
chromium headless through Playwright (``executable_path``; no browser is downloaded). The
test opens ``01-explore-transactions.ipynb``, finds its first heading, saves it from the
browser and checks that jupytext wrote the paired ``.py`` file; then the server stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01-explore-transactions.ipynb"
HEADING = "01 Explore a transaction log: CDNOW"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "churnmodel-test"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make notebook exited {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError):
            _get(url)
            return
        time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer in 180 s:\n{log.read_text()[-3000:]}")


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_make_notebook_opens_jupyterlab_with_the_project_kernel_and_jupytext(
    tmp_path: Path,
) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    twin = folder / NOTEBOOK.replace(".ipynb", ".py")
    os.utime(twin, (0, 0))  # so that a save from the browser shows
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        # JupyterLab's own state (workspaces, settings, runtime files) stays in the test.
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    command = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT),
        "notebook",
        f"VENV={sys.prefix}",
        f"NOTEBOOK_DIR={folder}",
        f"NOTEBOOK_PORT={port}",
        f"NOTEBOOK_ARGS=--no-browser --IdentityProvider.token={TOKEN}",
    ]
    log = tmp_path / "make-notebook.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_up(f"{base}/api/status", server, log)
        # The kernel is the project's environment; jupytext opens the .py twin as a notebook.
        specs = _get(f"{base}/api/kernelspecs")
        python = specs["kernelspecs"][specs["default"]]["spec"]["argv"][0]
        assert Path(python).parent == Path(sys.executable).parent, specs
        assert _get(f"{base}/api/contents/{twin.name}?content=0")["type"] == "notebook"

        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            browser = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS
            )
            try:
                page = browser.new_page()
                page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={TOKEN}", timeout=120_000)
                heading = page.locator(".jp-RenderedMarkdown h1", has_text=HEADING).first
                heading.wait_for(timeout=120_000)
                # Saving from the browser writes the paired py:percent file too (jupytext).
                heading.click()
                page.keyboard.press("Control+s")
                deadline = time.monotonic() + 60
                while twin.stat().st_mtime == 0 and time.monotonic() < deadline:
                    time.sleep(0.5)
            finally:
                browser.close()
        assert twin.stat().st_mtime > 0, "saving the notebook did not write its .py twin"
        assert HEADING in twin.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    deadline = time.monotonic() + 30
    while not _port_closed(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _port_closed(port), "JupyterLab still listens after make notebook was stopped"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, 0)
        pytest.fail("a process of make notebook outlived it")
