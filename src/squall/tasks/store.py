"""All SQL on DAGs, their runs and their task runs (tables made by catalog/dags_schema.py).

``dags`` holds each deployed DAG (its pickled definition, schedule and next tick),
``dag_runs`` each run (with a copy of the definition it runs, so a redeploy never changes a
run under way) and ``dag_task_runs`` each task of a run: state, return value, error, and the
name of the job a BatchInferenceTask started (recorded before the job is submitted, which is
how a restarted run finds its job instead of starting another).
"""

from __future__ import annotations

from typing import Any

import psutil

from squall.catalog import Catalog
from squall.jobs.status import process_alive

__all__ = ["ACTIVE", "DONE_STATES", "DagStore", "process_alive", "process_started"]

# Run states, as Snowflake's task graph history names them.
SCHEDULED = "SCHEDULED"
EXECUTING = "EXECUTING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
SKIPPED = "SKIPPED"
ACTIVE = (SCHEDULED, EXECUTING)
DONE_STATES = (SUCCEEDED, FAILED, CANCELLED)


def process_started(pid: int) -> float:
    return float(psutil.Process(pid).create_time())


class DagStore:
    """The one owner of SQL on ``dags``, ``dag_runs`` and ``dag_task_runs``."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- dags ----------------------------------------------------------------------------
    def get_dag(self, name: str) -> dict[str, Any] | None:
        return self.catalog.query_one("SELECT * FROM dags WHERE name = ?", (name.lower(),))

    def list_dags(self) -> list[dict[str, Any]]:
        return self.catalog.query("SELECT * FROM dags ORDER BY name")

    def save_dag(self, row: dict[str, Any], *, replace: bool) -> bool:
        """Insert a DAG, or replace it; False when it exists and ``replace`` is False."""
        with self.catalog.connect() as con:
            old = con.execute(
                "SELECT graph_version, created, state FROM dags WHERE name = ?", (row["name"],)
            ).fetchone()
            if old is not None and not replace:
                return False
            if old is not None:
                row = dict(
                    row,
                    graph_version=old["graph_version"] + 1,
                    created=old["created"],
                    state=old["state"],
                )
                sets = ", ".join(f"{k} = ?" for k in row if k != "name")
                con.execute(
                    f"UPDATE dags SET {sets} WHERE name = ?",
                    (*[v for k, v in row.items() if k != "name"], row["name"]),
                )
            else:
                cols = ", ".join(row)
                marks = ", ".join("?" * len(row))
                con.execute(f"INSERT INTO dags ({cols}) VALUES ({marks})", tuple(row.values()))
        return True

    def drop_dag(self, name: str) -> bool:
        with self.catalog.connect() as con:
            con.execute("PRAGMA foreign_keys=ON")
            con.execute(
                "DELETE FROM dag_task_runs WHERE run_id IN (SELECT run_id FROM dag_runs WHERE dag = ?)",
                (name.lower(),),
            )
            con.execute("DELETE FROM dag_runs WHERE dag = ?", (name.lower(),))
            return con.execute("DELETE FROM dags WHERE name = ?", (name.lower(),)).rowcount == 1

    def set_dag_state(self, name: str, state: str, *, anchor: float | None = None) -> bool:
        if anchor is None:
            sql, args = "UPDATE dags SET state = ? WHERE name = ?", (state, name.lower())
        else:
            sql = "UPDATE dags SET state = ?, anchor = ?, next_scheduled_time = NULL WHERE name = ?"
            args = (state, anchor, name.lower())  # type: ignore[assignment]
        return self.catalog.execute(sql, args) == 1

    def set_next_tick(self, name: str, old: float | None, new: float) -> bool:
        """Move the DAG's next tick from ``old`` to ``new``; False when another process did."""
        return (
            self.catalog.execute(
                "UPDATE dags SET next_scheduled_time = ? WHERE name = ? "
                "AND next_scheduled_time IS ?",
                (new, name, old),
            )
            == 1
        )

    # -- runs ----------------------------------------------------------------------------
    def create_run(
        self,
        dag: dict[str, Any],
        *,
        trigger: str,
        scheduled_time: float,
        task_names: list[str],
        next_tick: tuple[float | None, float] | None = None,
    ) -> int | None:
        """Record a new run (and its tasks, SCHEDULED) in one transaction; its run id.

        For a scheduled run, ``next_tick`` moves the DAG's next tick in the same transaction,
        and None is returned when that tick was taken already: a tick runs at most once.
        """
        with self.catalog.connect() as con:
            if next_tick is not None:
                moved = con.execute(
                    "UPDATE dags SET next_scheduled_time = ? WHERE name = ? "
                    "AND next_scheduled_time IS ?",
                    (next_tick[1], dag["name"], next_tick[0]),
                ).rowcount
                if not moved:
                    return None
                taken = con.execute(
                    "SELECT 1 FROM dag_runs WHERE dag = ? AND scheduled_time = ? "
                    "AND trigger = 'SCHEDULED'",
                    (dag["name"], scheduled_time),
                ).fetchone()
                if taken:
                    return None
            cur = con.execute(
                "INSERT INTO dag_runs (dag, state, trigger, scheduled_time, graph_version, "
                "definition) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    dag["name"],
                    SCHEDULED,
                    trigger,
                    scheduled_time,
                    dag["graph_version"],
                    dag["definition"],
                ),
            )
            run_id = int(cur.lastrowid or 0)
            con.executemany(
                "INSERT INTO dag_task_runs (run_id, task, state) VALUES (?, ?, ?)",
                [(run_id, t, SCHEDULED) for t in task_names],
            )
        return run_id

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        return self.catalog.query_one("SELECT * FROM dag_runs WHERE run_id = ?", (run_id,))

    def runs(
        self, dag: str | None = None, states: tuple[str, ...] | None = None, limit: int = -1
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if dag is not None:
            where.append("dag = ?")
            args.append(dag.lower())
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        cols = "run_id, dag, state, trigger, scheduled_time, query_start_time, completed_time, "
        cols += "first_error_task_name, first_error_message, attempt_number, graph_version, "
        cols += "runner_pid, runner_started, cancel_requested"
        return self.catalog.query(
            f"SELECT {cols} FROM dag_runs {cond} ORDER BY run_id DESC LIMIT ?", (*args, limit)
        )

    def claim_run(self, run_id: int, pid: int, started: float) -> dict[str, Any] | None:
        """Make this process the run's runner, unless a live runner holds it or it ended."""
        with self.catalog.connect() as con:
            row = con.execute("SELECT * FROM dag_runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None or row["state"] not in ACTIVE:
                return None
            if row["runner_pid"] != pid and process_alive(row["runner_pid"], row["runner_started"]):
                return None
            con.execute(
                "UPDATE dag_runs SET runner_pid = ?, runner_started = ?, state = ? "
                "WHERE run_id = ?",
                (pid, started, EXECUTING, run_id),
            )
            return dict(row)

    def start_run(self, run_id: int, when: float) -> None:
        self.catalog.execute(
            "UPDATE dag_runs SET query_start_time = COALESCE(query_start_time, ?) WHERE run_id = ?",
            (when, run_id),
        )

    def finish_run(
        self,
        run_id: int,
        state: str,
        when: float,
        error: tuple[str, str] | None = None,
    ) -> bool:
        task, message = error if error else (None, None)
        return (
            self.catalog.execute(
                "UPDATE dag_runs SET state = ?, completed_time = ?, first_error_task_name = ?, "
                "first_error_message = ? WHERE run_id = ? AND state IN (?, ?)",
                (state, when, task, message, run_id, *ACTIVE),
            )
            == 1
        )

    def request_cancel(self, run_id: int) -> None:
        self.catalog.execute("UPDATE dag_runs SET cancel_requested = 1 WHERE run_id = ?", (run_id,))

    def cancel_requested(self, run_id: int) -> bool:
        row = self.catalog.query_one(
            "SELECT cancel_requested, state FROM dag_runs WHERE run_id = ?", (run_id,)
        )
        return row is None or bool(row["cancel_requested"])

    def next_attempt(self, run_id: int) -> None:
        """Retry a failed run from its failed task: failed and skipped tasks run again."""
        with self.catalog.connect() as con:
            con.execute(
                "UPDATE dag_runs SET attempt_number = attempt_number + 1, state = ?, "
                "completed_time = NULL, first_error_task_name = NULL, first_error_message = NULL "
                "WHERE run_id = ?",
                (EXECUTING, run_id),
            )
            con.execute(
                "UPDATE dag_task_runs SET state = ?, error = NULL, job_name = NULL, "
                "completed = NULL WHERE run_id = ? AND state NOT IN (?)",
                (SCHEDULED, run_id, SUCCEEDED),
            )

    def reopen_run(self, run_id: int) -> bool:
        """``run(dag, retry_last=True)``: a FAILED run goes back to run its failed tasks."""
        with self.catalog.connect() as con:
            moved = con.execute(
                "UPDATE dag_runs SET state = ?, attempt_number = attempt_number + 1, "
                "completed_time = NULL, first_error_task_name = NULL, first_error_message = NULL, "
                "runner_pid = NULL, cancel_requested = 0 WHERE run_id = ? AND state = ?",
                (SCHEDULED, run_id, FAILED),
            ).rowcount
            con.execute(
                "UPDATE dag_task_runs SET state = ?, error = NULL, job_name = NULL, "
                "completed = NULL WHERE run_id = ? AND state != ?",
                (SCHEDULED, run_id, SUCCEEDED),
            )
        return moved == 1

    # -- task runs -----------------------------------------------------------------------
    def task_runs(self, run_id: int) -> list[dict[str, Any]]:
        return self.catalog.query(
            "SELECT * FROM dag_task_runs WHERE run_id = ? ORDER BY started IS NULL, started, task",
            (run_id,),
        )

    def task_run(self, run_id: int, task: str) -> dict[str, Any] | None:
        return self.catalog.query_one(
            "SELECT * FROM dag_task_runs WHERE run_id = ? AND task = ?", (run_id, task)
        )

    def set_task(self, run_id: int, task: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        self.catalog.execute(
            f"UPDATE dag_task_runs SET {sets} WHERE run_id = ? AND task = ?",
            (*values.values(), run_id, task),
        )

    def start_task(self, run_id: int, task: str, when: float) -> None:
        self.catalog.execute(
            "UPDATE dag_task_runs SET state = ?, started = ?, attempt = attempt + 1, "
            "return_value = NULL WHERE run_id = ? AND task = ?",
            (EXECUTING, when, run_id, task),
        )

    def set_return_value(self, run_id: int, task: str, value: str) -> bool:
        return (
            self.catalog.execute(
                "UPDATE dag_task_runs SET return_value = ? WHERE run_id = ? AND task = ? "
                "AND state = ?",
                (value, run_id, task, EXECUTING),
            )
            == 1
        )

    def failed_in_a_row(self, dag: str) -> int:
        """How many of the DAG's latest finished runs failed, counting back to a success."""
        rows = self.catalog.query(
            "SELECT state FROM dag_runs WHERE dag = ? AND state IN (?, ?, ?) "
            "ORDER BY completed_time DESC, run_id DESC LIMIT 1000",
            (dag, *DONE_STATES),
        )
        count = 0
        for row in rows:
            if row["state"] != FAILED:
                break
            count += 1
        return count
