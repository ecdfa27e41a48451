"""The ``Job`` handle: status, wait, progress, logs, cancel — from any process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall.errors import JobNotFoundError
from squall.jobs import status as st
from squall.jobs.store import STOPPED, JobStore

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["Job", "Progress"]


@dataclass(frozen=True)
class Progress:
    """How far a job has got."""

    rows_done: int
    rows_total: int
    shards_done: int
    shards_total: int
    error_rows: int
    rows_per_second: float | None
    eta_seconds: float | None
    elapsed_seconds: float | None

    @property
    def fraction(self) -> float:
        return self.rows_done / self.rows_total if self.rows_total else 0.0

    def __str__(self) -> str:
        rate = f"{self.rows_per_second:,.0f} rows/s" if self.rows_per_second else "- rows/s"
        eta = f"ETA {self.eta_seconds:.0f}s" if self.eta_seconds is not None else "ETA -"
        return (
            f"{self.rows_done:,}/{self.rows_total:,} rows ({self.fraction:.0%}), "
            f"{self.shards_done}/{self.shards_total} shards, {rate}, {eta}, {self.error_rows} errors"
        )


class Job:
    """A handle on one batch job, by id; every property reads the catalog afresh."""

    def __init__(self, session: Session, job_id: str) -> None:
        self._session = session
        self._store = JobStore.on(session.catalog)
        self.id = job_id
        row = self._row()
        self.name: str = row["name"]

    @property
    def session(self) -> Session:
        """The session (workspace) the job belongs to."""
        return self._session

    def record(self) -> dict[str, Any]:
        """The job's catalog row, its liveness checked (a dead supervisor's job ends)."""
        return self._row()

    def _row(self) -> dict[str, Any]:
        row = self._store.job(self.id)
        if row is None:
            raise JobNotFoundError(f"job {self.id} does not exist (deleted?)")
        return st.check_liveness(self._store.catalog, row)

    def __repr__(self) -> str:
        return f"Job(name={self.name!r}, status={self.status!r})"

    @property
    def status(self) -> str:
        """PENDING, RUNNING, DONE, FAILED, CANCELLING, CANCELLED or INTERNAL_ERROR."""
        return str(self._row()["status"])

    @property
    def message(self) -> str | None:
        return self._row()["message"]

    @property
    def output_location(self) -> str:
        return str(self._row()["output_location"])

    @property
    def scratch_dir(self) -> Path:
        return self._session.home / "jobs" / self.name

    def info(self) -> dict[str, Any]:
        """The job's catalog record (without its internal plan), with its workers' pids."""
        row = self._row()
        row.pop("spec", None)
        row["worker_pids"] = self._store.worker_pids(self.id)
        return row

    def spec(self) -> dict[str, Any]:
        """What the job was asked to run: its function, params and execution settings."""
        import json

        from squall.batch.plan import decode_value

        plan = json.loads(self._row()["spec"] or "{}")
        keys = (
            "model_name",
            "version_name",
            "function",
            "function_kind",
            "output_location",
            "model_columns",
            "partition_column",
            "max_batch_rows",
            "num_workers",
            "max_retries",
            "on_error",
            "max_error_rate",
            "compute_pool",
        )
        out = {k: plan[k] for k in keys if k in plan}
        out["params"] = {k: decode_value(v) for k, v in plan.get("params", {}).items()}
        return out

    def shards(self) -> list[dict[str, Any]]:
        """Each input shard: rows, status, attempts so far, worker, rows done, error rows."""
        return self._store.shards(self.id)

    def shard_attempts(self) -> list[dict[str, Any]]:
        """Every attempt at a shard, in start order: its worker, start and end time, outcome.

        ``status`` is RUNNING, DONE, FAILED (the model raised), DIED (its worker died; the
        shard was retried) or STOPPED (the job ended, e.g. cancelled, while it ran).
        """
        active = self.status in st.ACTIVE
        # An attempt still runs only while it is its shard's current one (a supervisor that
        # died, or a job that ended, leaves its last attempts unfinished on record).
        running = {
            (r["shard"], r["attempts"])
            for r in self.shards()
            if active and r["status"] == st.RUNNING
        }
        rows = self._store.shard_attempts(self.id)
        for r in rows:
            if r["status"] == st.RUNNING and (r["shard"], r["attempt"]) not in running:
                r["status"] = STOPPED
        return rows

    def pids(self) -> list[int]:
        """Process ids the job ran under: its supervisor's, then every worker's it started.

        Once the job has ended none of them is the job's any more; a pid may since have been
        reused by an unrelated process.
        """
        sup = self._store.supervisor_pid(self.id)
        return ([sup] if sup else []) + self._store.worker_pids(self.id)

    @property
    def progress(self) -> Progress:
        row = self._row()
        now = time.time()
        started = row["started_time"]
        end = row["completed_time"] or now
        elapsed = end - started if started else None
        rate = row["rows_done"] / elapsed if elapsed and row["rows_done"] else None
        remaining = row["rows_total"] - row["rows_done"]
        eta = None
        if row["status"] == st.DONE:
            eta = 0.0
        elif rate and row["status"] in st.ACTIVE:
            eta = remaining / rate
        return Progress(
            rows_done=row["rows_done"],
            rows_total=row["rows_total"],
            shards_done=row["shards_done"],
            shards_total=row["shards_total"],
            error_rows=row["error_rows"],
            rows_per_second=rate,
            eta_seconds=eta,
            elapsed_seconds=elapsed,
        )

    def wait(
        self, timeout: float | None = None, poll: float = 0.05, *, progress: bool | None = None
    ) -> str:
        """Block until the job ends; return its final status. ``TimeoutError`` past ``timeout``.

        ``timeout`` is in seconds; None or a negative number waits without limit (as
        snowflake-ml-python's ``wait(timeout=-1)``), 0 checks once.
        ``progress``: draw a progress bar (rows, rate, ETA) on stderr while waiting; by default
        only when interactive (a terminal or a notebook), so scripts and CI stay quiet.
        """
        from squall.jobs.progress import interactive, progress_bar

        if progress is None:
            progress = interactive()
        if progress:
            return progress_bar(self, timeout=timeout)
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        delay = 0.02
        while True:
            status = self.status
            if status in st.FINAL:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.name} is still {status} after {timeout}s")
            time.sleep(
                delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            )
            delay = min(delay * 1.5, poll)

    def cancel(self) -> str:
        """Ask the job to stop; its workers are ended. Returns the status after the request.

        Cancelling a job that already ended changes nothing and returns its status.
        """
        self._store.request_cancel(self.id)
        return self.status

    def resume(self) -> str:
        """Finish a FAILED, CANCELLED or INTERNAL_ERROR job, skipping its committed shards.

        A new supervisor runs the shards without a committed part; the output is what an
        uninterrupted run writes. Raises ``JobNotResumableError`` for a DONE or running job,
        or when its model version or staged input is gone. Returns the status after the request.
        """
        from squall.jobs.resume import resume_job

        return resume_job(self)

    def get_logs(self, limit: int = -1) -> str:
        """The supervisor's and the workers' output, each line tagged with its source."""
        from squall.jobs.logs import read_logs

        return read_logs(self.scratch_dir / "logs", limit)

    def show_logs(self, limit: int = -1) -> None:
        print(self.get_logs(limit))
