"""Job management from Python: statuses, cancel, liveness, delete, progress, logs, listing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

import squall
from squall import jobs
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidArgumentError, JobNotFoundError, JobStateError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.jobtools import (
    Sleepy,
    alive,
    assert_no_process_left,
    model_call_started,
    own_supervisor,
    poll,
    success_file,
)
from tests.e2e.models import Failing, frame


@pytest.fixture
def sleepy(session: squall.Session):
    session.create_stage("results")
    return Registry(session).log_model(
        Sleepy(custom_model.ModelContext()), model_name="sleepy", sample_input_data=frame(3)
    )


def start(mv, rows: int, location: str, *, seconds: float, workers: int = 1, shard_rows=None):
    return mv.run_batch(
        frame(rows),
        input_spec=InputSpec(params={"seconds": seconds}),
        output_spec=OutputSpec(stage_location=location),
        job_spec=JobSpec(num_workers=workers, max_batch_rows=10, shard_rows=shard_rows),
    )


def watch(job, timeout: float = 120.0) -> list[str]:
    """Every distinct status the job shows, in order, until it ends."""
    seen: list[str] = []

    def step() -> bool:
        status = job.status
        if not seen or seen[-1] != status:
            seen.append(status)
        return status in ("DONE", "FAILED", "CANCELLED", "INTERNAL_ERROR")

    poll(step, timeout, f"end of job {job.name}")
    return seen


def test_pending_running_done_then_no_process_left(session, sleepy):
    job = start(sleepy, 30, "@results/a/", seconds=0.3)
    seen = watch(job)
    assert seen[-1] == "DONE", job.get_logs()
    assert "RUNNING" in seen
    assert seen[0] in ("PENDING", "RUNNING")
    assert seen == sorted(seen, key=["PENDING", "RUNNING", "DONE"].index)
    info = job.info()
    assert info["created_time"] <= info["started_time"] <= info["completed_time"]
    assert job.message == "30 rows written to @results/a/"
    assert success_file(session, "@results/a/").exists()
    out = session.read.parquet("@results/a/").to_pandas().sort_values("id")
    assert out["y"].tolist() == [x * 10.0 for x in range(30)]
    assert_no_process_left(job)


def test_running_to_failed_winds_down(session):
    session.create_stage("results")
    mv = Registry(session).log_model(
        Failing(custom_model.ModelContext()), model_name="failing", sample_input_data=frame(3)
    )
    job = mv.run_batch(
        frame(40),
        output_spec=OutputSpec(stage_location="@results/f/"),
        job_spec=JobSpec(num_workers=2, max_batch_rows=10, shard_rows=10),
    )
    assert watch(job)[-1] == "FAILED"
    assert "ValueError: unlucky row x == 13" in job.message
    assert not success_file(session, "@results/f/").exists()
    assert_no_process_left(job)


def test_cancel_during_a_model_call_stops_within_seconds(session, sleepy):
    job = start(sleepy, 100, "@results/c/", seconds=600, workers=2, shard_rows=50)
    poll(lambda: model_call_started(job), 60, "the first model call")
    assert job.status == "RUNNING"
    assert job.cancel() in ("CANCELLING", "CANCELLED")
    # The model sleeps 600 s per batch: ending within the timeout means the call was cut.
    assert job.wait(timeout=30) == "CANCELLED"
    assert job.message == "cancelled by request"
    assert not success_file(session, "@results/c/").exists()
    assert_no_process_left(job, timeout=10)
    assert len(job.pids()) == 3  # the supervisor and both workers were recorded


def test_cancel_of_a_pending_job_ends_cancelled(session, sleepy):
    job = start(sleepy, 10, "@results/p/", seconds=600)
    assert job.cancel() in ("CANCELLING", "CANCELLED")
    assert job.wait(timeout=60) == "CANCELLED"
    assert not success_file(session, "@results/p/").exists()
    pids = job.pids()
    poll(lambda: not alive(pids), 30, "the job's processes ending")


def test_cancel_of_a_finished_job_is_a_no_op(session, sleepy):
    job = start(sleepy, 5, "@results/n/", seconds=0)
    assert job.wait(timeout=120) == "DONE"
    before = job.info()
    assert job.cancel() == "DONE"
    after = job.info()
    assert after == before
    assert after["cancel_requested"] == 0
    assert success_file(session, "@results/n/").exists()


def test_killed_supervisor_makes_internal_error_and_workers_go(session, sleepy):
    job = start(sleepy, 40, "@results/k/", seconds=600, workers=2, shard_rows=20)
    poll(lambda: model_call_started(job), 60, "the first model call")
    pid = own_supervisor(job)  # only ever kill what this test started
    os.kill(pid, signal.SIGKILL)
    assert job.wait(timeout=60) == "INTERNAL_ERROR"
    assert "supervisor stopped without recording an end" in job.message
    assert not success_file(session, "@results/k/").exists()
    # Workers notice their supervisor is gone and exit, even mid model call.
    assert_no_process_left(job)


def stop_outside_a_transaction(session, pid: int) -> None:
    """SIGSTOP a process at a moment it holds no catalog write lock.

    A process stopped inside a transaction would keep the lock (a real hang does too, but
    that is not what this test is about): stop it, check the lock is free, else let it run
    a moment and try again.
    """
    import sqlite3

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        os.kill(pid, signal.SIGSTOP)
        con = sqlite3.connect(session.catalog.path, timeout=0.2, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.02)
        finally:
            con.close()
    raise AssertionError("the supervisor held the catalog lock every time it was stopped")


def test_stale_heartbeat_alone_makes_internal_error(session, sleepy, monkeypatch):
    monkeypatch.setenv("SQUALL_HEARTBEAT_TIMEOUT", "3")
    job = start(sleepy, 10, "@results/h/", seconds=600)
    poll(lambda: model_call_started(job), 60, "the first model call")
    pid = own_supervisor(job)
    stop_outside_a_transaction(session, pid)  # alive, but silent: only the heartbeat tells
    try:
        assert job.wait(timeout=60) == "INTERNAL_ERROR"
        assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
        assert "last heartbeat" in job.message
    finally:
        os.kill(pid, signal.SIGKILL)
    assert_no_process_left(job)


def test_delete_refuses_an_active_job_then_removes_all_but_output(session, sleepy):
    done = start(sleepy, 5, "@results/kept/", seconds=0)
    assert done.wait(timeout=120) == "DONE"
    job = start(sleepy, 20, "@results/d/", seconds=600)
    poll(lambda: job.status == "RUNNING", 60, "RUNNING")
    with pytest.raises(JobStateError, match=r"is RUNNING: cancel it first"):
        jobs.delete_job(job.name)
    assert job.scratch_dir.exists()
    job.cancel()
    assert job.wait(timeout=30) == "CANCELLED"

    for j in (job, done):
        scratch = j.scratch_dir
        assert (scratch / "logs" / "supervisor.log").exists()
        jobs.delete_job(j if j is done else j.name)
        assert not scratch.exists()
        with pytest.raises(JobNotFoundError, match=j.name):
            jobs.get_job(j.name)
        for table in ("jobs", "shards", "workers"):
            key = "id" if table == "jobs" else "job_id"
            assert session.catalog.query(f"SELECT * FROM {table} WHERE {key} = ?", (j.id,)) == []
    assert jobs.list_jobs().empty
    # The output of the finished job stays, _SUCCESS included.
    assert success_file(session, "@results/kept/").exists()
    assert len(session.read.parquet("@results/kept/").to_pandas()) == 5
    with pytest.raises(JobNotFoundError):
        jobs.delete_job(done.name)


def test_progress_while_running_and_at_the_end(session, sleepy):
    job = start(sleepy, 60, "@results/g/", seconds=0.4, shard_rows=20)
    mid = poll(
        lambda: (p := job.progress).rows_done > 0 and p.rows_done < p.rows_total and p,
        120,
        "partial progress",
    )
    assert mid.rows_total == 60 and mid.shards_total == 3
    assert mid.rows_done % 10 == 0
    assert mid.rows_per_second is not None and mid.rows_per_second > 0
    assert mid.eta_seconds is not None and mid.eta_seconds > 0
    assert mid.error_rows == 0
    assert "rows/s" in str(mid) and "ETA" in str(mid)
    assert job.wait(timeout=120) == "DONE"
    end = job.progress
    assert (end.rows_done, end.rows_total, end.shards_done, end.shards_total) == (60, 60, 3, 3)
    assert end.eta_seconds == 0 and end.error_rows == 0 and end.fraction == 1.0
    assert end.rows_per_second is not None and end.rows_per_second > 0


def test_logs_tag_supervisor_and_each_worker_with_model_prints(session, sleepy, capsys):
    job = start(sleepy, 40, "@results/l/", seconds=0.5, workers=2, shard_rows=10)
    assert job.wait(timeout=120) == "DONE"
    logs = job.get_logs()
    lines = logs.splitlines()
    assert all(line.startswith(("[supervisor] ", "[w0] ", "[w1] ")) for line in lines), logs
    assert any(line.startswith("[supervisor] ") and "job ended DONE" in line for line in lines)
    for w in ("w0", "w1"):
        assert any(
            line.startswith(f"[{w}] ") and " batch of 10 rows starting" in line for line in lines
        ), logs
    # one timestamp format on every line, and the lines in time order across the files
    from squall.logtime import line_time

    times = [line_time(line.partition("] ")[2]) for line in lines]
    assert None not in times and times == sorted(times), logs  # type: ignore[type-var]
    assert job.get_logs(limit=3).splitlines() == lines[-3:]
    assert job.get_logs(limit=-1) == logs
    job.show_logs(limit=2)
    assert capsys.readouterr().out.splitlines() == lines[-2:]


def test_list_jobs_columns_order_filter_and_limit(session, sleepy):
    session.create_stage("other")
    failing = Registry(session).log_model(
        Failing(custom_model.ModelContext()), model_name="failing", sample_input_data=frame(3)
    )
    a = start(sleepy, 5, "@results/1/", seconds=0)
    b = failing.run_batch(frame(20), output_spec=OutputSpec(stage_location="@other/2/"))
    c = start(sleepy, 7, "@results/3/", seconds=0)
    assert [a.wait(120), b.wait(120), c.wait(120)] == ["DONE", "FAILED", "DONE"]

    df = jobs.list_jobs()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == [
        "name",
        "status",
        "message",
        "model",
        "version",
        "function",
        "output_location",
        "rows_done",
        "rows_total",
        "error_rows",
        "created_time",
        "started_time",
        "completed_time",
        "compute_pool",
    ]
    assert df["name"].tolist() == [c.name, b.name, a.name]  # newest first
    first = df.iloc[0]
    assert (first.status, first.model, first.function) == ("DONE", "SLEEPY", "predict")
    assert (first.output_location, first.rows_done, first.rows_total) == ("@results/3/", 7, 7)
    assert first.created_time <= first.started_time <= first.completed_time
    assert first.compute_pool == "local"
    assert df.iloc[1].status == "FAILED" and "unlucky" in df.iloc[1].message
    assert jobs.list_jobs(limit=2)["name"].tolist() == [c.name, b.name]
    assert jobs.list_jobs(status="done")["name"].tolist() == [c.name, a.name]
    assert jobs.list_jobs(status="FAILED")["name"].tolist() == [b.name]
    assert jobs.list_jobs(status="RUNNING").empty
    with pytest.raises(InvalidArgumentError, match="'SLEEPING'"):
        jobs.list_jobs(status="SLEEPING")
    # pages, and the jobs of one model (version), for the dashboard
    assert jobs.list_jobs(limit=2, offset=1)["name"].tolist() == [b.name, a.name]
    assert jobs.list_jobs(limit=0, offset=2)["name"].tolist() == [a.name]
    assert jobs.list_jobs(model="SLEEPY")["name"].tolist() == [c.name, a.name]
    version = failing.version_name
    assert jobs.list_jobs(model="failing", version=version.lower())["name"].tolist() == [b.name]
    assert jobs.list_jobs(model="failing", version="nope").empty
    with pytest.raises(InvalidArgumentError, match="-1"):
        jobs.list_jobs(offset=-1)


def test_another_process_finds_and_cancels_a_running_job(session, sleepy):
    job = start(sleepy, 20, "@results/o/", seconds=600)
    poll(lambda: model_call_started(job), 60, "the first model call")
    code = (
        "import sys, squall\n"
        "squall.connect(sys.argv[1])\n"
        "job = squall.jobs.get_job(sys.argv[2].lower())\n"
        "print(job.name, job.status, job.progress.rows_total)\n"
        "print(job.cancel())\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(session.home), job.name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()
    assert first.split() == [job.name, "RUNNING", "20"]
    assert second in ("CANCELLING", "CANCELLED")
    assert job.wait(timeout=30) == "CANCELLED"
    assert_no_process_left(job)


def test_get_job_unknown_name_lists_recent_jobs(session, sleepy):
    with pytest.raises(JobNotFoundError, match="the workspace has no jobs"):
        jobs.get_job("NOPE")
    job = start(sleepy, 3, "@results/u/", seconds=0)
    assert job.wait(timeout=120) == "DONE"
    with pytest.raises(JobNotFoundError, match=rf"'NOPE'; recent jobs: {job.name}"):
        jobs.get_job("NOPE")
    slow = start(sleepy, 3, "@results/t/", seconds=600)
    with pytest.raises(TimeoutError, match=f"job {slow.name} is still"):
        slow.wait(timeout=0.5)
    slow.cancel()
    assert slow.wait(timeout=60) == "CANCELLED"


def test_cancel_while_the_input_is_staged_stops_staging(session, sleepy):
    import threading

    total_shards = 4000  # one row each: staging takes a while
    outcome: list[str] = []

    def cancel_once_staging() -> None:
        def staging_job():
            row = session.catalog.query_one(
                "SELECT name, shards_total FROM jobs WHERE name = 'STAGED'"
            )
            return row is not None and row["shards_total"] >= 3

        poll(staging_job, 60, "staging to begin")
        outcome.append(jobs.get_job("STAGED").cancel())

    canceller = threading.Thread(target=cancel_once_staging)
    canceller.start()
    job = sleepy.run_batch(
        frame(total_shards),
        input_spec=InputSpec(params={"seconds": 600}),
        output_spec=OutputSpec(stage_location="@results/s/"),
        job_spec=JobSpec(job_name="STAGED", max_batch_rows=1, shard_rows=1),
    )
    canceller.join(timeout=60)
    assert outcome and outcome[0] in ("CANCELLING", "CANCELLED")
    assert job.wait(timeout=60) == "CANCELLED"
    assert job.progress.shards_total < total_shards  # staging stopped at the cancel
    assert job.info()["staging"] == 0
    assert not success_file(session, "@results/s/").exists()
    pids = job.pids()
    poll(lambda: not alive(pids), 30, "the job's processes ending")
