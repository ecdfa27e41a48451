"""``SquallJobSensor``: waits for a squall job started elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from squall.integrations.airflow._jobs import FINAL
from squall.integrations.airflow.hooks import SquallHook
from squall.integrations.airflow.triggers import SquallJobTrigger

__all__ = ["SquallJobSensor"]


class SquallJobSensor(BaseSensorOperator):
    """Succeeds when the squall job ``job_name`` (templated) ends DONE; fails when it ends otherwise.

    Its XCom ``return_value`` is ``{"job_name", "status", "output_stage_location"}``, like
    :class:`SquallRunBatchOperator`'s. With ``deferrable=True`` the wait is handed to
    :class:`SquallJobTrigger`, polling every ``poke_interval`` seconds.
    """

    template_fields: Sequence[str] = ("job_name",)

    def __init__(
        self,
        *,
        job_name: str,
        squall_home: str | None = None,
        squall_conn_id: str = SquallHook.default_conn_name,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.squall_home = squall_home
        self.squall_conn_id = squall_conn_id
        self.deferrable = deferrable

    @property
    def hook(self) -> SquallHook:
        return SquallHook(self.squall_conn_id, squall_home=self.squall_home)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        summary = self.hook.job_summary(self.job_name)
        self.log.info("squall job %s is %s", summary["job_name"], summary["status"])
        if summary["status"] not in FINAL:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.hook.job_result(self.job_name))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        hook = self.hook
        if hook.job_summary(self.job_name)["status"] in FINAL:
            return hook.job_result(self.job_name)
        self.defer(
            trigger=SquallJobTrigger(
                job_name=self.job_name,
                squall_home=hook.get_home(),
                poll_interval=float(self.poke_interval),
            ),
            method_name="execute_complete",
            timeout=self.timeout,
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resumes the sensor once :class:`SquallJobTrigger` saw the job end."""
        return self.hook.event_result(event)
