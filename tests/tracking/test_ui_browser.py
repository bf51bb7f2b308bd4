"""The MLflow UI shows a training run: `churnmodel ui`, driven by Debian's chromium headless.

Playwright drives the system chromium (``executable_path``); no browser is downloaded.
``.ci/run`` installs chromium with apt when it is missing; the test is skipped, saying so, only
when the binary is not there.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.tracking.session import TrainedStore, cli, free_port, running

pytestmark = [pytest.mark.mlflow, pytest.mark.browser]

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


def test_ui_shows_the_run_metrics_and_a_plot(trained: TrainedStore, tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"chromium is not installed at {CHROMIUM} and could not be installed "
            "(.ci/run runs 'apt-get install -y chromium'); the UI test needs a browser"
        )
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run_page = f"{base}/#/experiments/{trained.experiment_id}/runs/{trained.run_id}"
    with (
        running(
            cli("ui", "--port", str(port)), trained.env(), f"{base}/health", tmp_path / "ui.log"
        ),
        sync_playwright() as p,
        tempfile.TemporaryDirectory() as profile,
    ):
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.goto(run_page, timeout=120_000)
            # The run's name, a headline metric and the promotion note are on its overview.
            page.get_by_text("holdout 273d").first.wait_for(state="attached", timeout=120_000)
            for text in ("lapse_roc_auc", "baseline_recency_roc_auc", "spend_spearman"):
                page.get_by_text(text, exact=True).first.wait_for(state="attached", timeout=60_000)
            assert "promotion" in page.inner_text("body")

            page.goto(f"{run_page}/artifacts/plots/roc.png", timeout=120_000)
            page.get_by_text("roc.png", exact=True).first.wait_for(timeout=60_000)
            plot = page.locator("img[src^='blob:']").first
            plot.wait_for(timeout=60_000)
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 100", arg=plot.element_handle()
            )
        finally:
            browser.close()
