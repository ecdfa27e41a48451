"""One DAG run, run by a process of its own: ``python -m squall.tasks.runner HOME RUN_ID``.

The runner claims the run in the catalog (one live runner per run), then runs its tasks in
dependency order, recording each task's state as it goes. A runner that is killed leaves
its run EXECUTING; the scheduler starts a new runner for it, which skips the tasks that
finished and, for a BatchInferenceTask that was running, finds its job by the name recorded
before it was submitted and waits for it, rather than starting a second job.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall.errors import JobNotFoundError
from squall.jobs.launch import spawn_detached
from squall.tasks import store as ds
from squall.tasks.context import CurrentTask, current_task
from squall.tasks.dag import DAG, PREDECESSOR_VALUE, DAGTask, check_graph
from squall.tasks.inference import BatchInferenceTask
from squall.tasks.schedule import now
from squall.tasks.store import DagStore, process_started

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["execute_run", "launch_runner", "run_log_path"]

log = logging.getLogger("squall.tasks.runner")

_children: list[subprocess.Popen[bytes]] = []


class _TaskFailed(Exception):
    """A task failed; the message is what the run's record shows."""


class _Cancelled(Exception):
    """The run was cancelled while this task ran."""


def run_log_path(home: Path, run_id: int) -> Path:
    return home / "dags" / "logs" / f"run-{run_id}.log"


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def launch_runner(home: Path, run_id: int) -> subprocess.Popen[bytes]:
    """Start a detached runner for a run; it claims the run, or exits when another holds it."""
    for child in list(_children):  # reap runners this process started earlier
        if child.poll() is not None:
            _children.remove(child)
    proc = spawn_detached(
        "squall.tasks.runner", [str(home), str(run_id)], run_log_path(home, run_id)
    )
    _children.append(proc)
    return proc


