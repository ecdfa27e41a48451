"""Compute pools: where a job's workers run (``local`` processes, or a Ray cluster)."""

from squall.compute.base import (
    COMPUTE_POOLS,
    Event,
    EventKind,
    Executor,
    ExecutorContext,
    ShardTask,
    check_pool,
    create_executor,
)

__all__ = [
    "COMPUTE_POOLS",
    "Event",
    "EventKind",
    "Executor",
    "ExecutorContext",
    "ShardTask",
    "check_pool",
    "create_executor",
]
