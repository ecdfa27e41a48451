"""``squall scheduler`` as a real process on a test clock: ticks, SIGKILL, restarts, catch-up."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import squall
from squall import jobs
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import AlreadyExistsError
from squall.model import custom_model
from squall.registry import Registry
from squall.tasks import DAG, BatchInferenceTask, DAGOperation, DAGTask
from squall.tasks.scheduler import Scheduler, scheduler_status, stop_scheduler
from squall.tasks.store import DagStore
from tests.e2e.jobtools import Sleepy, alive, poll
from tests.e2e.models import frame

T0 = dt.datetime(2026, 1, 10, 0, 0, tzinfo=dt.UTC).timestamp()


class Clock:
    """The time the scheduler and its runs see (SQUALL_CLOCK_FILE), moved by the test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(T0)

    def set(self, t: float) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(t))
        tmp.replace(self.path)


@pytest.fixture
def clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(tmp_path / "clock")
    monkeypatch.setenv("SQUALL_CLOCK_FILE", str(c.path))
    monkeypatch.setenv("SQUALL_SCHEDULER_POLL", "0.1")
    return c


class SchedulerProcess:
    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log = home, log
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "squall", "--home", str(self.home), "scheduler"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        poll(
            lambda: (scheduler_status(self.home) or {}).get("pid") == proc.pid,
            what="the scheduler holding its lock",
        )
        return proc

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def scheduler(session: squall.Session, tmp_path: Path) -> Iterator[SchedulerProcess]:
    sp = SchedulerProcess(session.home, tmp_path / "scheduler.log")
    yield sp
    sp.close()


def _runs(session: squall.Session) -> list[dict[str, Any]]:
    return sorted(DagStore(session.catalog).runs("minutely"), key=lambda r: r["run_id"])


def _task(session: squall.Session, run_id: int, task: str) -> dict[str, Any]:
    row = DagStore(session.catalog).task_run(run_id, task)
    assert row is not None
    return row


def _running_job(session: squall.Session, run_id: int) -> Any:
    name = _task(session, run_id, "infer")["job_name"]
    try:
        job = jobs.get_job(name, session=session) if name else None
    except LookupError:
        return None
    return job if job is not None and job.status == "RUNNING" else None


def test_one_run_per_tick_across_sigkill_and_restarts(
    session: squall.Session, clock: Clock, scheduler: SchedulerProcess
) -> None:
    session.create_stage("results")
    session.create_table("numbers", frame(8))
    mv = Registry(session).log_model(
        Sleepy(custom_model.ModelContext()),
        model_name="sleepy",
        version_name="v1",
        sample_input_data=frame(3),
    )
    with DAG("minutely", schedule=dt.timedelta(minutes=1)) as dag:
        infer = BatchInferenceTask(
            "infer",
            model_version=mv,
            X=session.sql("SELECT * FROM numbers"),
            input_spec=InputSpec(params={"seconds": 1.5}),
            output_spec=OutputSpec(base_stage_location="@results/minutely/"),
            job_spec=JobSpec(job_name_prefix="MINUTELY", max_batch_rows=4, num_workers=1),
        )
        infer >> DAGTask("done", "SELECT 1")
    op = DAGOperation(session)
    op.deploy(dag)  # on the test clock: next tick at T0 + 60 s

    first = scheduler.start()
    # A second scheduler for the same workspace refuses, naming the first.
    with pytest.raises(AlreadyExistsError, match=f"pid {first.pid}"):
        Scheduler(session).serve()

    # Tick 1 runs once.
    clock.set(T0 + 60)
    poll(lambda: [r["state"] for r in _runs(session)] == ["SUCCEEDED"], what="run 1")

    # Tick 2: SIGKILL the scheduler and the run's runner while its job runs.
    clock.set(T0 + 120)
    run2 = poll(lambda: len(_runs(session)) == 2 and _runs(session)[1], what="run 2")
    job2 = poll(lambda: _running_job(session, run2["run_id"]), what="run 2's job running")
    runner = poll(lambda: _runs(session)[1]["runner_pid"], what="run 2's runner")
    first.send_signal(signal.SIGKILL)
    os.kill(runner, signal.SIGKILL)
    poll(lambda: not alive([first.pid, runner]), what="the killed processes gone")
    assert job2.status in ("RUNNING", "DONE")  # the job lives on, in its own processes

    # Restarted: the run's job is found and waited for, not started again.
    scheduler.start()
    poll(lambda: _runs(session)[1]["state"] == "SUCCEEDED", what="run 2 finished")
    assert job2.status == "DONE"
    assert _task(session, run2["run_id"], "infer")["job_name"] == job2.name
    run_log = (session.home / "dags" / "logs" / f"run-{run2['run_id']}.log").read_text()
    assert f"found its job {job2.name}" in run_log

    # Down over three ticks: one run when it comes back, and the log says so.
    assert stop_scheduler(session.home) == scheduler.procs[-1].pid
    clock.set(T0 + 300)
    scheduler.start()
    poll(lambda: len(_runs(session)) == 3 and _runs(session)[2]["state"] == "SUCCEEDED",
         what="the catch-up run")  # fmt: skip
    assert "missed 3 ticks" in scheduler.text() and "running once" in scheduler.text()

    runs = _runs(session)
    assert [r["scheduled_time"] - T0 for r in runs] == [60, 120, 300]
    assert [r["state"] for r in runs] == ["SUCCEEDED"] * 3
    names = [_task(session, r["run_id"], "infer")["job_name"] for r in runs]
    assert sorted(jobs.list_jobs(limit=0, session=session)["name"]) == sorted(names)
    for name in names:  # one folder per run, each complete
        files = [f.path for f in session.list_stage(f"@results/minutely/{name}/")]
        assert any(p.endswith("_SUCCESS") for p in files)
    assert len(session.list_stage("@results/minutely/", pattern=r".*_SUCCESS")) == 3
