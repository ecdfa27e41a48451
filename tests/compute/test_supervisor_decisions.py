"""The supervisor's retry, death and cancel decisions, against the scripted executor: the
real supervisor and worker loop in this process, deaths where the script says."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq

from squall.catalog import Catalog
from squall.jobs import status as st
from squall.jobs.supervisor import Supervisor
from tests.compute.conftest import Job
from tests.compute.scripted import ScriptedExecutor
from tests.e2e.jobtools import poll


def _record(job: Job, *, max_retries: int = 3, seconds: float = 0.0) -> str:
    """The job's rows, as run_batch records them once its input is staged."""
    from dataclasses import replace

    plan = replace(job.plan, max_retries=max_retries, params={"seconds": seconds})
    plan.scratch_dir = str(job.home / "jobs" / "J")
    job.plan = plan
    job_id = uuid.uuid4().hex
    catalog = Catalog(job.home / "catalog.db")
    with catalog.connect() as con:
        con.execute(
            "INSERT INTO jobs (id, name, status, spec, created_time, shards_total, staging) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            (job_id, "J", st.PENDING, plan.to_json(), time.time(), len(job.shards)),
        )
        for shard, path in enumerate(job.shards):
            con.execute(
                "INSERT INTO shards (job_id, shard, path, rows, first_row) VALUES (?, ?, ?, 20, ?)",
                (job_id, shard, path, shard * 20),
            )
    return job_id


def _run(job: Job, job_id: str, executor: ScriptedExecutor) -> tuple[str, str]:
    Supervisor(job.home, job_id, executor=executor).run()
    row = Catalog(job.home / "catalog.db").query_one(
        "SELECT status, message FROM jobs WHERE id = ?", (job_id,)
    )
    assert row is not None
    return row["status"], row["message"]


def _executor(job: Job, job_id: str, **script: object) -> ScriptedExecutor:
    from squall.compute.base import ExecutorContext

    row = Catalog(job.home / "catalog.db").query_one(
        "SELECT spec FROM jobs WHERE id = ?", (job_id,)
    )
    assert row is not None
    context = ExecutorContext(str(job.home), job_id, str(job.home / "logs"), row["spec"], "custom")
    return ScriptedExecutor(context, **script)  # type: ignore[arg-type]


def test_a_job_runs_to_done_on_the_scripted_executor(job: Job) -> None:
    job_id = _record(job)
    status, message = _run(job, job_id, _executor(job, job_id))
    assert status == st.DONE, message
    out = pq.read_table(Path(job.plan.output_dir))
    assert out.num_rows == 60
    assert (Path(job.plan.output_dir) / "_SUCCESS").exists()


def test_a_dead_workers_shard_is_retried_on_a_new_worker(job: Job) -> None:
    job_id = _record(job)
    executor = _executor(job, job_id, die_on={(1, 1), (1, 2)})
    status, message = _run(job, job_id, executor)
    assert status == st.DONE, message
    assert len(executor.started) == 3  # the first worker, then one per death
    shards = Catalog(job.home / "catalog.db").query(
        "SELECT shard, attempts FROM shards WHERE job_id = ? ORDER BY shard", (job_id,)
    )
    assert [s["attempts"] for s in shards] == [1, 3, 1]


def test_a_shard_whose_worker_always_dies_fails_the_job_after_max_retries(job: Job) -> None:
    job_id = _record(job, max_retries=1)
    executor = _executor(job, job_id, die_on={(0, 1), (0, 2)})
    status, message = _run(job, job_id, executor)
    assert status == st.FAILED
    assert "shard 0 (input rows 0..19) failed 2 times" in message
    assert "max_retries=1" in message
    assert not (Path(job.plan.output_dir) / "_SUCCESS").exists()


def test_workers_that_cannot_load_fail_the_job_at_once(job: Job) -> None:
    job_id = _record(job)
    status, message = _run(job, job_id, _executor(job, job_id, fail_load=True))
    assert status == st.FAILED
    assert message.startswith("worker w0 could not start")


def test_a_cancel_request_ends_the_job_and_its_workers(job: Job) -> None:
    job_id = _record(job, seconds=0.2)
    executor = _executor(job, job_id)
    catalog = Catalog(job.home / "catalog.db")
    ended: list[str] = []
    thread = threading.Thread(
        target=lambda: ended.append(Supervisor(job.home, job_id, executor=executor).run())
    )
    thread.start()
    poll(lambda: executor.started, 30, "a worker started")
    catalog.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
    thread.join(timeout=60)
    assert ended == [st.CANCELLED]
    assert not executor.alive()
