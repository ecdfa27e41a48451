"""``SquallHook``: which squall workspace a task works on, from an Airflow connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

import squall
from squall.config import default_home
from squall.integrations.airflow._jobs import (
    DONE,
    cancel_job,
    failure_message,
    job_state,
    open_workspace,
)

__all__ = ["SquallHook"]


class SquallHook(BaseHook):
    """Opens the squall workspace named by ``squall_home`` or by a ``squall`` connection.

    The connection keeps the workspace folder in its extra ``home``, e.g.
    ``AIRFLOW_CONN_SQUALL_DEFAULT='{"conn_type": "squall", "extra": {"home": "/data/squall"}}'``.
    An explicit ``squall_home`` wins; when the default connection ``squall_default`` is not
    defined either, the workspace is squall's own default (``$SQUALL_HOME``, else ``~/.squall``).
    """

    conn_name_attr = "squall_conn_id"
    default_conn_name = "squall_default"
    conn_type = "squall"
    hook_name = "squall"

    def __init__(
        self,
        squall_conn_id: str = default_conn_name,
        squall_home: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.squall_conn_id = squall_conn_id
        self.squall_home = squall_home

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["host", "schema", "login", "password", "port"],
            "relabeling": {},
            "placeholders": {"extra": '{"home": "/data/squall"}'},
        }

    def get_home(self) -> str:
        """The workspace folder, as an absolute path."""
        if self.squall_home:
            return str(Path(self.squall_home).expanduser().resolve())
        try:
            conn = self.get_connection(self.squall_conn_id)
        except AirflowNotFoundException:
            if self.squall_conn_id != self.default_conn_name:
                raise
            return str(default_home().resolve())
        home = conn.extra_dejson.get("home")
        if not home:
            raise AirflowException(
                f"connection {self.squall_conn_id!r} names no squall workspace: "
                'set its extra to {"home": "<workspace folder>"}'
            )
        return str(Path(home).expanduser().resolve())

    def get_conn(self) -> squall.Session:
        """A session on the workspace (not made the process's active session)."""
        return open_workspace(self.get_home())

    def job_summary(self, job_name: str) -> dict[str, Any]:
        """``{"job_name", "status", "output_stage_location"}`` of the job, as it is now."""
        state = job_state(self.get_conn(), job_name)
        return {k: state[k] for k in ("job_name", "status", "output_stage_location")}

    def job_result(self, job_name: str) -> dict[str, Any]:
        """The summary of an ended job; ``AirflowException`` with its message unless DONE."""
        summary = self.job_summary(job_name)
        if summary["status"] != DONE:
            raise AirflowException(failure_message(self.get_conn(), job_name))
        return summary

    def event_result(self, event: dict[str, Any] | None) -> dict[str, Any]:
        """``job_result`` for the job a :class:`SquallJobTrigger` event reports on."""
        if not event or "job_name" not in event:
            raise AirflowException(f"the squall trigger sent no job state: {event!r}")
        if event.get("status") == "NOT_FOUND":
            raise AirflowException(str(event.get("message")))
        return self.job_result(event["job_name"])

    def cancel_job(self, job_name: str) -> str:
        """Ask the job to stop; its status after the request."""
        return cancel_job(self.get_conn(), job_name)
