"""The narrow contract between a job's supervisor and the compute that runs its shards.

An executor starts workers, hands a shard to an idle worker, and reports what happened as
events. It holds no job logic: retries, progress, commit and cancel live in the supervisor.
Only shard ids and small messages cross it; data moves through storage.

Compute pools are plugins: ``COMPUTE_POOLS`` maps a pool's name to its executor class
(imported on first use, its extra named when missing). Every executor passes the
conformance suite in ``tests/compute/``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import cast

from squall.batch.shards import ShardRef
from squall.errors import InvalidSpecError
from squall.plugins import Plugin, PluginRegistry

__all__ = [
    "COMPUTE_POOLS",
    "Event",
    "EventKind",
    "Executor",
    "ExecutorContext",
    "ShardTask",
    "check_pool",
    "create_executor",
    "executor_class",
]


class EventKind(enum.StrEnum):
    """What a worker reports."""

    READY = "ready"  # the model loaded; the worker takes shards
    PROGRESS = "progress"  # rows of the current shard inferred
    DONE = "done"  # the current shard's part committed
    FAILED = "failed"  # the current shard failed (or, with no shard, the worker's start)
    DIED = "died"  # the worker is gone (reported by the executor, never by the worker)


@dataclass
class Event:
    """Something a worker did; the fields past ``rows`` are set by the kinds named."""

    kind: EventKind
    worker: str
    shard: int | None = None
    rows: int = 0
    error_rows: int = 0  # PROGRESS, DONE
    error: str | None = None  # FAILED: ``Type: message``
    traceback: str | None = None  # FAILED
    batch_rows: tuple[int, int] | None = None  # FAILED: input rows of the failing batch
    startup: bool = False  # FAILED: the worker could not load the model
    seconds: float = 0.0  # DONE
    first_error: tuple[int, str] | None = None  # DONE: first bad row (on_error="continue")
    kept: bool = False  # DONE: an earlier attempt had committed the part
    pid: int | None = None  # READY
    modules: list[str] = field(default_factory=list)  # READY: libraries loading imported
    exitcode: int | None = None  # DIED


@dataclass(frozen=True)
class ShardTask:
    """One shard for a worker: its reference, attempt number (from 1) and first input row."""

    shard: int
    ref: ShardRef
    attempt: int = 1
    first_row: int = 0


@dataclass(frozen=True)
class ExecutorContext:
    """What an executor is handed: the job, where its logs go, and its plan (JSON)."""

    home: str
    job_id: str
    log_dir: str
    plan_json: str
    model_kind: str = ""  # the model's kind ("sklearn", ...); "" when unknown
    pool: str = "local"  # the compute pool's name, for messages
    address: str = ""  # the pool's address, for an engine that runs elsewhere (Ray)
    shared_fs: bool = True  # whether workers see the workspace folder (see compute/ray.py)
    keep_warm_s: float = 0.0  # how long workers wait for the pool's next job (compute/ray.py)


class Executor(ABC):
    """Runs a job's workers somewhere; one instance per supervisor."""

    def __init__(self, context: ExecutorContext) -> None:
        self.context = context

    @abstractmethod
    def start_worker(self) -> str:
        """Start one worker; return its id. A ``READY`` event follows once its model loaded."""

    @abstractmethod
    def submit(self, worker: str, task: ShardTask) -> None:
        """Hand one shard to an idle worker.

        A worker that died meanwhile is no error here: its death comes as a ``DIED`` event.
        """

    @abstractmethod
    def events(self, timeout: float) -> list[Event]:
        """Events since the last call, waiting up to ``timeout`` seconds for the first."""

    @abstractmethod
    def stop_worker(self, worker: str) -> None:
        """End one worker now (a dead worker's remains, or a surplus one)."""

    @abstractmethod
    def shutdown(self, grace: float = 3.0) -> None:
        """End every worker, giving each ``grace`` seconds to exit, and wait until all are gone."""

    @classmethod
    def preflight(cls, context: ExecutorContext) -> None:
        """Before anything of the job is written: fail if the pool cannot run it.

        An engine that runs elsewhere checks here that it is reachable and has the
        resources the plan asks for, raising an error that names the pool and what is
        missing. The default (this machine) has nothing to check.
        """
        return None

    def worker_limit(self) -> int | None:
        """How many workers this job may run at once here (None: as many as it asks)."""
        return None

    def pid(self, worker: str) -> int | None:
        """The worker's process id, where it is a process on this machine."""
        return None

    def keep_warm(self) -> None:
        """After the job ended: keep what makes the next job's workers start sooner."""
        return None  # nothing, unless the compute pool has something to keep


COMPUTE_POOLS = PluginRegistry(
    "compute pool",
    "compute pools",
    Executor,
    {
        "local": Plugin("squall.compute.local:LocalExecutor"),
        "ray": Plugin("squall.compute.ray:RayExecutor", "ray"),
    },
)


def check_pool(pool: str | None) -> str:
    """The compute pool's registered name (default ``local``); InvalidSpecError if unknown."""
    name = (pool or "local").lower()
    if name not in COMPUTE_POOLS:
        raise InvalidSpecError(
            f"unknown compute_pool {pool!r}; choose one of {', '.join(COMPUTE_POOLS)}"
        )
    return name


def executor_class(engine: str) -> type[Executor]:
    """The executor class of a compute engine, by name; optional engines load lazily."""
    return cast(type[Executor], COMPUTE_POOLS.load(check_pool(engine)))


def create_executor(engine: str, context: ExecutorContext) -> Executor:
    """The executor of a compute engine, by name; optional engines load lazily."""
    return executor_class(engine)(context)
