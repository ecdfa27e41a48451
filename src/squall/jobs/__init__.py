"""Batch jobs: the ``Job`` handle, listing, lookup and deletion."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.jobs.job import Job, Progress
    from squall.jobs.manage import delete_job, get_job, list_jobs

__all__ = ["Job", "Progress", "delete_job", "get_job", "list_jobs"]

# Loaded on first use, so a supervisor importing squall.jobs.supervisor skips pandas.
_LAZY = {
    "Job": "squall.jobs.job",
    "Progress": "squall.jobs.job",
    "delete_job": "squall.jobs.manage",
    "get_job": "squall.jobs.manage",
    "list_jobs": "squall.jobs.manage",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'squall.jobs' has no attribute {name!r}")
