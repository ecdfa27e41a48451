"""squall: local-first batch inference.

Register a model, point it at a table, a SQL query or a folder of files, and get its
predictions as Parquet on a stage, through an asynchronous job::

    import squall
    session = squall.connect("./ws")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from squall import errors
from squall.errors import SquallError

if TYPE_CHECKING:
    from squall import jobs
    from squall.session import Session, connect, get_active_session
    from squall.warehouse import DataFrame

# Loaded on first use: a job's supervisor and workers import squall's submodules without
# paying for the session's dependencies (DuckDB, pandas, fsspec).
_LAZY = {
    "Session": "squall.session",
    "connect": "squall.session",
    "get_active_session": "squall.session",
}


def __getattr__(name: str) -> Any:
    if name == "jobs":
        return importlib.import_module("squall.jobs")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'squall' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "Session",
    "SquallError",
    "__version__",
    "connect",
    "errors",
    "get_active_session",
    "jobs",
    "list_stage_files",
]


def list_stage_files(
    stage_path: str,
    pattern: str | None = None,
    column_name: str = "FILE_PATH",
    session: Session | None = None,
) -> DataFrame:
    """A DataFrame with one column of full stage paths (``@stage/a/b.png``), ready for run_batch.

    ``pattern`` is a regular expression the file's path must match.
    """
    from squall.session import get_active_session
    from squall.warehouse import DataFrame

    s = get_active_session(session)
    table = s.stages.list_stage_files(stage_path, pattern=pattern, column_name=column_name)
    return DataFrame.from_arrow(table, s.warehouse)
