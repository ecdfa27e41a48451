"""Task DAGs: batch inference as one step of a scheduled pipeline.

Names and semantics follow snowflake.core's ``task.dagv1`` and snowflake-ml's
``BatchInferenceTask``::

    from squall.tasks import DAG, DAGTask, DAGOperation, Cron, TaskContext, CreateMode

    with DAG("nightly", schedule=Cron("0 2 * * *", "UTC")) as dag:
        prep = DAGTask("prep", definition="CREATE OR REPLACE TABLE t AS SELECT 1 AS x")
        ...
    DAGOperation(session).deploy(dag)

``squall scheduler`` runs deployed DAGs on their schedules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.tasks.context import TaskContext
    from squall.tasks.dag import DAG, CreateMode, DAGTask
    from squall.tasks.inference import BatchInferenceTask
    from squall.tasks.operation import DAGOperation, DAGRun
    from squall.tasks.schedule import Cron

__all__ = [
    "DAG",
    "BatchInferenceTask",
    "CreateMode",
    "Cron",
    "DAGOperation",
    "DAGRun",
    "DAGTask",
    "TaskContext",
]

_LAZY = {
    "DAG": "squall.tasks.dag",
    "DAGTask": "squall.tasks.dag",
    "CreateMode": "squall.tasks.dag",
    "Cron": "squall.tasks.schedule",
    "TaskContext": "squall.tasks.context",
    "BatchInferenceTask": "squall.tasks.inference",
    "DAGOperation": "squall.tasks.operation",
    "DAGRun": "squall.tasks.operation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'squall.tasks' has no attribute {name!r}")
