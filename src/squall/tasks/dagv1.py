"""The DAG API under the module name snowflake.core uses (``snowflake.core.task.dagv1``)."""

from squall.tasks.dag import DAG, CreateMode, DAGTask
from squall.tasks.operation import DAGOperation, DAGRun

__all__ = ["DAG", "CreateMode", "DAGOperation", "DAGRun", "DAGTask"]
