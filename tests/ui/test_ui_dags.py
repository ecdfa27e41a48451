"""The dashboard's DAG pages: a deployed DAG's graph, its run grid, a run's tasks, its controls."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from squall import tasks
from squall.ui.security import csrf_token
from tests.e2e.jobtools import poll
from tests.ui.browser import available as browser_available
from tests.ui.browser import launch
from tests.ui.conftest import Server, Workspace
from tests.ui.test_ui_http import get_json, request


def report(session: Any) -> None:
    from squall.tasks import TaskContext

    x = session.sql("SELECT x FROM todays").to_pandas()["x"][0]
    TaskContext(session).set_return_value(f"x={x}")


@pytest.fixture(scope="module")
def dag(workspace: Workspace) -> str:
    with tasks.DAG("nightly", schedule=dt.timedelta(hours=1)) as d:
        prep = tasks.DAGTask("prep", definition="CREATE OR REPLACE TABLE todays AS SELECT 7 AS x")
        rep = tasks.DAGTask("report", definition=report)
        prep >> rep
    op = tasks.DAGOperation(workspace.session)
    op.deploy(d)
    run = op.wait(op.run(d), timeout=180)
    assert run.state == "SUCCEEDED", op.get_task_runs(run)
    return "nightly"


def post(server: Server, path: str) -> Any:
    status, _, body = request(
        server, path, method="POST", headers={"X-Squall-CSRF": csrf_token(server.token)}
    )
    assert status == 200, body
    return json.loads(body)


def test_a_dag_its_graph_and_its_run_grid(server: Server, dag: str) -> None:
    (nightly,) = get_json(server, "/api/dags")["dags"]
    assert nightly["name"] == "nightly" and nightly["state"] == "STARTED"
    assert nightly["next_scheduled_time"] is not None
    graph = {t["name"]: t["predecessors"] for t in nightly["graph"]}
    assert graph == {"prep": [], "report": ["prep"]}
    (run,) = nightly["runs"]
    assert run["state"] == "SUCCEEDED"
    assert run["tasks"] == {"prep": "SUCCEEDED", "report": "SUCCEEDED"}
    detail = get_json(server, f"/api/dag-runs/{run['run_id']}")
    values = {t["task"]: t["return_value"] for t in detail["tasks"]}
    assert values["report"] == "x=7"
    assert request(server, "/api/dag-runs/999999")[0] == 404


def test_suspend_and_resume_from_the_api(server: Server, dag: str) -> None:
    assert post(server, f"/api/dags/{dag}/suspend")["state"] == "SUSPENDED"
    assert get_json(server, "/api/dags")["dags"][0]["next_scheduled_time"] is None
    assert post(server, f"/api/dags/{dag}/resume")["state"] == "STARTED"
    status, _, body = request(
        server,
        f"/api/dags/{dag}/explode",
        method="POST",
        headers={"X-Squall-CSRF": csrf_token(server.token)},
    )
    assert status == 404 and b"explode" in body


@pytest.fixture
def page(server: Server) -> Iterator[Any]:
    if not browser_available():
        pytest.skip("no chromium or playwright on this machine")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        p = browser.new_page(viewport={"width": 1280, "height": 900})
        p.set_default_timeout(30_000)
        p.goto(f"{server.url}/dags?token={server.token}")
        try:
            yield p
        finally:
            browser.close()


def test_the_dags_page_draws_the_graph_the_grid_and_a_runs_tasks(
    page: Any, server: Server, dag: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page.wait_for_selector("section[data-dag='nightly'] svg.dag-graph")
    assert page.locator("svg.dag-graph g[data-task]").count() == 2
    assert page.locator("svg.dag-graph line[data-edge='prep>report']").count() == 1
    assert page.locator("table.grid i[data-state='SUCCEEDED']").count() == 2
    page.locator("table.grid a[data-run]").first.click()
    page.wait_for_selector(".run-detail tr[data-task='report']")
    assert "x=7" in page.locator(".run-detail").inner_text()
    shots = Path(os.environ.get("SQUALL_UI_SCREENSHOTS") or tmp_path_factory.mktemp("s"))
    page.screenshot(path=str(shots / "ui-dags.png"), full_page=True)
    page.locator("button[data-action='run']").click()  # run now: a second run shows up
    poll(lambda: page.locator("table.grid a[data-run]").count() == 2, 120, "a second run")
    page.locator("button[data-action='suspend']").click()
    page.wait_for_selector("[data-dag-state='SUSPENDED']")
    page.locator("button[data-action='resume']").click()
    page.wait_for_selector("[data-dag-state='STARTED']")
