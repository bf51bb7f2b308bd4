"""The MLflow UI reads well: `churnmodel ui` on the session's store, driven by chromium headless.

What a reviewer meets, following the link churnmodel prints: the runs list of training runs
(not the GenAI pages) with the headline metric columns and two distinct run names, the
dataset; a run page with the Markdown scorecard and a backtest chart that is a line. The
screenshots are saved as test artifacts (``tests/tracking/browser.py``).

Playwright drives the system chromium (``executable_path``); no browser is downloaded.
``.ci/run`` installs chromium with apt when it is missing; the test is skipped, saying so, only
when the binary is not there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from churnmodel.tracking import HEADLINE_VIEW, ui_link
from tests.tracking.browser import (
    browser_page,
    grid_columns,
    line_points,
    require_chromium,
    screenshot,
)
from tests.tracking.session import TrainedStore, cli, free_port, running

pytestmark = [pytest.mark.mlflow, pytest.mark.browser]

HEADLINE_COLUMNS = (
    "lapse_roc_auc",
    "lapse_roc_auc_vs_baseline",
    "lapse_roc_auc_vs_champion",
    "lapse_brier",
    "spend_spearman",
    "spend_normalized_gini",
)


def _run_names(trained: TrainedStore) -> list[str]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=trained.tracking_uri)
    return [client.get_run(r).info.run_name for r in (trained.first_run_id, trained.run_id)]


def test_ui_opens_on_training_runs_with_the_headline_and_the_scorecard(
    trained: TrainedStore, tmp_path: Path
) -> None:
    require_chromium()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    names = _run_names(trained)
    assert names[0] != names[1]
    with (
        running(
            cli("ui", "--port", str(port)), trained.env(), f"{base}/health", tmp_path / "ui.log"
        ),
        browser_page(width=2000, height=1000) as page,
    ):
        # The runs list, as the link `churnmodel ui` and `churnmodel train` print opens it.
        page.goto(ui_link(base, trained.experiment_id, view=HEADLINE_VIEW), timeout=120_000)
        page.get_by_text("Run Name", exact=True).first.wait_for(timeout=120_000)
        for name in names:
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("cdnow_sample.csv").first.wait_for(timeout=60_000)  # the dataset
        assert "/runs" in page.url and "workflowType=machine_learning" in page.url
        # model-training mode: the sidebar offers runs and models, not traces-first GenAI pages
        assert page.get_by_text("Judges", exact=True).count() == 0
        page.get_by_text(HEADLINE_COLUMNS[0], exact=True).first.wait_for(timeout=60_000)
        screenshot(page, "runs-headline")
        columns = grid_columns(page)
        assert set(HEADLINE_COLUMNS) <= columns, sorted(columns)
        page.locator(".ag-body-horizontal-scroll-viewport").first.evaluate(
            "node => { node.scrollLeft = node.scrollWidth; }"
        )
        screenshot(page, "runs-headline-right")

        # The run: the Markdown scorecard, the dataset.
        page.goto(ui_link(base, trained.experiment_id, run_id=trained.run_id), timeout=120_000)
        page.get_by_text("Description", exact=True).first.wait_for(timeout=120_000)
        page.get_by_text("Show more").first.click()
        for text in ("ROC AUC [95% interval]", "vs best baseline", "baseline: days since last"):
            page.get_by_text(text).first.wait_for(timeout=60_000)
        page.get_by_text("cdnow_sample.csv").first.wait_for(timeout=60_000)
        screenshot(page, "run-scorecard", full_page=True)

        # Its charts: the backtest section, each metric a line over the cut-offs.
        page.goto(
            ui_link(base, trained.experiment_id, run_id=trained.run_id).replace(
                f"/runs/{trained.run_id}?", f"/runs/{trained.run_id}/model-metrics?"
            ),
            timeout=120_000,
        )
        page.get_by_text("backtest", exact=False).first.wait_for(timeout=120_000)
        assert line_points(page, "lapse_roc_auc") == 4
        screenshot(page, "run-backtest-charts")

        # The artifact viewer shows the whole scorecard table (narrow, rounded).
        page.goto(
            f"{base}/#/experiments/{trained.experiment_id}/runs/{trained.run_id}/artifacts/"
            "evaluation/scorecard_lapse.json?workflowType=machine_learning",
            timeout=120_000,
        )
        page.get_by_text("PR AUC", exact=True).first.wait_for(timeout=60_000)
        screenshot(page, "run-scorecard-artifact")

        # The backtest plot beside the model's baselines (a fresh page: the artifact view
        # keeps its file when only the hash changes).
        page.goto("about:blank")
        page.goto(
            f"{base}/#/experiments/{trained.experiment_id}/runs/{trained.run_id}/"
            "artifacts/plots/backtest.png?workflowType=machine_learning",
            timeout=120_000,
        )
        page.get_by_text("backtest.png", exact=True).first.wait_for(timeout=60_000)
        plot = page.locator("img[src^='blob:'], img[src^='data:image/png']").first
        plot.wait_for(timeout=60_000)
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 100", arg=plot.element_handle()
        )
        screenshot(page, "run-backtest-plot")