class _Runner:
    def __init__(self, session: Session, run_id: int, row: dict[str, Any]) -> None:
        self.session = session
        self.run_id = run_id
        self.store = DagStore(session.catalog)
        self.dag: DAG = pickle.loads(row["definition"])
        self.order = check_graph(self.dag)
        self.scheduled_time = float(row["scheduled_time"])
        self.abandoned_threads = False

    # -- the run -------------------------------------------------------------------------
    def run(self) -> str:
        self.store.start_run(self.run_id, now())
        body = [t for t in self.order if not t.is_finalizer]
        while True:
            self._run_tasks(body)
            states = self._states()
            failed = [t for t in body if states[t.name.lower()] == ds.FAILED]
            row = self.store.get_run(self.run_id)
            if row is None:  # the DAG was dropped under the run
                return ds.CANCELLED
            retries = self.dag.task_auto_retry_attempts or 0
            if failed and not row["cancel_requested"] and row["attempt_number"] <= retries:
                log.info(
                    "run %s: attempt %s failed at %s; retrying from the failed task",
                    self.run_id,
                    row["attempt_number"],
                    failed[0].name,
                )
                self.store.next_attempt(self.run_id)
                continue
            break
        finalizer = self.dag.get_finalizer_task()
        pending = (ds.SCHEDULED, ds.EXECUTING)
        if finalizer is not None and self._states()[finalizer.name.lower()] in pending:
            self._run_task(finalizer)
        return self._finish()

    def _states(self) -> dict[str, str]:
        return {r["task"]: r["state"] for r in self.store.task_runs(self.run_id)}

    def _run_tasks(self, tasks: list[DAGTask]) -> None:
        for task in tasks:
            key = task.name.lower()
            states = self._states()
            if states.get(key) not in (ds.SCHEDULED, ds.EXECUTING):
                continue
            if self.store.cancel_requested(self.run_id):
                self.store.set_task(self.run_id, key, state=ds.CANCELLED, completed=now())
                continue
            preds = {p.name.lower(): states.get(p.name.lower()) for p in task.predecessors}
            blocked = [p for p, s in preds.items() if s in (ds.FAILED, ds.CANCELLED)]
            skipped = [p for p, s in preds.items() if s == ds.SKIPPED]
            if blocked or skipped:
                why = f"predecessor {(blocked or skipped)[0]} " + (
                    "did not succeed" if blocked else "was skipped"
                )
                self.store.set_task(
                    self.run_id, key, state=ds.SKIPPED, error=f"not run: {why}", completed=now()
                )
                continue
            if task.condition and not self._condition_holds(task):
                self.store.set_task(
                    self.run_id,
                    key,
                    state=ds.SKIPPED,
                    error=f"condition is false: {task.condition}",
                    completed=now(),
                )
                continue
            self._run_task(task)

    def _finish(self) -> str:
        rows = self.store.task_runs(self.run_id)
        failed = sorted(
            (r for r in rows if r["state"] == ds.FAILED), key=lambda r: r["completed"] or 0
        )
        if self.store.cancel_requested(self.run_id):
            state, error = ds.CANCELLED, None
        elif failed:
            state, error = ds.FAILED, (failed[0]["task"], failed[0]["error"] or "failed")
        else:
            state, error = ds.SUCCEEDED, None
        self.store.finish_run(self.run_id, state, now(), error)
        log.info("run %s of DAG %s ended %s", self.run_id, self.dag.name, state)
        limit = self.dag.suspend_task_after_num_failures
        if state == ds.FAILED and limit and self.store.failed_in_a_row(self.dag.name) >= limit:
            self.store.set_dag_state(self.dag.name, "SUSPENDED")
            log.warning("DAG %s suspended after %s failed runs in a row", self.dag.name, limit)
        return state

    # -- one task ------------------------------------------------------------------------
    def _info(self, task: DAGTask) -> CurrentTask:
        return CurrentTask(
            run_id=self.run_id,
            dag=self.dag.name,
            task=task.name.lower(),
            predecessors=tuple(p.name.lower() for p in task._predecessors),
            config=self.dag.config,
            scheduled_time=self.scheduled_time,
        )

    def _timeout_s(self, task: DAGTask) -> float | None:
        ms = task.user_task_timeout_ms or self.dag.user_task_timeout_ms
        return ms / 1000 if ms else None

    def _run_task(self, task: DAGTask) -> None:
        key = task.name.lower()
        row = self.store.task_run(self.run_id, key)
        resumed_job = bool(row and row["state"] == ds.EXECUTING and row["job_name"])
        if row and row["state"] == ds.EXECUTING and not resumed_job:
            log.warning("task %s was running when its runner stopped; running it again", key)
        if not resumed_job:
            self.store.start_task(self.run_id, key, now())
        log.info("run %s: task %s starts", self.run_id, key)
        try:
            value: str | None = None
            if isinstance(task, BatchInferenceTask):
                value = self._run_batch(task, row["job_name"] if resumed_job and row else None)
            elif isinstance(task.definition, str):
                df = self.session.sql(task.definition)
                if df.is_sql:
                    df.to_arrow()  # a single SELECT is lazy: run it
            else:
                result = self._call(task.definition, task)
                if self.dag.use_func_return_value and result is not None:
                    value = str(result)
            if value is not None:
                self.store.set_return_value(self.run_id, key, value)
            self.store.set_task(self.run_id, key, state=ds.SUCCEEDED, completed=now())
            log.info("run %s: task %s succeeded", self.run_id, key)
        except _Cancelled:
            self.store.set_task(self.run_id, key, state=ds.CANCELLED, completed=now())
        except Exception as exc:
            message = str(exc) if isinstance(exc, _TaskFailed) else f"{type(exc).__name__}: {exc}"
            self.store.set_task(self.run_id, key, state=ds.FAILED, error=message, completed=now())
            traceback = not isinstance(exc, _TaskFailed)
            log.error("run %s: task %s failed: %s", self.run_id, key, message, exc_info=traceback)

    def _call(self, fn: Callable[..., Any], task: DAGTask) -> Any:
        info = self._info(task)
        timeout = self._timeout_s(task)
        args = (self.session,) if _takes_an_argument(fn) else ()
        if timeout is None:
            with current_task(info):
                return fn(*args)
        result: dict[str, Any] = {}

        def target() -> None:
            with current_task(info):
                try:
                    result["value"] = fn(*args)
                except BaseException as exc:
                    result["error"] = exc

        thread = threading.Thread(target=target, daemon=True, name=f"task-{task.name}")
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            self.abandoned_threads = True
            raise _TaskFailed(f"task {task.name} ran past its timeout of {timeout * 1000:.0f} ms")
        if "error" in result:
            raise result["error"]
        return result.get("value")

    def _run_batch(self, task: BatchInferenceTask, job_name: str | None) -> str:
        from squall.batch.validate import make_job_name
        from squall.jobs import get_job
        from squall.jobs import status as st

        key = task.name.lower()
        job = None
        if job_name is not None:
            try:
                job = get_job(job_name, session=self.session)
                log.info("run %s: task %s found its job %s", self.run_id, key, job_name)
            except JobNotFoundError:
                job = None  # the runner stopped before the job was recorded: submit it now
        if job is None:
            if job_name is None:
                job_name = make_job_name(task.batch.job_spec)
                self.store.set_task(self.run_id, key, job_name=job_name)
            job = task.batch.submit(self.session, job_name)
            log.info("run %s: task %s started job %s", self.run_id, key, job_name)
        timeout = self._timeout_s(task)
        deadline = None if timeout is None else time.monotonic() + timeout
        status = job.status
        while status not in st.FINAL:
            if self.store.cancel_requested(self.run_id):
                job.cancel()
                job.wait()
                raise _Cancelled
            if deadline is not None and time.monotonic() > deadline:
                job.cancel()
                job.wait()
                raise _TaskFailed(
                    f"job {job.name} ran past the task's timeout of {timeout * 1000:.0f} ms"
                    if timeout
                    else f"job {job.name} timed out"
                )
            time.sleep(0.1)
            status = job.status
        if status != st.DONE:
            raise _TaskFailed(f"job {job.name} ended {status}: {job.message or 'no message'}")
        return json.dumps({"output_stage_location": job.output_location})

    def _condition_holds(self, task: DAGTask) -> bool:
        assert task.condition is not None
        preds = [p.name.lower() for p in task._predecessors]

        def value(match: re.Match[str]) -> str:
            name = (match.group(1) or match.group(2) or "").split("$")[-1].lower()
            if not name and len(preds) == 1:
                name = preds[0]
            row = self.store.task_run(self.run_id, name) if name in preds else None
            found = None if row is None else row["return_value"]
            return "NULL" if found is None else "'" + found.replace("'", "''") + "'"

        sql = PREDECESSOR_VALUE.sub(value, task.condition)
        table = self.session.sql(f"SELECT CAST(({sql}) AS BOOLEAN) AS ok").to_arrow()
        return bool(table.column(0)[0].as_py())


