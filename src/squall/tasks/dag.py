"""``DAG`` and ``DAGTask``: a graph of tasks, declared in Python, run by squall's scheduler.

The names and semantics follow snowflake.core's ``task.dagv1``::

    with DAG("nightly", schedule=Cron("0 2 * * *", "UTC")) as dag:
        prep = DAGTask("prep", definition="CREATE OR REPLACE TABLE t AS SELECT 1 AS x")
        report = DAGTask("report", definition=my_function)   # called with the session
        prep >> report
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from squall.errors import InvalidArgumentError
from squall.tasks.schedule import Cron

__all__ = ["DAG", "CreateMode", "DAGTask"]

# SYSTEM$GET_PREDECESSOR_RETURN_VALUE('name') in a task's condition.
PREDECESSOR_VALUE = re.compile(
    r"SYSTEM\$GET_PREDECESSOR_RETURN_VALUE\(\s*(?:'([^']*)'|\"([^\"]*)\"|)\s*\)", re.I
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,254}$")
_context = threading.local()


class CreateMode(enum.StrEnum):
    """What ``DAGOperation.deploy`` does when a DAG of that name exists already."""

    error_if_exists = "error_if_exists"
    or_replace = "or_replace"
    if_not_exists = "if_not_exists"


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"{what} name {name!r} is not valid: use letters, digits, _ and -, "
            "starting with a letter or _ (at most 255 characters)"
        )
    return name


def _current_dag() -> DAG | None:
    stack: list[DAG] = getattr(_context, "stack", [])
    return stack[-1] if stack else None


class DAG:
    """A task graph with an optional schedule; use it as a context manager to add tasks.

    ``schedule`` is a ``Cron``, a ``timedelta`` (whole minutes, 1 minute to 8 days) or None
    (runs only when asked). ``config`` is a JSON-able dict every task reads through
    ``TaskContext.get_task_graph_config()``. ``task_auto_retry_attempts`` retries a failed
    run from its failed task; ``suspend_task_after_num_failures`` suspends the DAG after that
    many failed runs in a row; ``allow_overlapping_execution`` lets a scheduled run start
    while the previous one still runs; ``user_task_timeout_ms`` fails a task running longer.
    Options of Snowflake that mean nothing on one machine (``warehouse``, ``stage_location``,
    ``packages``, ``imports``, ``session_parameters`` ...) are accepted and kept, not used.
    """

    def __init__(
        self,
        name: str,
        *,
        schedule: Cron | dt.timedelta | None = None,
        warehouse: str | None = None,
        user_task_managed_initial_warehouse_size: str | None = None,
        error_integration: str | None = None,
        comment: str | None = None,
        task_auto_retry_attempts: int | None = None,
        allow_overlapping_execution: bool | None = None,
        user_task_timeout_ms: int | None = None,
        suspend_task_after_num_failures: int | None = None,
        config: dict[str, Any] | None = None,
        session_parameters: dict[str, Any] | None = None,
        stage_location: str | None = None,
        imports: list[Any] | None = None,
        packages: list[str] | None = None,
        use_func_return_value: bool = False,
    ) -> None:
        self.name = check_name(name, "DAG")
        self.schedule = schedule
        self.warehouse = warehouse
        self.user_task_managed_initial_warehouse_size = user_task_managed_initial_warehouse_size
        self.error_integration = error_integration
        self.comment = comment
        self.task_auto_retry_attempts = _count(task_auto_retry_attempts, "task_auto_retry_attempts")
        self.allow_overlapping_execution = bool(allow_overlapping_execution)
        self.user_task_timeout_ms = _count(user_task_timeout_ms, "user_task_timeout_ms")
        self.suspend_task_after_num_failures = _count(
            suspend_task_after_num_failures, "suspend_task_after_num_failures"
        )
        self.config = config
        self.session_parameters = session_parameters
        self.stage_location = stage_location
        self.imports = imports
        self.packages = packages
        self.use_func_return_value = use_func_return_value
        self._tasks: dict[str, DAGTask] = {}

    def __repr__(self) -> str:
        return f"DAG(name={self.name!r}, schedule={self.schedule!r}, tasks={list(self._tasks)})"

    def __enter__(self) -> DAG:
        stack = getattr(_context, "stack", None)
        if stack is None:
            stack = _context.stack = []
        stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _context.stack.pop()

    @property
    def tasks(self) -> list[DAGTask]:
        return list(self._tasks.values())

    def __contains__(self, task: DAGTask | str) -> bool:
        name = task.name if isinstance(task, DAGTask) else task
        return isinstance(name, str) and name.lower() in self._tasks

    def __iter__(self) -> Iterator[DAGTask]:
        return iter(self.tasks)

    def add_task(self, task: DAGTask) -> None:
        """Add a task (tasks built inside ``with dag:`` are added by themselves)."""
        if task.dag is not None and task.dag is not self:
            raise InvalidArgumentError(f"task {task.name!r} belongs to DAG {task.dag.name!r}")
        key = task.name.lower()
        if self._tasks.get(key, task) is not task:
            raise InvalidArgumentError(f"DAG {self.name!r} already has a task named {task.name!r}")
        self._tasks[key] = task
        task.dag = self

    def get_task(self, name: str) -> DAGTask | None:
        return self._tasks.get(name.lower()) if isinstance(name, str) else None

    def get_finalizer_task(self) -> DAGTask | None:
        found = [t for t in self._tasks.values() if t.is_finalizer]
        return found[0] if found else None


def _count(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{what} must be a non-negative int, not {value!r}")
    return value


class DAGTask:
    """One task of a DAG: SQL run on the warehouse, or a Python callable given the session.

    ``a >> b`` (or ``a.add_successors(b)``) makes ``b`` run after ``a``; either side may be a
    list. ``condition`` is a SQL boolean expression checked before the task runs (it may call
    ``SYSTEM$GET_PREDECESSOR_RETURN_VALUE('name')``); when false the task and its successors
    are skipped. A finalizer (``is_finalizer=True``, at most one, with no edges) runs after
    every run of the DAG, whatever its outcome.
    """

    def __init__(
        self,
        name: str,
        definition: str | Callable[..., Any],
        *,
        condition: str | None = None,
        warehouse: str | None = None,
        session_parameters: dict[str, Any] | None = None,
        user_task_managed_initial_warehouse_size: str | None = None,
        target_completion_interval: dt.timedelta | None = None,
        serverless_task_min_statement_size: str | None = None,
        serverless_task_max_statement_size: str | None = None,
        user_task_timeout_ms: int | None = None,
        error_integration: str | None = None,
        comment: str | None = None,
        is_finalizer: bool = False,
        is_serverless: bool = False,
        dag: DAG | None = None,
    ) -> None:
        self.name = check_name(name, "task")
        if not (isinstance(definition, str) or callable(definition)):
            raise InvalidArgumentError(
                f"task {name!r}: definition must be SQL text or a callable taking the session, "
                f"not {type(definition).__name__}"
            )
        self.definition = definition
        self.condition = condition
        self.warehouse = warehouse
        self.session_parameters = session_parameters
        self.user_task_managed_initial_warehouse_size = user_task_managed_initial_warehouse_size
        self.target_completion_interval = target_completion_interval
        self.serverless_task_min_statement_size = serverless_task_min_statement_size
        self.serverless_task_max_statement_size = serverless_task_max_statement_size
        self.user_task_timeout_ms = _count(user_task_timeout_ms, "user_task_timeout_ms")
        self.error_integration = error_integration
        self.comment = comment
        self.is_finalizer = bool(is_finalizer)
        self.is_serverless = is_serverless
        self._predecessors: list[DAGTask] = []
        self.dag: DAG | None = None
        owner = dag if dag is not None else _current_dag()
        if owner is not None:
            owner.add_task(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def full_name(self) -> str:
        """``DAG$TASK``, as Snowflake names a DAG's child task."""
        return f"{self.dag.name}${self.name}" if self.dag is not None else self.name

    @property
    def predecessors(self) -> set[DAGTask]:
        return set(self._predecessors)

    @property
    def kind(self) -> str:
        return "sql" if isinstance(self.definition, str) else "python"

    def add_predecessors(self, other: DAGTask | Iterable[DAGTask]) -> None:
        for task in _tasks(other):
            self._link(task)
            if task not in self._predecessors:
                self._predecessors.append(task)

    def add_successors(self, other: DAGTask | Iterable[DAGTask]) -> None:
        for task in _tasks(other):
            task.add_predecessors(self)

    def _link(self, other: DAGTask) -> None:
        if other is self:
            raise InvalidArgumentError(f"task {self.name!r} cannot follow itself")
        if self.dag is None and other.dag is not None:
            other.dag.add_task(self)
        elif other.dag is None and self.dag is not None:
            self.dag.add_task(other)
        elif self.dag is not other.dag:
            raise InvalidArgumentError(
                f"tasks {self.name!r} and {other.name!r} belong to different DAGs"
            )

    def __rshift__(self, other: Any) -> Any:
        self.add_successors(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.add_predecessors(other)
        return other

    def __rrshift__(self, other: Any) -> DAGTask:  # [a, b] >> self
        self.add_predecessors(other)
        return self

    def __rlshift__(self, other: Any) -> DAGTask:  # [a, b] << self
        self.add_successors(other)
        return self


def _tasks(other: DAGTask | Iterable[DAGTask]) -> list[DAGTask]:
    items = [other] if isinstance(other, DAGTask) else list(other)
    for item in items:
        if not isinstance(item, DAGTask):
            raise InvalidArgumentError(f"a task can only be linked to tasks, not {item!r}")
    return items


def check_graph(dag: DAG) -> list[DAGTask]:
    """The DAG's tasks in an order that runs every task after its predecessors.

    Raises InvalidArgumentError for an empty DAG, a cycle (naming it), or a finalizer that
    is not alone: at most one, and with no predecessors or successors.
    """
    tasks = dag.tasks
    if not tasks:
        raise InvalidArgumentError(f"DAG {dag.name!r} has no tasks")
    finalizers = [t for t in tasks if t.is_finalizer]
    if len(finalizers) > 1:
        names = [t.name for t in finalizers]
        raise InvalidArgumentError(f"DAG {dag.name!r} has more than one finalizer task: {names}")
    for fin in finalizers:
        linked = fin._predecessors or any(fin in t._predecessors for t in tasks)
        if linked:
            raise InvalidArgumentError(
                f"finalizer task {fin.name!r} cannot have predecessors or successors"
            )
    order: list[DAGTask] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(task: DAGTask, path: list[DAGTask]) -> None:
        key = task.name.lower()
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            cycle = [*path[path.index(task) :], task]
            shown = " -> ".join(t.name for t in reversed(cycle))
            raise InvalidArgumentError(f"DAG {dag.name!r} has a cycle: {shown}")
        state[key] = 1
        for pred in task._predecessors:
            visit(pred, [*path, task])
        state[key] = 2
        order.append(task)

    for task in tasks:
        visit(task, [])
    return order
