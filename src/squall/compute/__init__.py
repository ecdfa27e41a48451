"""Compute pools: where a job's workers run (``local`` processes, or a Ray cluster)."""

from squall.compute.base import Event, Executor, get_executor

__all__ = ["Event", "Executor", "get_executor"]
