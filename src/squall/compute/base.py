"""The narrow contract between a job's supervisor and the compute that runs its shards.

An executor starts workers, hands a shard to an idle worker, and reports what happened as
events. It holds no job logic: retries, progress, commit and cancel live in the supervisor.
Only shard ids and small messages cross it; data moves through storage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "Executor", "get_executor"]


@dataclass
class Event:
    """Something a worker did: ``ready``, ``progress``, ``done``, ``failed`` or ``died``."""

    kind: str
    worker: str
    shard: int | None = None
    rows: int = 0
    info: dict[str, Any] = field(default_factory=dict)


class Executor(ABC):
    """Runs a job's workers somewhere; one instance per supervisor."""

    @abstractmethod
    def start_worker(self) -> str:
        """Start one worker; return its id. A ``ready`` event follows once its model loaded."""

    @abstractmethod
    def submit(
        self, worker: str, shard: int, path: str, *, attempt: int = 1, first_row: int = 0
    ) -> None:
        """Hand one shard to an idle worker: its attempt number (from 1) and first input row.

        A worker that died meanwhile is no error here: its death comes as a ``died`` event.
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

    def keep_warm(self) -> None:
        """After the job ended: keep what makes the next job's workers start sooner."""
        return None  # nothing, unless the compute pool has something to keep


def get_executor(pool: str, home: str, job_id: str, log_dir: str) -> Executor:
    """The executor of a compute pool, by name; optional engines load lazily."""
    if pool == "local":
        from squall.compute.local import LocalExecutor

        return LocalExecutor(home, job_id, log_dir)
    raise ValueError(f"unknown compute pool {pool!r}")
