"""The one owner of the job tables: every SQL statement on jobs, shards and workers.

The supervisor drives its job through these methods, and so do submit, resume, cancel, the
``Job`` handle and the listings: the statements, the status names they write and the
transactions they run in are in this one place (like a huey storage's methods). Whole job
rows are handed out as dicts (the catalog record, as ``Job.info()`` shows it); narrower
reads return plain values or small named tuples.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from squall.catalog import Catalog
from squall.errors import redact
from squall.sqltext import placeholders

__all__ = [
    "ACTIVE",
    "CANCELLED",
    "CANCELLING",
    "DIED",
    "DONE",
    "FAILED",
    "FINAL",
    "INTERNAL_ERROR",
    "PENDING",
    "RESUMABLE",
    "RUNNING",
    "STOPPED",
    "JobStore",
    "NewJob",
    "ShardEntry",
]

# Job statuses (a shard's status is one of PENDING, RUNNING, DONE, FAILED).
PENDING = "PENDING"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"
INTERNAL_ERROR = "INTERNAL_ERROR"
ACTIVE = (PENDING, RUNNING, CANCELLING)
FINAL = (DONE, FAILED, CANCELLED, INTERNAL_ERROR)
RESUMABLE = (FAILED, CANCELLED, INTERNAL_ERROR)
# How a shard's attempt ended, besides DONE and FAILED: its worker died (the shard was
# retried), or the job ended while it ran (never stored: read from an unfinished attempt).
DIED = "DIED"
STOPPED = "STOPPED"

# A job being staged carries this message until its input is all recorded; a resumed one
# carries the other until its new supervisor starts.
STAGING_MESSAGE = "staging input"
RESUMING_MESSAGE = "resuming"

# Shown the other active jobs' rows inside a write transaction; refuses by raising.
ActiveCheck = Callable[[list[dict[str, Any]]], None]


class NewJob(NamedTuple):
    """What recording a job writes: its row, PENDING and staging."""

    id: str
    name: str
    model: str
    version: str
    function: str
    output_location: str
    compute_pool: str
    spec: str


class ShardEntry(NamedTuple):
    """A recorded shard: its number, its input reference and its status."""

    shard: int
    path: str
    status: str


class JobStore:
    """Reads and writes one workspace's job tables; safe from any process."""

    def __init__(self, home: Path | str, catalog: Catalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else Catalog(Path(home) / "catalog.db")

    @classmethod
    def on(cls, catalog: Catalog) -> JobStore:
        """The store over an open catalog."""
        return cls(catalog.path.parent, catalog)

    # -- jobs: recording and reading --------------------------------------------------------
    def record_job(self, job: NewJob, check: ActiveCheck) -> None:
        """Record ``job`` PENDING and staging, in one write transaction.

        ``check`` is first shown the other active jobs' rows inside that transaction, and
        refuses by raising (nothing is recorded then): one writer at a time, so two jobs
        recorded at once cannot both pass it. ``sqlite3.IntegrityError``: the name is taken.
        """
        with self.catalog.connect() as con:
            check(_active(con, job.id))
            con.execute(
                "INSERT INTO jobs (id, name, status, message, model, version, function, "
                "output_location, compute_pool, spec, created_time, staging, stager_pid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    job.id,
                    job.name,
                    PENDING,
                    STAGING_MESSAGE,
                    job.model,
                    job.version,
                    job.function,
                    job.output_location,
                    job.compute_pool,
                    job.spec,
                    time.time(),
                    os.getpid(),
                ),
            )

    def delete_job(self, job_id: str) -> None:
        """Forget a job: its row, and with it (cascading) its shards, attempts and workers."""
        self.catalog.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.catalog.query_one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def active_jobs(self, except_id: str | None = None) -> list[dict[str, Any]]:
        """The rows of the jobs whose status is active (maybe stale: liveness not checked)."""
        with self.catalog.connect(write=False) as con:
            return _active(con, except_id)

    def list_jobs(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        version: str | None = None,
        limit: int = 0,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Job rows newest first; ``model`` and ``version`` match case-insensitively.

        ``limit`` <= 0: no limit.
        """
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        for column, value in (("model", model), ("version", version)):
            if value is not None:
                where.append(f"upper({column}) = upper(?)")
                args.append(value)
        sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY created_time DESC, rowid DESC"
        if limit > 0 or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [limit if limit > 0 else -1, offset]
        return self.catalog.query(sql, tuple(args))

    def job_names(self, limit: int = 0) -> list[str]:
        """The jobs' names, newest first (``limit`` <= 0: all)."""
        sql = "SELECT name FROM jobs ORDER BY created_time DESC"
        args: tuple[Any, ...] = ()
        if limit > 0:
            sql, args = sql + " LIMIT ?", (limit,)
        return [r["name"] for r in self.catalog.query(sql, args)]

    def job_id_named(self, name: str, *, any_case: bool = False) -> str | None:
        """The id of the job named ``name`` (with ``any_case``: ignoring case), or None."""
        where = "upper(name) = upper(?)" if any_case else "name = ?"
        row = self.catalog.query_one(f"SELECT id FROM jobs WHERE {where}", (name,))
        return None if row is None else str(row["id"])

    def name_taken(self, name: str) -> bool:
        return self.job_id_named(name) is not None

    def newest_job_id(self) -> str | None:
        row = self.catalog.query_one(
            "SELECT id FROM jobs ORDER BY created_time DESC, rowid DESC LIMIT 1"
        )
        return None if row is None else str(row["id"])

    def supervisor_pid(self, job_id: str) -> int | None:
        row = self.catalog.query_one("SELECT supervisor_pid FROM jobs WHERE id = ?", (job_id,))
        return int(row["supervisor_pid"]) if row and row["supervisor_pid"] else None

    # -- jobs: staging ----------------------------------------------------------------------
    def set_spec(self, job_id: str, spec: str) -> None:
        """Replace the job's plan (serialised), e.g. once its workers are sized."""
        self.catalog.execute("UPDATE jobs SET spec = ? WHERE id = ?", (spec, job_id))

    def note_supervisor(self, job_id: str, pid: int) -> None:
        """The launched supervisor's pid, unless the supervisor recorded its own already."""
        self.catalog.execute(
            "UPDATE jobs SET supervisor_pid = COALESCE(supervisor_pid, ?) WHERE id = ?",
            (pid, job_id),
        )

    def add_shard(self, job_id: str, shard: int, path: str, rows: int, first_row: int) -> bool:
        """Record a staged shard and add it to the job's totals; False (nothing recorded)
        when the job was asked to cancel meanwhile."""
        return self.add_shards(job_id, [(shard, path, rows, first_row)])

    def add_shards(self, job_id: str, shards: list[tuple[int, str, int, int]]) -> bool:
        """Record staged shards ``(shard, path, rows, first_row)`` in one transaction and add
        them to the job's totals; False (nothing recorded) when the job was asked to cancel
        meanwhile."""
        with self.catalog.connect() as con:
            wanted = con.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
            if wanted.fetchone()[0]:
                return False
            con.executemany(
                "INSERT INTO shards (job_id, shard, path, rows, first_row) VALUES (?, ?, ?, ?, ?)",
                [(job_id, *shard) for shard in shards],
            )
            con.execute(
                "UPDATE jobs SET rows_total = rows_total + ?, shards_total = shards_total + ? "
                "WHERE id = ?",
                (sum(s[2] for s in shards), len(shards), job_id),
            )
        return True

    def staging_done(self, job_id: str, *, completed: bool = True) -> None:
        """Staging ended; ``completed``: every shard is recorded (the staging message goes)."""
        if completed:
            self.catalog.execute(
                "UPDATE jobs SET staging = 0, "
                "message = CASE WHEN message = ? THEN NULL ELSE message END WHERE id = ?",
                (STAGING_MESSAGE, job_id),
            )
        else:
            self.catalog.execute("UPDATE jobs SET staging = 0 WHERE id = ?", (job_id,))

    # -- jobs: a run ------------------------------------------------------------------------
    def start_run(self, job_id: str, pid: int) -> bool:
        """Mark a PENDING job RUNNING under the supervisor ``pid``; False if not PENDING."""
        now = time.time()
        changed = self.catalog.execute(
            "UPDATE jobs SET status = ?, started_time = COALESCE(started_time, ?), "
            "heartbeat = ?, supervisor_pid = ?, "
            "message = CASE WHEN message = ? THEN NULL ELSE message END "
            "WHERE id = ? AND status = ?",
            (RUNNING, now, now, pid, RESUMING_MESSAGE, job_id, PENDING),
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

    def request_cancel(self, job_id: str) -> bool:
        """A PENDING or RUNNING job becomes CANCELLING; True when this call changed it."""
        changed = self.catalog.execute(
            "UPDATE jobs SET cancel_requested = 1, status = ? WHERE id = ? AND status IN (?, ?)",
            (CANCELLING, job_id, PENDING, RUNNING),
        )
        return changed == 1

    def finish(
        self,
        job_id: str,
        status: str,
        message: str | None,
        *,
        only_from: tuple[str, ...] = ACTIVE,
    ) -> bool:
        """Record the job's end, unless it already ended; True when this call recorded it.

        ``only_from``: the statuses the job may end from (by default any active one).
        """
        marks = placeholders(len(only_from))
        changed = self.catalog.execute(
            f"UPDATE jobs SET status = ?, message = ?, completed_time = ? "
            f"WHERE id = ? AND status IN ({marks})",
            (status, None if message is None else redact(message), time.time(), job_id, *only_from),
        )
        return changed == 1

    def reopen(self, job_id: str, from_status: str, check: ActiveCheck) -> bool:
        """Make an ended job PENDING again to resume it, in one write transaction.

        ``check`` is first shown the other active jobs' rows and refuses by raising. The
        job's shards without a committed part go back to PENDING; False (nothing changed)
        when the job is no longer ``from_status``.
        """
        with self.catalog.connect() as con:
            check(_active(con, job_id))
            changed = con.execute(
                "UPDATE jobs SET status = ?, message = ?, cancel_requested = 0, "
                "completed_time = NULL, started_time = NULL, first_output_time = NULL, "
                "heartbeat = ?, supervisor_pid = NULL "
                "WHERE id = ? AND status = ?",
                (PENDING, RESUMING_MESSAGE, time.time(), job_id, from_status),
            ).rowcount
            if changed != 1:
                return False
            con.execute(
                "UPDATE shards SET status = ?, rows_done = 0, error_rows = 0, error = NULL, "
                "worker = NULL WHERE job_id = ? AND status != ?",
                (PENDING, job_id, DONE),
            )
        return True

    # -- shards ---------------------------------------------------------------------------
    def shards(self, job_id: str) -> list[dict[str, Any]]:
        """Each shard of the job, in order: rows, status, attempts, worker, rows done, errors."""
        return self.catalog.query(
            "SELECT shard, first_row, rows, status, attempts, worker, rows_done, error_rows, "
            "error, completed FROM shards WHERE job_id = ? ORDER BY shard",
            (job_id,),
        )

    def shard_entries(self, job_id: str) -> list[ShardEntry]:
        """Each shard's number, input reference and status, in order."""
        rows = self.catalog.query(
            "SELECT shard, path, status FROM shards WHERE job_id = ? ORDER BY shard", (job_id,)
        )
        return [ShardEntry(int(r["shard"]), str(r["path"]), str(r["status"])) for r in rows]

    def shard_attempts(self, job_id: str) -> list[dict[str, Any]]:
        """Every recorded attempt at the job's shards, in start order, as stored."""
        return self.catalog.query(
            "SELECT shard, attempt, worker, started, ended, status, rows FROM shard_attempts "
            "WHERE job_id = ? ORDER BY started, shard",
            (job_id,),
        )

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
                (RUNNING, attempt, worker, job_id, shard),
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
                (DONE, rows, error_rows, now, job_id, shard),
            )
            con.execute(
                "UPDATE jobs SET first_output_time = COALESCE(first_output_time, ?) WHERE id = ?",
                (now, job_id),
            )
            _end_attempt(con, job_id, shard, attempt, DONE, now, rows)

    def shard_failed(self, job_id: str, shard: int, error: str, attempt: int) -> None:
        with self.catalog.connect() as con:
            con.execute(
                "UPDATE shards SET status = ?, error = ? WHERE job_id = ? AND shard = ?",
                (FAILED, error, job_id, shard),
            )
            _end_attempt(con, job_id, shard, attempt, FAILED, time.time())

    def end_attempt(self, job_id: str, shard: int, attempt: int, status: str) -> None:
        """Record how a shard's attempt ended (``DIED``: its worker is gone)."""
        with self.catalog.connect() as con:
            _end_attempt(con, job_id, shard, attempt, status, time.time())

    def shard_pending(self, job_id: str, shard: int) -> None:
        """Put a shard back in the queue (its worker died)."""
        self.catalog.execute(
            "UPDATE shards SET status = ?, rows_done = 0 WHERE job_id = ? AND shard = ?",
            (PENDING, job_id, shard),
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
                (job_id, job_id, DONE, job_id, job_id),
            )

    # -- workers --------------------------------------------------------------------------
    def record_worker(self, job_id: str, worker: str, pid: int | None) -> None:
        """Note a worker's pid, so anyone can check it is gone after the job."""
        self.catalog.execute(
            "INSERT INTO workers (job_id, worker, pid, started) VALUES (?, ?, ?, ?)",
            (job_id, worker, pid, time.time()),
        )

    def worker_pids(self, job_id: str) -> list[int]:
        """The pids of the job's workers, in the order they started."""
        rows = self.catalog.query(
            "SELECT pid FROM workers WHERE job_id = ? AND pid IS NOT NULL ORDER BY started",
            (job_id,),
        )
        return [int(r["pid"]) for r in rows]


def _active(con: sqlite3.Connection, except_id: str | None) -> list[dict[str, Any]]:
    """The active jobs' rows (but ``except_id``'s), read on ``con`` (maybe a write transaction)."""
    rows = con.execute(
        f"SELECT * FROM jobs WHERE status IN ({placeholders(len(ACTIVE))}) AND id IS NOT ?",
        (*ACTIVE, except_id),
    ).fetchall()
    return [dict(r) for r in rows]


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
