"""Chaos: real jobs whose real processes are SIGKILLed, compared row by row with a clean run."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys

import psutil
import pyarrow as pa
import pytest

import squall
from squall.batch import OutputSpec
from squall.batch.output import PartWriter, part_name
from squall.errors import JobNotResumableError
from squall.registry import Registry
from tests.faults.conftest import (
    BATCH_ROWS,
    ROWS,
    SHARD_ROWS,
    assert_complete,
    job_spec,
    output_folder,
    wait_for,
)
from tests.faults.models import frame

SHARDS = ROWS // SHARD_ROWS
BATCHES = SHARD_ROWS // BATCH_ROWS


def kill_plan(seed: int) -> dict[int, list[str]]:
    """For a seed: which shards lose a worker, on which attempts, at which point."""
    rng = random.Random(seed)
    points = [str(n) for n in range(BATCHES + 1)] + ["commit", "done"]
    plan = {}
    for shard in rng.sample(range(SHARDS), k=rng.randint(1, 3)):
        chosen = [rng.choice(points) for _ in range(rng.randint(1, 2))]
        # after a kill past the commit the part stands: no later attempt of the shard runs
        ends = [i for i, p in enumerate(chosen) if p in ("commit", "done")]
        plan[shard] = chosen[: ends[0] + 1] if ends else chosen
    return plan


def attempts(session: squall.Session, job) -> dict[int, int]:
    rows = session.catalog.query("SELECT shard, attempts FROM shards WHERE job_id = ?", (job.id,))
    return {r["shard"]: r["attempts"] for r in rows}


@pytest.mark.parametrize("seed", range(8))
def test_killed_workers_cost_only_their_shard(session, twice, reference, monkeypatch, seed):
    plan = kill_plan(seed)
    spec = ",".join(
        f"{shard}:{attempt}:{point}"
        for shard, points in plan.items()
        for attempt, point in enumerate(points, start=1)
    )
    monkeypatch.setenv("SQUALL_FAULT_KILL_WORKER", spec)
    job = twice.run_batch(
        frame(ROWS), output_spec=OutputSpec(stage_location="@results/c/"), job_spec=job_spec()
    )
    assert job.wait(timeout=120) == "DONE", (spec, job.get_logs())
    assert_complete(session, "@results/c/", reference)
    # a kill during a shard costs one more attempt of that shard, each logged; a kill after
    # "done" costs nothing, or the first attempt of the shard its worker was handed next
    kills = {s: [p for p in plan.get(s, []) if p != "done"] for s in range(SHARDS)}
    idle_kills = sum(p == "done" for points in plan.values() for p in points)
    tried = attempts(session, job)
    assert all(tried[s] >= 1 + len(kills[s]) for s in range(SHARDS)), (spec, tried)
    assert sum(tried.values()) - sum(1 + len(k) for k in kills.values()) <= idle_kills
    logs = job.get_logs()
    for shard, points in kills.items():
        for attempt in range(1, len(points) + 1):
            assert f"died (exit code -9) during shard {shard}, attempt {attempt}" in logs
    p = job.progress
    assert (p.rows_done, p.shards_done, p.error_rows) == (ROWS, SHARDS, 0)


def test_a_worker_dying_as_it_is_handed_a_shard(session, twice, reference, monkeypatch):
    # one worker: it reports shard 0 done and dies as the next shard is sent to it
    monkeypatch.setenv("SQUALL_FAULT_KILL_WORKER", "0:1:done,2:1:done")
    job = twice.run_batch(
        frame(ROWS),
        output_spec=OutputSpec(stage_location="@results/h/"),
        job_spec=job_spec(num_workers=1),
    )
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    assert_complete(session, "@results/h/", reference)


def test_worker_killed_from_outside_while_it_runs(session, twice, reference, monkeypatch):
    monkeypatch.setenv("SQUALL_TEST_SLOW_S", "0.05")
    job = twice.run_batch(
        frame(ROWS),
        output_spec=OutputSpec(stage_location="@results/k/"),
        job_spec=job_spec(num_workers=1),
    )
    wait_for(lambda: job.progress.rows_done > 0, what="the first batch")
    pid = int(re.findall(r"ready \(pid (\d+)", job.get_logs())[0])
    os.kill(pid, signal.SIGKILL)
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    assert_complete(session, "@results/k/", reference)
    assert re.search(r"worker w0 (died|exited) \(exit code -9\)", job.get_logs())


def test_shard_failing_every_retry_fails_the_job_then_resume_finishes(
    session, twice, reference, monkeypatch
):
    monkeypatch.setenv("SQUALL_FAULT_KILL_WORKER", "2:1:1,2:2:3")
    job = twice.run_batch(
        frame(ROWS),
        output_spec=OutputSpec(stage_location="@results/r/"),
        job_spec=job_spec(max_retries=1),
    )
    assert job.wait(timeout=120) == "FAILED"
    assert "shard 2 (input rows 1000..1499) failed 2 times" in job.message
    assert "max_retries=1" in job.message
    assert not (output_folder(session, "@results/r/") / "_SUCCESS").exists()
    logs = job.get_logs()
    assert "during shard 2, attempt 1" in logs and "during shard 2, attempt 2" in logs
    assert job.progress.shards_done < SHARDS

    monkeypatch.delenv("SQUALL_FAULT_KILL_WORKER")
    job.resume()
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    assert_complete(session, "@results/r/", reference)
    assert attempts(session, job)[2] == 3
    # each attempt is recorded: its worker, when it ran, and how it ended
    tries = [a for a in job.shard_attempts() if a["shard"] == 2]
    assert [(a["attempt"], a["status"]) for a in tries] == [(1, "DIED"), (2, "DIED"), (3, "DONE")]
    assert all(a["started"] <= a["ended"] for a in tries)
    assert tries[-1]["rows"] == SHARD_ROWS
    done = {a["shard"] for a in job.shard_attempts() if a["status"] == "DONE"}
    assert done == set(range(SHARDS))


def _committed_parts(session, location: str) -> dict[str, tuple[int, int]]:
    folder = output_folder(session, location)
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("part-*.parquet")}


def test_supervisor_killed_mid_job_then_resume(session, twice, reference, monkeypatch):
    monkeypatch.setenv("SQUALL_TEST_SLOW_S", "0.2")
    job = twice.run_batch(
        frame(ROWS), output_spec=OutputSpec(stage_location="@results/s/"), job_spec=job_spec()
    )
    wait_for(lambda: job.progress.shards_done >= 2, what="two committed shards")
    os.kill(job.info()["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: job.status == "INTERNAL_ERROR", what="INTERNAL_ERROR")
    assert not (output_folder(session, "@results/s/") / "_SUCCESS").exists()
    before = _committed_parts(session, "@results/s/")
    assert len(before) >= 2

    monkeypatch.setenv("SQUALL_TEST_SLOW_S", "0")
    assert job.resume() in ("PENDING", "RUNNING", "DONE")
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    assert_complete(session, "@results/s/", reference)
    after = _committed_parts(session, "@results/s/")
    assert {k: after[k] for k in before} == before  # committed shards were not redone
    assert job.progress.rows_done == ROWS


def test_cancel_then_resume(session, twice, reference, monkeypatch):
    monkeypatch.setenv("SQUALL_TEST_SLOW_S", "0.2")
    job = twice.run_batch(
        frame(ROWS), output_spec=OutputSpec(stage_location="@results/x/"), job_spec=job_spec()
    )
    wait_for(lambda: job.progress.shards_done >= 1, what="a committed shard")
    job.cancel()
    assert job.wait(timeout=60) == "CANCELLED"
    before = _committed_parts(session, "@results/x/")
    monkeypatch.setenv("SQUALL_TEST_SLOW_S", "0")
    job.resume()
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    assert_complete(session, "@results/x/", reference)
    after = _committed_parts(session, "@results/x/")
    assert {k: after[k] for k in before} == before


def test_resume_refuses_done_running_and_jobs_whose_inputs_are_gone(session, twice, monkeypatch):
    done = twice.run_batch(
        frame(10), output_spec=OutputSpec(stage_location="@results/d/"), job_spec=job_spec()
    )
    assert done.wait(timeout=60) == "DONE"
    with pytest.raises(JobNotResumableError, match=r"cannot be resumed: it is DONE"):
        done.resume()

    monkeypatch.setenv("SQUALL_TEST_SLOW_S", "0.2")
    running = twice.run_batch(
        frame(ROWS), output_spec=OutputSpec(stage_location="@results/g/"), job_spec=job_spec()
    )
    wait_for(lambda: running.status == "RUNNING", what="RUNNING")
    with pytest.raises(JobNotResumableError, match=r"it is RUNNING"):
        running.resume()
    running.cancel()
    assert running.wait(timeout=60) == "CANCELLED"

    shard = session.catalog.query_one(
        "SELECT path FROM shards WHERE job_id = ? AND status != 'DONE' ORDER BY shard DESC",
        (running.id,),
    )
    os.rename(shard["path"], shard["path"] + ".moved")
    with pytest.raises(JobNotResumableError, match=r"staged input is gone \(1 shard file"):
        running.resume()
    os.rename(shard["path"] + ".moved", shard["path"])

    Registry(session).delete_model("twice")
    with pytest.raises(JobNotResumableError, match=r"its model TWICE version V1 no longer exists"):
        running.resume()
    assert running.status == "CANCELLED"


def test_a_late_attempt_never_replaces_a_committed_part(tmp_path):
    table = pa.table({"id": [1, 2], "y": [1.0, 2.0]})
    first, zombie = PartWriter(tmp_path, 7), PartWriter(tmp_path, 7)
    zombie.write(pa.table({"id": [1, 2], "y": [-1.0, -2.0]}))
    first.write(table)
    assert first.commit() is True
    assert zombie.commit() is False
    assert sorted(os.listdir(tmp_path)) == [part_name(7)]
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / part_name(7)).equals(table)


def test_cli_resume(session, twice, reference, monkeypatch):
    monkeypatch.setenv("SQUALL_FAULT_KILL_WORKER", "0:1:0")
    job = twice.run_batch(
        frame(ROWS),
        output_spec=OutputSpec(stage_location="@results/cli/"),
        job_spec=job_spec(max_retries=0),
    )
    assert job.wait(timeout=120) == "FAILED"
    monkeypatch.delenv("SQUALL_FAULT_KILL_WORKER")
    cli = [sys.executable, "-m", "squall", "--home", str(session.home), "jobs", "resume"]
    res = subprocess.run([*cli, job.name, "--wait"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{job.name} DONE" in res.stdout
    assert_complete(session, "@results/cli/", reference)
    res = subprocess.run([*cli, job.name], capture_output=True, text=True)
    assert res.returncode == 1 and "cannot be resumed: it is DONE" in res.stderr

    def supervisors() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if job.id in " ".join(p.info["cmdline"] or [])
        ]

    wait_for(lambda: not supervisors(), what="the supervisors to exit")
