"""``SquallJobTrigger``: watches a squall job from Airflow's triggerer until it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from squall.errors import JobNotFoundError
from squall.integrations.airflow._jobs import FINAL, cancel_job, job_state, open_workspace

__all__ = ["SquallJobTrigger"]


class SquallJobTrigger(BaseTrigger):
    """Fires one ``TriggerEvent`` once the job ``job_name`` of the workspace ``squall_home`` ends.

    The event's payload is the job's state: ``job_name``, ``status`` (DONE, FAILED,
    CANCELLED or INTERNAL_ERROR), ``message`` and ``output_stage_location``; a job that
    vanished gives ``status="NOT_FOUND"``. The triggerer must see the same workspace folder
    as the workers. When a user kills the deferred task, the job is cancelled.
    """

    def __init__(self, job_name: str, squall_home: str, poll_interval: float = 10.0) -> None:
        super().__init__()
        self.job_name = job_name
        self.squall_home = squall_home
        self.poll_interval = float(poll_interval)
        self._session: Any = None

    def _workspace(self) -> Any:
        if self._session is None:
            self._session = open_workspace(self.squall_home)
        return self._session

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "squall_home": self.squall_home,
                "poll_interval": self.poll_interval,
            },
        )

    def _state(self) -> dict[str, Any]:
        # Runs in a thread: squall's catalog is SQLite, whose calls block.
        try:
            return job_state(self._workspace(), self.job_name)
        except JobNotFoundError as exc:
            return {
                "job_name": self.job_name,
                "status": "NOT_FOUND",
                "message": str(exc),
                "output_stage_location": None,
            }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            state = await asyncio.to_thread(self._state)
            if state["status"] in FINAL or state["status"] == "NOT_FOUND":
                yield TriggerEvent(state)
                return
            self.log.info("squall job %s is %s", self.job_name, state["status"])
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        await asyncio.to_thread(lambda: cancel_job(self._workspace(), self.job_name))
