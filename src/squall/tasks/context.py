"""``TaskContext``: what a running task knows about its DAG run, and how it passes values on."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall.errors import InvalidArgumentError, NotFoundError, SquallError
from squall.tasks.schedule import to_datetime
from squall.tasks.store import DagStore

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["CurrentTask", "TaskContext", "current_task"]


@dataclass(frozen=True)
class CurrentTask:
    """The task a DAG runner is running in this thread."""

    run_id: int
    dag: str
    task: str
    predecessors: tuple[str, ...]
    config: dict[str, Any] | None
    scheduled_time: float


_local = threading.local()


class current_task:
    """``with current_task(info):`` makes ``info`` the task a TaskContext speaks of."""

    def __init__(self, info: CurrentTask) -> None:
        self.info = info

    def __enter__(self) -> CurrentTask:
        _local.task = self.info
        return self.info

    def __exit__(self, *exc: object) -> None:
        _local.task = None


class TaskContext:
    """The context of the DAG task being run; build it inside a task's callable.

    ``set_return_value`` passes a string to the successors, which read it with
    ``get_predecessor_return_value``; ``get_task_graph_config`` is the DAG's ``config``.
    """

    def __init__(self, session: Session) -> None:
        info = getattr(_local, "task", None)
        if info is None:
            raise SquallError(
                "TaskContext is only available inside a DAG task while it runs "
                "(a callable given as a DAGTask definition)"
            )
        self._session = session
        self._info: CurrentTask = info
        self._store = DagStore(session.catalog)

    def set_return_value(self, value: Any) -> None:
        """Set this task's return value (kept as a string) for its successors to read."""
        self._store.set_return_value(self._info.run_id, self._info.task, str(value))

    def get_predecessor_return_value(self, task_name: str | None = None) -> str | None:
        """The return value of a predecessor: by name, or the only one when no name is given."""
        preds = self._info.predecessors
        if task_name is None:
            if len(preds) != 1:
                raise InvalidArgumentError(
                    f"task {self._info.task!r} has {len(preds)} predecessors {list(preds)}; "
                    "name the one to read"
                )
            task_name = preds[0]
        key = task_name.split("$")[-1].lower()
        if key not in preds:
            raise NotFoundError(
                f"{task_name!r} is not a predecessor of task {self._info.task!r}: {list(preds)}"
            )
        row = self._store.task_run(self._info.run_id, key)
        return None if row is None else row["return_value"]

    def get_current_task_name(self) -> str:
        """The task's full name: ``DAG$TASK``."""
        return f"{self._info.dag}${self._info.task}"

    def get_current_task_short_name(self) -> str:
        return self._info.task

    def get_current_root_task_name(self) -> str:
        """The DAG's name (Snowflake names the root task after the DAG)."""
        return self._info.dag

    def get_current_run_id(self) -> int:
        return self._info.run_id

    def get_task_graph_config(self) -> dict[str, Any] | None:
        """The DAG's ``config`` as deployed (a copy)."""
        config = self._info.config
        return None if config is None else json.loads(json.dumps(config))

    def get_task_graph_config_property(self, property_name: str) -> Any:
        config = self._info.config or {}
        return config.get(property_name)

    def get_current_task_graph_original_schedule(self) -> dt.datetime:
        """When the run was scheduled (for a manual run: when it was asked for)."""
        when = to_datetime(self._info.scheduled_time)
        assert when is not None
        return when