def _takes_an_argument(fn: Callable[..., Any]) -> bool:
    """Whether a task's callable takes the session (Snowflake's do); a bare ``fn()`` is fine too."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is not p.KEYWORD_ONLY for p in params)


def execute_run(session: Session, run_id: int) -> str | None:
    """Claim and run a DAG run in this process; its final state, or None when not claimed."""
    store = DagStore(session.catalog)
    pid = os.getpid()
    row = store.claim_run(run_id, pid, process_started(pid))
    if row is None:
        return None
    try:
        runner = _Runner(session, run_id, row)
    except Exception as exc:  # e.g. a callable's module that this Python cannot import
        message = f"the DAG's definition cannot be loaded: {type(exc).__name__}: {exc}"
        store.finish_run(run_id, ds.FAILED, now(), (str(row["dag"]), message))
        log.error("run %s: %s", run_id, message)
        return ds.FAILED
    state = runner.run()
    if runner.abandoned_threads:  # a callable ran past its timeout: end it with the process
        logging.shutdown()
        os._exit(0)
    return state


def main(argv: list[str]) -> int:
    import squall

    configure_logging()
    home, run_id = argv[0], int(argv[1])
    session = squall.connect(home)
    state = execute_run(session, run_id)
    if state is None:
        log.info("run %s is held by another runner, or has ended", run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
