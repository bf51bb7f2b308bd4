"""Driving the MLflow UI with Debian's chromium (Playwright, ``executable_path``, no download).

Screenshots go to ``$CHURNMODEL_TEST_ARTIFACTS/ui`` (default ``test-artifacts/ui`` in the
repository, git-ignored), so that CI keeps them as test artifacts and a reviewer can look at
what the test saw.

The UI opens MLflow's assistant panel by itself the first time a browser profile visits a
server on a loopback address (localhost, 127.0.0.1); a reader closes it once and the browser
remembers. The tests start from a profile that already did, so the screenshots show the page.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.tracking.session import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What the UI stores once the assistant panel was opened and closed (the key and version
# of MLflow 3.17's local storage).
_ASSISTANT_SEEN = (
    "window.localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
)


def artifacts_dir() -> Path:
    """Folder of the UI screenshots (created)."""
    root = Path(os.environ.get("CHURNMODEL_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder = root / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def require_chromium() -> None:
    """Skip, saying why, when the browser is missing (``.ci/run`` installs it)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"chromium is not installed at {CHROMIUM} and could not be installed "
            "(.ci/run runs 'apt-get install -y chromium'); the UI test needs a browser"
        )


@contextmanager
def browser_page(
    *, credentials: tuple[str, str] | None = None, width: int = 1600, height: int = 1000
) -> Iterator[Any]:
    """Yield a Playwright page in a fresh chromium profile (HTTP basic credentials if given)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        options: dict[str, Any] = {
            "executable_path": CHROMIUM,
            "headless": True,
            "args": FLAGS,
            "viewport": {"width": width, "height": height},
        }
        if credentials is not None:
            options["http_credentials"] = {"username": credentials[0], "password": credentials[1]}
        context = p.chromium.launch_persistent_context(profile, **options)
        try:
            context.add_init_script(_ASSISTANT_SEEN)
            yield context.new_page()
        finally:
            context.close()


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG of the page as a test artifact and return its path."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def line_points(page: Any, card_title: str) -> int:
    """Return the points of the longest line drawn in the chart card titled ``card_title``."""
    card = page.get_by_test_id("experiment-view-compare-runs-card").filter(
        has=page.get_by_text(card_title, exact=True)
    )
    card.first.locator("path.js-line").first.wait_for(state="attached", timeout=60_000)
    paths = card.first.locator("path.js-line").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('d') || '')"
    )
    return max((d.count("L") + 1 if d.startswith("M") else 0) for d in paths)


def grid_columns(page: Any) -> set[str]:
    """Return the header texts of the runs table, scrolling it sideways (the grid draws only
    the columns in view)."""
    scroller = page.locator(".ag-body-horizontal-scroll-viewport").first
    seen: set[str] = set()
    width = scroller.evaluate("node => node.scrollWidth")
    step = max(200, int(scroller.evaluate("node => node.clientWidth")) - 100)
    for left in range(0, int(width) + step, step):
        scroller.evaluate(f"node => {{ node.scrollLeft = {left}; }}")
        page.wait_for_timeout(300)
        seen.update(
            t.strip() for t in page.locator("[role=columnheader]").all_inner_texts() if t.strip()
        )
    scroller.evaluate("node => { node.scrollLeft = 0; }")
    return seen
