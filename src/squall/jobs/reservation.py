"""One live job per output location: the single place that reserves and releases a location.

A job holds its output location from the moment it is recorded until it ends: the
reservation *is* the job's row in the catalog while its status is active (PENDING, RUNNING,
CANCELLING). :func:`reserve` runs inside the write transaction that records the job (or
that resumes it): SQLite lets one writer in at a time, so two jobs started at once on one
location cannot both pass, whatever process they run in. A location is held when it
overlaps the other job's (the same folder, or one inside the other). The reservation is
released by the job's end, whoever records it (its supervisor, a cancel, or the liveness
check that finds a dead supervisor), so a crash can never leave a location locked.
"""

from __future__ import annotations

from typing import Any

from squall.errors import OutputInUseError
from squall.jobs import status as st
from squall.jobs.store import ActiveCheck, JobStore
from squall.stages.paths import stage_paths_overlap

__all__ = ["holder", "reserve"]


def holder(catalog: Any, location: str, job_id: str | None = None) -> dict[str, Any] | None:
    """The live job (other than ``job_id``) whose output overlaps ``location``, or None.

    A job whose supervisor died is recorded ended on the way (and so holds nothing).
    """
    for row in JobStore.on(catalog).active_jobs(job_id):
        held = row["output_location"]
        if not held or not stage_paths_overlap(held, location):
            continue
        if st.check_liveness(catalog, row)["status"] in st.ACTIVE:
            return row
    return None


def reserve(location: str) -> ActiveCheck:
    """The check that reserves ``location`` for a job the store records (or reopens).

    The store runs it in the write transaction that records the job active with this
    location, which is the reservation, on the other active jobs' rows: it refuses when one
    holds an overlapping location. The job's end releases it.
    """

    def check(active: list[dict[str, Any]]) -> None:
        for row in active:
            held = row["output_location"]
            if held and stage_paths_overlap(held, location):
                raise OutputInUseError(location, row["name"], held)

    return check
