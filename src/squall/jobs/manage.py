"""Find, list and delete jobs of a workspace."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import TYPE_CHECKING, Any

import pandas as pd

from squall.errors import InvalidArgumentError, JobNotFoundError, JobStateError
from squall.jobs import status as st
from squall.jobs.job import Job
from squall.jobs.store import JobStore
from squall.names import resolve_name

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["delete_job", "find_job", "get_job", "last_job", "list_jobs"]

_COLUMNS = [
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


def _session(session: Session | None) -> Session:
    from squall.session import get_active_session

    return get_active_session(session)


def _when(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value)


def list_jobs(
    limit: int = 10,
    status: str | None = None,
    session: Session | None = None,
    *,
    offset: int = 0,
    model: str | None = None,
    version: str | None = None,
) -> pd.DataFrame:
    """The workspace's jobs, newest first, as a pandas DataFrame (``limit`` <= 0: all).

    ``offset`` skips that many of the newest first (pages of ``limit``); ``model`` and
    ``version`` keep the jobs of one model (and version), matched case-insensitively.
    """
    s = _session(session)
    if status is not None and status.upper() not in (*st.ACTIVE, *st.FINAL):
        raise InvalidArgumentError(
            f"unknown status {status!r}; choose one of {', '.join((*st.ACTIVE, *st.FINAL))}"
        )
    if offset < 0:
        raise InvalidArgumentError(f"offset must be 0 or more, not {offset!r}")
    # Only an active job's status can be stale (its supervisor may have died): settle those
    # first, so the page below is filtered and cut on true statuses.
    store = JobStore.on(s.catalog)
    for r in store.active_jobs():
        st.check_liveness(s.catalog, r)
    rows = store.list_jobs(
        status=None if status is None else status.upper(),
        model=model,
        version=version,
        limit=limit or 0,
        offset=offset,
    )
    records: list[dict[str, Any]] = []
    for r in rows:
        rec = {c: r[c] for c in _COLUMNS}
        for c in ("created_time", "started_time", "completed_time"):
            rec[c] = _when(r[c])
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=_COLUMNS)


def get_job(name: str, session: Session | None = None) -> Job:
    """A handle on the job named ``name`` (case-insensitive), from any process."""
    s = _session(session)
    store = JobStore.on(s.catalog)
    job_id = store.job_id_named(_stored_name(name))
    if job_id is None:
        job_id = store.job_id_named(name, any_case=True)
    if job_id is None:
        recent = store.job_names(limit=5)
        hint = f"; recent jobs: {', '.join(recent)}" if recent else "; the workspace has no jobs"
        raise JobNotFoundError(f"no job named {name!r}{hint}")
    return Job(s, job_id)


def find_job(name: str, session: Session | None = None) -> Job:
    """The job named ``name``, else the one job whose name starts with it (case-insensitive).

    JobNotFoundError when no name matches, or when several do (it lists them).
    """
    s = _session(session)
    key = name.upper()
    names = JobStore.on(s.catalog).job_names()
    exact = [n for n in names if n.upper() == key]
    matches = exact or ([n for n in names if n.upper().startswith(key)] if key else [])
    if len(matches) == 1:
        return get_job(matches[0], s)
    if len(matches) > 1:
        shown = ", ".join(matches[:10]) + (", ..." if len(matches) > 10 else "")
        raise JobNotFoundError(
            f"{name!r} names {len(matches)} jobs: {shown}; give more of the name"
        )
    return get_job(name, s)


def last_job(session: Session | None = None) -> Job:
    """The newest job of the workspace; JobNotFoundError when it has none."""
    s = _session(session)
    job_id = JobStore.on(s.catalog).newest_job_id()
    if job_id is None:
        raise JobNotFoundError("the workspace has no jobs")
    return Job(s, job_id)


def delete_job(job_or_name: Job | str, session: Session | None = None) -> None:
    """Delete a job's record, logs and scratch files (never its output).

    A job that is still running must be cancelled first.
    """
    s = _session(session)
    job = job_or_name if isinstance(job_or_name, Job) else get_job(job_or_name, s)
    status = job.status
    if status in st.ACTIVE:
        raise JobStateError(
            f"job {job.name} is {status}: cancel it first (job.cancel()), then delete it"
        )
    JobStore.on(s.catalog).delete_job(job.id)
    shutil.rmtree(job.scratch_dir, ignore_errors=True)


def _stored_name(name: str) -> str:
    """The catalog form of a job name (``my_job`` -> ``MY_JOB``); as given when not a name."""
    try:
        return resolve_name(name, "job name")
    except InvalidArgumentError:
        return name
