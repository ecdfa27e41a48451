"""Short-lived DuckDB connections to the workspace's warehouse file.

DuckDB lets one process at a time open a database file read-write, and several processes
share a workspace (the user's session, the ``squall`` CLI, job supervisors). So nothing holds
a connection between operations: each opens one, works, and closes it, which releases the
file lock once the process's last connection is gone. Opening waits out another process's
lock (retrying with back-off) up to a deadline, then raises WarehouseBusyError.

Within one process, connections to the same file share one DuckDB instance, so concurrent
operations (a stream being read while a table is written) do not contend for the lock.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import duckdb

from squall.errors import WarehouseBusyError

__all__ = ["LOCK_WAIT_SECONDS", "is_lock_conflict", "open_connection"]

#: How long an operation waits for another process to release the warehouse.
LOCK_WAIT_SECONDS = 30.0

_LOCK_MESSAGE = re.compile(r"could not set lock|conflicting lock", re.IGNORECASE)
_HOLDER = re.compile(r"held in (.+?) \(PID (\d+)\)")


def is_lock_conflict(exc: BaseException) -> bool:
    """True when ``exc`` says another process holds the database file's lock."""
    return isinstance(exc, duckdb.Error) and bool(_LOCK_MESSAGE.search(str(exc)))


def open_connection(path: Path, wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """A new read-write connection to ``path``; the caller closes it.

    Retries while another process holds the file, for up to ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    delay = 0.005
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise
            if time.monotonic() + delay > deadline:
                holder = _HOLDER.search(str(exc))
                who = (
                    f"process {holder.group(2)} ({holder.group(1)})"
                    if holder
                    else "another process"
                )
                raise WarehouseBusyError(
                    f"the warehouse {path} is in use by {who} and stayed locked for "
                    f"{wait:g}s; retry when that process is done with it"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
    try:
        # Never let a query resolve a table name to a Python variable of ours, and never draw
        # DuckDB's progress bar on the user's terminal from inside the library.
        con.execute("SET python_enable_replacements = false")
        con.execute("SET enable_progress_bar = false")
    except BaseException:
        con.close()
        raise
    return con
