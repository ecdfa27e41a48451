"""The SQLite catalog: the truth about stages, models, jobs and shards of a workspace.

Many processes share it (the client, a supervisor per job, its workers, the CLI), so it runs
in WAL mode with a busy timeout, every transaction is short, and no connection is shared
across processes or threads: each call opens its own connection (cheap for SQLite).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.catalog.dags_schema import DAGS_SCHEMA
from squall.errors import NotSupportedError

COMPUTE_POOLS_SCHEMA = """
CREATE TABLE IF NOT EXISTS compute_pools (
    name TEXT PRIMARY KEY,
    engine TEXT NOT NULL,
    address TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
"""

_BASELINE = """
CREATE TABLE IF NOT EXISTS stages (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    url TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    encryption TEXT,
    kms_key_id TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    default_version TEXT,
    comment TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
    version TEXT NOT NULL,
    display_name TEXT NOT NULL,
    path TEXT NOT NULL,
    model_type TEXT NOT NULL,
    functions TEXT NOT NULL,
    comment TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    message TEXT,
    model TEXT,
    version TEXT,
    function TEXT,
    output_location TEXT,
    compute_pool TEXT,
    spec TEXT NOT NULL DEFAULT '{}',
    rows_total INTEGER NOT NULL DEFAULT 0,
    rows_done INTEGER NOT NULL DEFAULT 0,
    error_rows INTEGER NOT NULL DEFAULT 0,
    shards_total INTEGER NOT NULL DEFAULT 0,
    shards_done INTEGER NOT NULL DEFAULT 0,
    created_time REAL NOT NULL,
    started_time REAL,
    first_output_time REAL,
    completed_time REAL,
    heartbeat REAL,
    supervisor_pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    staging INTEGER NOT NULL DEFAULT 0,
    stager_pid INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_time);
CREATE TABLE IF NOT EXISTS shards (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    shard INTEGER NOT NULL,
    path TEXT NOT NULL,
    rows INTEGER NOT NULL,
    first_row INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING',
    attempts INTEGER NOT NULL DEFAULT 0,
    rows_done INTEGER NOT NULL DEFAULT 0,
    error_rows INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    error TEXT,
    completed REAL,
    PRIMARY KEY (job_id, shard)
);
CREATE TABLE IF NOT EXISTS workers (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    worker TEXT NOT NULL,
    pid INTEGER,
    started REAL NOT NULL,
    PRIMARY KEY (job_id, worker, started)
);
"""


_ATTEMPTS = """
CREATE TABLE IF NOT EXISTS shard_attempts (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    shard INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    worker TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    status TEXT NOT NULL DEFAULT 'RUNNING',
    rows INTEGER,
    PRIMARY KEY (job_id, shard, attempt)
);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs(status, created_time);
"""


@dataclass(frozen=True)
class Migration:
    """One step of the catalog's schema: ``version`` is the schema version it leads to."""

    version: int
    description: str
    sql: str


# The catalog's schema history, in order. A workspace records the last step it took in
# SQLite's ``user_version``; opening it applies the steps after that one, in one
# transaction. Never edit a step that shipped: append a new one (its statements run one by
# one, so keep each statement free of ';' inside literals).
MIGRATIONS: tuple[Migration, ...] = (
    # Version 1 is the schema of every workspace made before versions were recorded (they
    # read 0): its statements only create what is missing, so it applies to both.
    Migration(1, "stages, models, versions, jobs, shards, workers", _BASELINE),
    Migration(2, "task DAGs: dags, dag_runs, dag_task_runs", DAGS_SCHEMA),
    Migration(3, "shard attempts (the job timeline); jobs indexed by status", _ATTEMPTS),
    Migration(4, "compute pools", COMPUTE_POOLS_SCHEMA),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


class Catalog:
    """Access to ``<home>/catalog.db``; safe to use from any process or thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            migrate(con)
        finally:
            con.close()

    def schema_version(self) -> int:
        """The schema version this workspace's catalog is at."""
        with self.connect(write=False) as con:
            return _user_version(con)

    @contextlib.contextmanager
    def connect(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction: committed on success, rolled back on error."""
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=NORMAL")
            if write:
                _begin(con)
            else:
                con.execute("BEGIN")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.connect(write=False) as con:
            return [dict(r) for r in con.execute(sql, args).fetchall()]

    def query_one(self, sql: str, args: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        with self.connect() as con:
            return con.execute(sql, args).rowcount


def _user_version(con: sqlite3.Connection) -> int:
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def migrate(con: sqlite3.Connection) -> int:
    """Bring the catalog behind ``con`` to ``SCHEMA_VERSION``; return the version it was at.

    Every process opening a workspace calls this; the first one to take the write lock
    migrates, the others find the work done. A catalog from a newer squall is refused, not
    rewritten.
    """
    found = _user_version(con)
    if found == SCHEMA_VERSION:
        return found
    _begin(con)
    try:
        found = _user_version(con)
        if found > SCHEMA_VERSION:
            raise NotSupportedError(
                f"this workspace's catalog is at schema version {found}, newer than the "
                f"{SCHEMA_VERSION} this squall knows; upgrade squall to open it"
            )
        for step in MIGRATIONS:
            if step.version > found:
                for statement in _statements(step.sql):
                    con.execute(statement)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return found


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def _begin(con: sqlite3.Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock on an
    # upgrade; the busy timeout covers waiting, this loop covers a rare SQLITE_BUSY on WAL
    # recovery that the timeout does not.
    deadline = time.monotonic() + 60.0
    while True:
        try:
            con.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
