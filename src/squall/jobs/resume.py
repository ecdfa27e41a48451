"""Resume a job that stopped before its end: a new supervisor finishes the shards not committed.

A job can be resumed when it ended FAILED, CANCELLED or INTERNAL_ERROR and everything it
needs is still there: its model version and the staged input of every shard that has no
committed part. Committed parts are kept as they are, so the output of a resumed job is the
output an uninterrupted run would have written.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from squall.batch.output import part_name
from squall.batch.plan import JobPlan
from squall.batch.shards import ParquetRowGroups, parse_shard_ref
from squall.errors import JobNotResumableError
from squall.jobs import reservation
from squall.jobs import status as st
from squall.jobs.launch import launch_supervisor
from squall.logtime import log_stamp

if TYPE_CHECKING:
    from squall.jobs.job import Job

__all__ = ["RESUMABLE", "resume_job"]

RESUMABLE = (st.FAILED, st.CANCELLED, st.INTERNAL_ERROR)
# A supervisor that recorded its job's end exits right after; a resume waits this long for it.
_EXIT_WAIT_S = 10.0


def _refuse(job: Job, why: str) -> JobNotResumableError:
    return JobNotResumableError(f"job {job.name} cannot be resumed: {why}")


def _check(job: Job, row: dict[str, Any], plan: JobPlan) -> None:
    catalog = job.session.catalog
    status = row["status"]
    if status == st.DONE:
        raise _refuse(job, "it is DONE; its output is complete")
    if status not in RESUMABLE:
        raise _refuse(job, f"it is {status}; only a FAILED, CANCELLED or INTERNAL_ERROR job can")
    if row["staging"] or (row["message"] or "").startswith("staging the input failed"):
        raise _refuse(job, "its input was never completely staged; run the job again")
    version = catalog.query_one("SELECT 1 AS ok FROM versions WHERE path = ?", (plan.model_path,))
    if version is None or not (Path(plan.model_path) / "manifest.json").exists():
        raise _refuse(
            job, f"its model {plan.model_name} version {plan.version_name} no longer exists"
        )
    out_dir = Path(plan.output_dir)
    shards = catalog.query(
        "SELECT shard, path, status FROM shards WHERE job_id = ? ORDER BY shard", (job.id,)
    )
    if len(shards) != row["shards_total"]:
        raise _refuse(job, "its input shards are not all recorded; run the job again")
    missing = [
        s["path"]
        for s in shards
        if not (s["status"] == "DONE" and (out_dir / part_name(s["shard"])).exists())
        and not parse_shard_ref(s["path"]).exists()
    ]
    if missing:
        missing = [_shown(p) for p in missing]
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise _refuse(job, f"its staged input is gone ({len(missing)} shard file(s): {shown})")
    if _previous_supervisor_running(row):
        raise _refuse(
            job,
            f"its previous supervisor (pid {row['supervisor_pid']}) is still running; "
            "end that process first",
        )


def _shown(path: str) -> str:
    """A shard's input as a name: a staged shard's file name, or the input file it read."""
    ref = parse_shard_ref(path)
    if isinstance(ref, ParquetRowGroups):
        return "input file " + os.path.basename(ref.path)
    return os.path.basename(ref.path)


def _previous_supervisor_running(row: dict[str, Any]) -> bool:
    """Whether the job's last supervisor still runs; one that recorded the end gets to exit."""
    pid = row["supervisor_pid"]
    if not st.process_alive(pid, row["started_time"]):
        return False
    if row["status"] == st.INTERNAL_ERROR:
        return True  # its heartbeat stopped, yet it runs: hung, and only its owner may end it
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        psutil.Process(pid).wait(timeout=_EXIT_WAIT_S)
    return st.process_alive(pid, row["started_time"])


def _end_leftovers(row: dict[str, Any]) -> None:
    """End processes a killed supervisor left behind (its workers, their children).

    A supervisor leads its own process group (it is started in a new session), so its
    workers share the group id = its pid. A pid is not reused while its group has members;
    the start-time window guards against a group that came later.
    """
    pgid = row["supervisor_pid"]
    since = row["started_time"]
    if not pgid or since is None:
        return
    until = row["completed_time"] or time.time()
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if proc.pid == os.getpid() or os.getpgid(proc.pid) != pgid:
                continue
        except (ProcessLookupError, PermissionError):
            continue
        created = proc.info["create_time"]
        if created is not None and since - 2.0 <= created <= until + 2.0:
            found.append(proc)
    for proc in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(found, timeout=10)


def resume_job(job: Job) -> str:
    """Start a new supervisor for ``job``; raise ``JobNotResumableError`` when it cannot be."""
    catalog = job.session.catalog
    row = job.record()
    plan = JobPlan.from_json(row["spec"])
    _check(job, row, plan)
    _end_leftovers(row)
    now = time.time()
    # The job takes its output location again: refused while another live job holds it.
    reservation.holder(catalog, plan.output_location, job.id)
    with catalog.connect() as con:
        reservation.reserve(con, plan.output_location, job.id)
        changed = con.execute(
            "UPDATE jobs SET status = ?, message = 'resuming', cancel_requested = 0, "
            "completed_time = NULL, started_time = NULL, first_output_time = NULL, "
            "heartbeat = ?, supervisor_pid = NULL "
            "WHERE id = ? AND status = ?",
            (st.PENDING, now, job.id, row["status"]),
        ).rowcount
        if changed != 1:
            raise _refuse(job, "its status changed while resuming it (resumed twice?)")
        con.execute(
            "UPDATE shards SET status = 'PENDING', rows_done = 0, error_rows = 0, error = NULL, "
            "worker = NULL WHERE job_id = ? AND status != 'DONE'",
            (job.id,),
        )
    with open(job.scratch_dir / "logs" / "supervisor.log", "a") as log:
        log.write(f"{log_stamp()} resuming a {row['status']} job\n")
    pid = launch_supervisor(job.session.home, job.id, job.scratch_dir / "logs")
    catalog.execute(
        "UPDATE jobs SET supervisor_pid = COALESCE(supervisor_pid, ?) WHERE id = ?", (pid, job.id)
    )
    return job.status
