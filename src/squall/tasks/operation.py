"""``DAGOperation``: deploy, run, inspect, cancel, suspend and drop DAGs of a workspace."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall.errors import (
    AlreadyExistsError,
    DAGNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    SquallError,
)
from squall.tasks import store as ds
from squall.tasks.dag import DAG, PREDECESSOR_VALUE, CreateMode, check_graph
from squall.tasks.inference import BatchInferenceTask
from squall.tasks.schedule import (
    check_schedule,
    describe,
    next_tick,
    now,
    parse_schedule,
    schedule_to_json,
    to_datetime,
)
from squall.tasks.store import DagStore, process_alive

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["DAGOperation", "DAGRun"]


@dataclass(frozen=True)
class DAGRun:
    """One run of a DAG, as recorded in the catalog (times are UTC datetimes).

    ``state`` is SCHEDULED, EXECUTING, SUCCEEDED, FAILED or CANCELLED. The entry for a
    DAG's next scheduled tick (from ``get_current_dag_runs``) has ``run_id`` None.
    """

    root_task_name: str
    state: str
    run_id: int | None
    scheduled_time: dt.datetime | None
    query_start_time: dt.datetime | None
    completed_time: dt.datetime | None
    next_scheduled_time: dt.datetime | None
    first_error_task_name: str | None
    first_error_message: str | None
    first_error_code: int | None
    attempt_number: int
    graph_version: int | None
    trigger: str | None = None

    @property
    def dag_name(self) -> str:
        return self.root_task_name


class DAGOperation:
    """Manage the DAGs of a workspace: ``DAGOperation(session)`` (default: the active one)."""

    def __init__(self, session: Session | None = None) -> None:
        from squall.session import Session, get_active_session

        if session is not None and not isinstance(session, Session):
            raise InvalidArgumentError(
                f"DAGOperation takes a squall Session, not {type(session).__name__}"
            )
        self.session = get_active_session(session)
        self._store = DagStore(self.session.catalog)

    # -- deploy / drop -------------------------------------------------------------------
    def deploy(self, dag: DAG, mode: CreateMode | str = CreateMode.error_if_exists) -> None:
        """Check and record the DAG; a scheduler then runs it on its schedule.

        A cycle, a bad schedule, unparsable SQL, an unknown model version or a callable that
        cannot be stored fails here, naming it. ``mode``: error_if_exists (the default)
        raises AlreadyExistsError for a deployed name, or_replace replaces it (runs under way
        finish with the definition they started with), if_not_exists leaves it.
        """
        from squall.model._pickle import dumps_portable

        if not isinstance(dag, DAG):
            raise InvalidArgumentError(f"deploy takes a DAG, not {type(dag).__name__}")
        mode = CreateMode(mode)
        order = check_graph(dag)
        check_schedule(dag.schedule)
        for task in order:
            self._check_task(task)
        try:
            config = None if dag.config is None else json.dumps(dag.config)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"DAG {dag.name!r}: config is not JSON-able: {exc}"
            ) from None
        try:
            definition = dumps_portable(dag)
        except Exception as exc:
            raise InvalidArgumentError(
                f"DAG {dag.name!r} cannot be stored (a task's callable must be picklable): "
                f"{type(exc).__name__}: {exc}"
            ) from None
        existing = self._store.get_dag(dag.name)
        if existing is not None and mode == CreateMode.if_not_exists:
            return
        if existing is not None and mode == CreateMode.error_if_exists:
            raise AlreadyExistsError(
                f"DAG {dag.name!r} is deployed already; deploy with mode=CreateMode.or_replace "
                "to replace it"
            )
        t = now()
        schedule_json = schedule_to_json(dag.schedule)
        keep_tick = existing is not None and existing["schedule"] == schedule_json
        row = {
            "name": dag.name.lower(),
            "display_name": dag.name,
            "definition": definition,
            "graph": json.dumps(_graph(order)),
            "schedule": schedule_json,
            "config": config,
            "comment": dag.comment,
            "state": "STARTED",
            "anchor": existing["anchor"] if keep_tick and existing else t,
            "next_scheduled_time": (
                existing["next_scheduled_time"]
                if keep_tick and existing
                else (None if dag.schedule is None else next_tick(dag.schedule, t, t))
            ),
            "graph_version": 1,
            "created": t,
            "updated": t,
        }
        self._store.save_dag(row, replace=mode == CreateMode.or_replace)

    def _check_task(self, task: Any) -> None:
        import duckdb

        from squall.registry import Registry

        if isinstance(task, BatchInferenceTask):
            Registry(self.session).get_model(task.batch.model_name).version(task.batch.version_name)
            sqls = [task.batch.query]
        elif isinstance(task.definition, str):
            sqls = [task.definition]
        else:
            sqls = []
        if task.condition is not None:
            sqls.append(f"SELECT ({PREDECESSOR_VALUE.sub('NULL', task.condition)})")
        for sql in sqls:
            try:
                if not duckdb.extract_statements(sql):
                    raise InvalidArgumentError(f"task {task.name!r}: no SQL statement in {sql!r}")
            except duckdb.ParserException as exc:
                raise InvalidArgumentError(
                    f"task {task.name!r}: cannot parse SQL {sql!r}: {exc}"
                ) from None

    def drop(self, dag: DAG | str) -> None:
        """Remove a DAG and its runs' records; runs under way are cancelled first."""
        name = self._name(dag)
        for run in self._store.runs(name, ds.ACTIVE):
            self.cancel(run["run_id"])
        if not self._store.drop_dag(name):
            raise DAGNotFoundError(f"no DAG named {name!r} is deployed")

    delete = drop

    # -- listing -------------------------------------------------------------------------
    def iter_dags(self, *, like: str | None = None) -> Iterator[str]:
        """Names of the deployed DAGs; ``like`` is a SQL LIKE pattern (case-insensitive)."""
        import fnmatch

        pattern = None if like is None else like.lower().replace("%", "*").replace("_", "?")
        for row in self._store.list_dags():
            if pattern is None or fnmatch.fnmatchcase(row["name"], pattern):
                yield row["display_name"]

    def list_dags(self) -> list[dict[str, Any]]:
        """Each deployed DAG: name, schedule, state (STARTED/SUSPENDED), next tick, tasks."""
        out = []
        for row in self._store.list_dags():
            out.append(self._describe(row))
        return out

    def describe(self, dag: DAG | str) -> dict[str, Any]:
        """A deployed DAG: its schedule, state, config and task graph."""
        return self._describe(self._row(dag), graph=True)

    def _describe(self, row: dict[str, Any], *, graph: bool = False) -> dict[str, Any]:
        tasks = json.loads(row["graph"])
        info: dict[str, Any] = {
            "name": row["display_name"],
            "schedule": describe(parse_schedule(row["schedule"])),
            "state": row["state"],
            "next_scheduled_time": to_datetime(
                row["next_scheduled_time"] if row["state"] == "STARTED" else None
            ),
            "tasks": len(tasks),
            "comment": row["comment"],
            "graph_version": row["graph_version"],
        }
        if graph:
            info["config"] = json.loads(row["config"]) if row["config"] else None
            info["graph"] = tasks
        return info

    # -- runs ----------------------------------------------------------------------------
    def run(self, dag: DAG | str, retry_last: bool = False) -> DAGRun:
        """Start one run of a deployed DAG now (in its own process); returns it.

        ``retry_last=True`` runs the last failed run again from its failed tasks instead.
        """
        from squall.tasks.runner import launch_runner

        row = self._row(dag)
        if retry_last:
            failed = self._store.runs(row["name"], (ds.FAILED,), limit=1)
            if not failed or not self._store.reopen_run(failed[0]["run_id"]):
                raise SquallError(f"DAG {row['display_name']!r} has no failed run to retry")
            run_id = int(failed[0]["run_id"])
        else:
            tasks = [t["name"].lower() for t in json.loads(row["graph"])]
            created = self._store.create_run(
                row, trigger="MANUAL", scheduled_time=now(), task_names=tasks
            )
            assert created is not None
            run_id = created
        launch_runner(self.session.home, run_id)
        return self.get_run(run_id)

    def get_run(self, run_id: int) -> DAGRun:
        row = self._store.get_run(int(run_id))
        if row is None:
            raise NotFoundError(f"no DAG run has run_id {run_id}")
        return self._to_run(row)

    def get_current_dag_runs(self, dag: DAG | str) -> list[DAGRun]:
        """Runs not yet ended, and the next scheduled tick (``run_id`` None) if any."""
        row = self._row(dag)
        runs = [self._to_run(r, row) for r in self._store.runs(row["name"], ds.ACTIVE)]
        if row["next_scheduled_time"] is not None and row["state"] == "STARTED":
            nxt = to_datetime(row["next_scheduled_time"])
            runs.append(
                DAGRun(row["display_name"], ds.SCHEDULED, None, nxt, None, None, nxt,
                       None, None, None, 1, row["graph_version"], "SCHEDULED")
            )  # fmt: skip
        return runs

    def get_complete_dag_runs(self, dag: DAG | str, *, error_only: bool = True) -> list[DAGRun]:
        """Ended runs, newest first; with ``error_only`` (the default) only FAILED ones."""
        row = self._row(dag)
        states = (ds.FAILED,) if error_only else ds.DONE_STATES
        return [self._to_run(r, row) for r in self._store.runs(row["name"], states)]

    def get_task_runs(self, run: DAGRun | int) -> list[dict[str, Any]]:
        """Each task of a run: state, attempt, return value, error, job name, times."""
        run_id = run.run_id if isinstance(run, DAGRun) else int(run)
        if run_id is None or self._store.get_run(run_id) is None:
            raise NotFoundError(f"no DAG run has run_id {run_id}")
        rows = self._store.task_runs(run_id)
        for r in rows:
            r["started"] = to_datetime(r["started"])
            r["completed"] = to_datetime(r["completed"])
        return rows

    def wait(self, run: DAGRun | int, timeout: float | None = None) -> DAGRun:
        """Block until the run ends; the ended run. TimeoutError past ``timeout`` seconds."""
        run_id = run.run_id if isinstance(run, DAGRun) else int(run)
        if run_id is None:
            raise InvalidArgumentError("the next scheduled tick is not a run yet")
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        while True:
            current = self.get_run(run_id)
            if current.state in ds.DONE_STATES:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"DAG run {run_id} is still {current.state} after {timeout}s")
            time.sleep(0.1)

    def cancel(self, run: DAGRun | int) -> DAGRun:
        """Cancel a run: its running job is cancelled, tasks not started never start."""
        from squall.jobs import get_job

        run_id = run.run_id if isinstance(run, DAGRun) else int(run)
        row = self._store.get_run(int(run_id or 0))
        if row is None:
            raise NotFoundError(f"no DAG run has run_id {run_id}")
        if row["state"] not in ds.ACTIVE:
            return self._to_run(row)
        self._store.request_cancel(row["run_id"])
        for task in self._store.task_runs(row["run_id"]):
            if task["state"] == ds.EXECUTING and task["job_name"]:
                with contextlib.suppress(NotFoundError):
                    get_job(task["job_name"], session=self.session).cancel()
        if not process_alive(row["runner_pid"], row["runner_started"]):
            # No runner to notice: record the end here (a new runner would find it ended).
            self._store.finish_run(row["run_id"], ds.CANCELLED, now())
        return self.get_run(row["run_id"])

    def suspend(self, dag: DAG | str) -> None:
        """Stop scheduling the DAG (runs under way go on; ``run`` still works)."""
        self._store.set_dag_state(self._row(dag)["name"], "SUSPENDED")

    def resume(self, dag: DAG | str) -> None:
        """Schedule the DAG again, from the next tick after now (missed ticks are not run)."""
        self._store.set_dag_state(self._row(dag)["name"], "STARTED", anchor=now())
        row = self._row(dag)
        schedule = parse_schedule(row["schedule"])
        if schedule is not None:
            t = now()
            self._store.set_next_tick(row["name"], None, next_tick(schedule, t, t))

    # -- helpers -------------------------------------------------------------------------
    def _name(self, dag: DAG | str) -> str:
        if isinstance(dag, DAG):
            return dag.name.lower()
        if isinstance(dag, str):
            return dag.lower()
        raise InvalidArgumentError(f"expected a DAG or a DAG name, not {type(dag).__name__}")

    def _row(self, dag: DAG | str) -> dict[str, Any]:
        name = self._name(dag)
        row = self._store.get_dag(name)
        if row is None:
            known = [r["display_name"] for r in self._store.list_dags()]
            raise DAGNotFoundError(
                f"no DAG named {name!r} is deployed"
                + (f"; deployed: {', '.join(known)}" if known else "")
            )
        return row

    def _to_run(self, r: dict[str, Any], dag: dict[str, Any] | None = None) -> DAGRun:
        dag = dag if dag is not None else self._store.get_dag(r["dag"])
        nxt = None
        if dag is not None and dag["state"] == "STARTED":
            nxt = to_datetime(dag["next_scheduled_time"])
        return DAGRun(
            root_task_name=dag["display_name"] if dag else r["dag"],
            state=r["state"],
            run_id=int(r["run_id"]),
            scheduled_time=to_datetime(r["scheduled_time"]),
            query_start_time=to_datetime(r["query_start_time"]),
            completed_time=to_datetime(r["completed_time"]),
            next_scheduled_time=nxt,
            first_error_task_name=r["first_error_task_name"],
            first_error_message=r["first_error_message"],
            first_error_code=None,
            attempt_number=int(r["attempt_number"]),
            graph_version=r["graph_version"],
            trigger=r["trigger"],
        )


def _graph(order: list[Any]) -> list[dict[str, Any]]:
    graph = []
    for task in order:
        item: dict[str, Any] = {
            "name": task.name,
            "kind": task.kind,
            "predecessors": [p.name for p in task._predecessors],
            "is_finalizer": task.is_finalizer,
            "condition": task.condition,
            "comment": task.comment,
        }
        if isinstance(task, BatchInferenceTask):
            item["definition"] = task.describe()
        elif isinstance(task.definition, str):
            item["definition"] = task.definition
        else:
            fn = task.definition
            item["definition"] = (
                f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
            )
        graph.append(item)
    return graph
