"""The dashboard in a real browser (headless Chromium driven by Playwright), as a person uses it.

Screenshots of the main pages are written to $SQUALL_UI_SCREENSHOTS (else a temporary folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.jobtools import poll
from tests.ui.browser import available as browser_available
from tests.ui.browser import launch
from tests.ui.conftest import Server, Workspace

sync_api = pytest.importorskip("playwright.sync_api")
if not browser_available():
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("SQUALL_UI_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = launch(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(30_000)
    p.goto(f"{server.url}/?token={server.token}")  # the address `squall ui` printed
    try:
        yield p
    finally:
        context.close()


def test_the_jobs_page_lists_jobs_with_their_status(page: Any, shots: Path) -> None:
    assert "token" not in page.url  # dropped from the address once it is a cookie
    page.wait_for_selector("tr[data-job='FINISHED'] .status")
    rows = page.locator("#jobs tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.job)") == [
        "RUNNING_JOB",
        "SOME_ERRORS",
        "BROKEN",
        "FINISHED",
    ]
    assert page.locator("tr[data-job='BROKEN'] .status").inner_text() == "FAILED"
    assert page.locator("tr[data-job='FINISHED'] progress").get_attribute("value") == "1"
    page.screenshot(path=str(shots / "ui-jobs.png"))
    page.select_option("#status-filter", "FAILED")
    page.wait_for_url("**status=FAILED")
    page.wait_for_selector("tr[data-job='BROKEN']")
    assert page.locator("#jobs tr").count() == 1


def test_the_running_jobs_progress_bar_moves_and_its_log_follows(
    page: Any, server: Server, shots: Path
) -> None:
    page.goto(f"{server.url}/jobs/RUNNING_JOB")
    page.wait_for_selector("#job-status .status")
    bar = page.locator("#job-progress")
    first = poll(lambda: float(bar.evaluate("b => b.value")), what="some progress")
    poll(lambda: float(bar.evaluate("b => b.value")) > first, 60, "the progress bar moving")
    log = page.locator("#log")
    lines = poll(lambda: log.inner_text().count("starting at x="), what="log lines")
    poll(lambda: log.inner_text().count("starting at x=") > lines, 60, "the log growing")
    page.wait_for_selector("#timeline rect[data-status='RUNNING']")
    page.wait_for_selector("#rate-chart polyline")
    page.screenshot(path=str(shots / "ui-job-running.png"), full_page=True)


def test_a_finished_job_shows_its_output_and_a_preview_of_the_right_rows(
    page: Any, server: Server, shots: Path
) -> None:
    page.goto(f"{server.url}/jobs/FINISHED")
    page.wait_for_selector("#job-status [data-status='DONE']")
    assert page.locator("#timeline rect[data-status='DONE']").count() == 4
    page.locator("#outputs a", has_text="part-000000.parquet").click()
    page.wait_for_selector("#preview table")
    header = page.locator("#preview th").all_inner_texts()
    assert header == ["id", "x", "doubled"]
    cells = page.locator("#preview tbody tr").evaluate_all(
        "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert cells[:3] == [["0", "0", "0"], ["1", "1", "2"], ["2", "2", "4"]]
    assert len(cells) == 20
    page.screenshot(path=str(shots / "ui-job-done.png"), full_page=True)


def test_error_rows_and_a_failure_message_are_shown(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/jobs/SOME_ERRORS")
    page.wait_for_selector("#errors table")
    assert "unlucky row x == 13" in page.locator("#errors").inner_text()
    page.goto(f"{server.url}/jobs/BROKEN")
    page.wait_for_selector("#message:not([hidden])")
    assert "x == 13" in page.locator("#message").inner_text()
    assert page.locator("#resume").is_visible()
    assert not page.locator("#cancel").is_visible()


def test_models_and_stage_pages(page: Any, server: Server, shots: Path) -> None:
    page.goto(f"{server.url}/models")
    page.wait_for_selector("#model-DOUBLER")
    text = page.locator("main").inner_text()
    assert "id: INT64, x: DOUBLE → doubled: DOUBLE" in text
    assert "params: factor: DOUBLE = 2" in text
    assert "FINISHED" in text and "null" not in text
    page.screenshot(path=str(shots / "ui-models.png"), full_page=True)
    page.goto(f"{server.url}/stages?path=@images/cats/")
    page.locator("a", has_text="red.png").click()
    img = page.wait_for_selector("#preview img")
    poll(lambda: img.evaluate("i => i.complete && i.naturalWidth") == 24, what="the image")


def test_cancel_changes_the_status_on_the_page(
    page: Any, server: Server, workspace: Workspace
) -> None:
    page.goto(f"{server.url}/jobs/RUNNING_JOB")
    page.wait_for_selector("#job-status [data-status='RUNNING']")
    page.locator("#cancel").click()
    page.wait_for_selector("#job-status [data-status='CANCELLED']", timeout=60_000)
    assert page.locator("#resume").is_visible()
    assert workspace.session is not None
