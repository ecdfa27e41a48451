"""The one owner of a job's rows: the SQL on jobs, shards and workers a job run needs.

A supervisor drives its job through these methods, so the statements, the status names they
write and the transactions they run in are in one place (like a huey storage's methods).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from squall.catalog import Catalog
from squall.jobs import status as st

__all__ = ["JobStore"]


class JobStore:
    """Reads and writes one workspace's job tables; safe from any process."""

    def __init__(self, home: Path | str, catalog: Catalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else Catalog(Path(home) / "catalog.db")

    # -- jobs -----------------------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.catalog.query_one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def start_run(self, job_id: str, pid: int) -> bool:
        """Mark a PENDING job RUNNING under the supervisor ``pid``; False if not PENDING."""
        now = time.time()
        changed = self.catalog.execute(
            "UPDATE jobs SET status = ?, started_time = COALESCE(started_time, ?), "
            "heartbeat = ?, supervisor_pid = ?, "
            "message = CASE WHEN message = 'resuming' THEN NULL ELSE message END "
            "WHERE id = ? AND status = ?",
            (st.RUNNING, now, now, pid, job_id, st.PENDING),
        )
        return bool(changed)

    def heartbeat(self, job_id: str) -> None:
        self.catalog.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time(), job_id))

    def run_state(self, job_id: str) -> dict[str, Any] | None:
        """What a running supervisor checks: status, cancel request, staging and its pid."""
        return self.catalog.query_one(
            "SELECT status, cancel_requested, staging, stager_pid FROM jobs WHERE id = ?",
            (job_id,),
        )

    def cancel_requested(self, job_id: str) -> bool:
        row = self.catalog.query_one("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        return bool(row and row["cancel_requested"])

    def finish(self, job_id: str, status: str, message: str | None) -> bool:
        """Record the job's end, unless it already ended; True when this call recorded it."""
        return st.finish(self.catalog, job_id, status, message)

    # -- shards ---------------------------------------------------------------------------
    def shards_after(self, job_id: str, shard: int) -> list[dict[str, Any]]:
        """The job's shards numbered above ``shard``, in order (staging adds them as it goes)."""
        return self.catalog.query(
            "SELECT shard, path, rows, first_row, status, attempts, error_rows FROM shards "
            "WHERE job_id = ? AND shard > ? ORDER BY shard",
            (job_id, shard),
        )

    def shard_running(self, job_id: str, shard: int, attempt: int, worker: str) -> None:
        """The shard's ``attempt`` starts on ``worker`` (recorded in the job's timeline too)."""
        with self.catalog.connect() as con:
            con.execute(
                "UPDATE shards SET status = ?, attempts = ?, worker = ?, rows_done = 0 "
                "WHERE job_id = ? AND shard = ?",
                (st.RUNNING, attempt, worker, job_id, shard),
            )
            con.execute(
                "INSERT OR REPLACE INTO shard_attempts (job_id, shard, attempt, worker, started) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, shard, attempt, worker, time.time()),
            )

    def shard_done(self, job_id: str, shard: int, rows: int, error_rows: int, attempt: int) -> None:
        """The shard's part is committed; the job's first output time is now if not before."""
        now = time.time()
        with self.catalog.connect() as con:
            con.execute(
                "UPDATE shards SET status = ?, rows_done = ?, error_rows = ?, completed = ?, "
                "error = NULL WHERE job_id = ? AND shard = ?",
                (st.DONE, rows, error_rows, now, job_id, shard),
            )
            con.execute(
                "UPDATE jobs SET first_output_time = COALESCE(first_output_time, ?) WHERE id = ?",
                (now, job_id),
            )
            _end_attempt(con, job_id, shard, attempt, st.DONE, now, rows)

    def shard_failed(self, job_id: str, shard: int, error: str, attempt: int) -> None:
        with self.catalog.connect() as con:
            con.execute(
                "UPDATE shards SET status = ?, error = ? WHERE job_id = ? AND shard = ?",
                (st.FAILED, error, job_id, shard),
            )
            _end_attempt(con, job_id, shard, attempt, st.FAILED, time.time())

    def end_attempt(self, job_id: str, shard: int, attempt: int, status: str) -> None:
        """Record how a shard's attempt ended (``DIED``: its worker is gone)."""
        with self.catalog.connect() as con:
            _end_attempt(con, job_id, shard, attempt, status, time.time())

    def shard_pending(self, job_id: str, shard: int) -> None:
        """Put a shard back in the queue (its worker died)."""
        self.catalog.execute(
            "UPDATE shards SET status = ?, rows_done = 0 WHERE job_id = ? AND shard = ?",
            (st.PENDING, job_id, shard),
        )

    def record_progress(
        self, job_id: str, shard_rows: dict[int, int], shard_errors: dict[int, int]
    ) -> None:
        """Rows done per shard in flight, and the job's totals summed from its shards."""
        with self.catalog.connect() as con:
            for shard, rows in shard_rows.items():
                con.execute(
                    "UPDATE shards SET rows_done = ?, error_rows = ? WHERE job_id = ? AND shard = ?",
                    (rows, shard_errors.get(shard, 0), job_id, shard),
                )
            con.execute(
                "UPDATE jobs SET "
                "rows_done = (SELECT COALESCE(SUM(rows_done), 0) FROM shards WHERE job_id = ?), "
                "shards_done = (SELECT COUNT(*) FROM shards WHERE job_id = ? AND status = ?), "
                "error_rows = (SELECT COALESCE(SUM(error_rows), 0) FROM shards WHERE job_id = ?) "
                "WHERE id = ?",
                (job_id, job_id, st.DONE, job_id, job_id),
            )

    # -- workers --------------------------------------------------------------------------
    def record_worker(self, job_id: str, worker: str, pid: int | None) -> None:
        """Note a worker's pid, so anyone can check it is gone after the job."""
        self.catalog.execute(
            "INSERT INTO workers (job_id, worker, pid, started) VALUES (?, ?, ?, ?)",
            (job_id, worker, pid, time.time()),
        )


def _end_attempt(
    con: Any,
    job_id: str,
    shard: int,
    attempt: int,
    status: str,
    when: float,
    rows: int | None = None,
) -> None:
    con.execute(
        "UPDATE shard_attempts SET status = ?, ended = ?, rows = ? "
        "WHERE job_id = ? AND shard = ? AND attempt = ?",
        (status, when, rows, job_id, shard, attempt),
    )
