"""What the local pool's fork server loads once, before it forks any worker.

A worker spends most of its start importing pandas, pyarrow and the model's library. The
local pool forks its workers from a fork server (a fresh, single-threaded process) that
imported them already, so the second and later workers of a job, and every retry, start
in milliseconds instead of each importing them again on the job's few cores.

The fork server imports this module; ``SQUALL_WORKER_PRELOAD`` names the model's kind, whose
library loads too. Only modules are imported here, never the model itself: a model's own
loading may start threads, which a fork must not copy. A module that fails to import is
reported and skipped: the worker imports it again, and fails there if it must.
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = ["PRELOAD_ENV", "preload"]

PRELOAD_ENV = "SQUALL_WORKER_PRELOAD"

# What every local worker imports before it runs a shard. (Not the supervisor's module:
# each worker runs it afresh as its main module, and it imports little.)
_WORKER_MODULES = (
    "squall.compute.local",
    "squall.batch.worker",
    "squall.stages",
    "squall.model.packaging",
    "threadpoolctl",
)


def preload(model_type: str) -> None:
    """Import the worker's modules and those of the model kind's library."""
    names: list[str] = list(_WORKER_MODULES)
    try:
        from squall.model.handlers import get_handler

        names += get_handler(model_type).libraries if model_type else ()
    except Exception as exc:  # an unknown kind or a missing library: the worker reports it
        print(f"worker preload: model kind {model_type!r}: {exc}", file=sys.stderr, flush=True)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            print(f"worker preload: {name}: {exc}", file=sys.stderr, flush=True)


if PRELOAD_ENV in os.environ:
    preload(os.environ[PRELOAD_ENV])
