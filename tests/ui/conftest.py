"""One workspace with real finished, failed and running jobs, and `squall ui` serving it.

Both are shared by the dashboard's tests (building them runs real jobs, which takes a while).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.jobtools import Sleepy, poll
from tests.e2e.models import Doubler, Failing, frame

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

ROWS_RUNNING = 4000


@dataclass
class Workspace:
    home: Path
    session: squall.Session
    running: str  # a job that runs for minutes unless cancelled


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    token: str
    process: subprocess.Popen[str]


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="package")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home = tmp_path_factory.mktemp("ui") / "ws"
    s = squall.Session(home)
    s.create_stage("results")
    s.create_stage("images")
    (home / "pics").mkdir()
    (home / "pics" / "red.png").write_bytes(_png())
    s.put(str(home / "pics" / "red.png"), "@images/cats/")
    reg = Registry(s)
    ctx = custom_model.ModelContext()
    doubler = reg.log_model(
        Doubler(ctx), model_name="doubler", version_name="v1", sample_input_data=frame(3)
    )
    failing = reg.log_model(Failing(ctx), model_name="failing", sample_input_data=frame(3))
    sleepy = reg.log_model(Sleepy(ctx), model_name="sleepy", sample_input_data=frame(3))
    finished = doubler.run_batch(
        frame(100),
        output_spec=OutputSpec(stage_location="@results/done/"),
        job_spec=JobSpec(job_name="FINISHED", max_batch_rows=25, shard_rows=25, num_workers=2),
    )
    failed = failing.run_batch(
        frame(20),
        output_spec=OutputSpec(stage_location="@results/failed/"),
        job_spec=JobSpec(job_name="BROKEN"),
    )
    errors = failing.run_batch(
        frame(30),
        output_spec=OutputSpec(stage_location="@results/errors/"),
        job_spec=JobSpec(job_name="SOME_ERRORS", on_error="continue", max_batch_rows=5),
    )
    for job in (finished, failed, errors):
        job.wait(timeout=180)
    assert finished.status == "DONE", finished.get_logs()
    assert failed.status == "FAILED", failed.get_logs()
    assert errors.status == "DONE", errors.get_logs()
    running = sleepy.run_batch(
        frame(ROWS_RUNNING),
        input_spec=InputSpec(params={"seconds": 0.5}),
        output_spec=OutputSpec(stage_location="@results/running/"),
        job_spec=JobSpec(job_name="RUNNING_JOB", max_batch_rows=10, shard_rows=100, num_workers=1),
    )
    try:
        poll(lambda: running.progress.rows_done > 0, 120, "the running job's first rows")
        yield Workspace(home, s, running.name)
    finally:
        running.cancel()
        poll(lambda: running.status in ("CANCELLED", "DONE"), 120, "the running job's end")


@pytest.fixture(scope="package")
def server(workspace: Workspace) -> Iterator[Server]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "squall", "--home", str(workspace.home), "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
        assert found, f"squall ui printed {line!r}"
        yield Server(found.group(1), urllib.parse.unquote(found.group(2)), proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
