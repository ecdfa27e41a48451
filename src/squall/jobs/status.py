"""How a job's liveness is judged from its supervisor's heartbeat (and the status names,
which the job store defines)."""

from __future__ import annotations

import time
from typing import Any

import psutil

from squall.catalog import Catalog
from squall.config import settings
from squall.jobs.store import (
    ACTIVE,
    CANCELLED,
    CANCELLING,
    DONE,
    FAILED,
    FINAL,
    INTERNAL_ERROR,
    PENDING,
    RUNNING,
    JobStore,
)

__all__ = [
    "ACTIVE",
    "CANCELLED",
    "CANCELLING",
    "DONE",
    "FAILED",
    "FINAL",
    "INTERNAL_ERROR",
    "PENDING",
    "RUNNING",
    "check_liveness",
    "finish",
]


def finish(
    catalog: Catalog,
    job_id: str,
    status: str,
    message: str | None,
    *,
    only_from: tuple[str, ...] = ACTIVE,
) -> bool:
    """Record a job's end, unless it already ended; True when this call recorded it."""
    return JobStore.on(catalog).finish(job_id, status, message, only_from=only_from)


def process_alive(pid: int | None, since: float | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # A recycled pid belongs to a process started after the job's supervisor was.
        return since is None or proc.create_time() <= since + 1.0
    except psutil.NoSuchProcess:
        return False


def check_liveness(catalog: Catalog, row: dict[str, Any]) -> dict[str, Any]:
    """The job's row, with a dead supervisor's job turned INTERNAL_ERROR (or CANCELLED).

    A supervisor writes a heartbeat every second. Its job is dead when the heartbeat is
    older than the timeout, or when its process is gone while the job is still active.
    """
    status = row["status"]
    if status not in ACTIVE:
        return row
    cfg = settings()
    now = time.time()
    beat = row["heartbeat"]
    pid = row["supervisor_pid"]
    if beat is None:
        started = row["created_time"]
        stale = now - started > cfg.supervisor_start_timeout_s
        dead = stale or (pid is not None and not process_alive(pid, row["started_time"] or now))
    else:
        # A resumed job has a fresh heartbeat before its new supervisor records its pid.
        gone = pid is not None and not process_alive(pid, row["started_time"])
        dead = now - beat > cfg.heartbeat_timeout_s or gone
    if not dead:
        return row
    if row["cancel_requested"]:
        new, message = CANCELLED, "cancelled (the supervisor ended during cancellation)"
    else:
        new = INTERNAL_ERROR
        message = (
            "the job's supervisor stopped without recording an end "
            f"(last heartbeat {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(beat)) if beat else 'never'})"
        )
    store = JobStore.on(catalog)
    if store.finish(row["id"], new, message, only_from=(status,)):
        row = dict(row, status=new, message=message)
    else:
        row = store.job(row["id"]) or row
    return row
