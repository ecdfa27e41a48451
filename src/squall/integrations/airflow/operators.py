"""``SquallRunBatchOperator``: one ``run_batch`` job as a task of an Airflow DAG."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.definitions.param import ParamsDict

from squall import jobs
from squall.batch import JobSpec
from squall.integrations.airflow._jobs import FINAL, BatchRequest
from squall.integrations.airflow.hooks import SquallHook
from squall.integrations.airflow.triggers import SquallJobTrigger

__all__ = ["XCOM_JOB_NAME", "SquallRunBatchOperator"]

XCOM_JOB_NAME = "job_name"


class SquallRunBatchOperator(BaseOperator):
    """Runs a registered model over a query, a table or stage files as a squall batch job.

    ``execute`` submits the job, pushes its name to XCom ``job_name`` and, with
    ``wait_for_termination``, waits for it: polling every ``poll_interval`` seconds, or
    with ``deferrable=True`` handing the wait to :class:`SquallJobTrigger` so no worker slot
    is held. The return value (XCom ``return_value``) is
    ``{"job_name": ..., "status": "DONE", "output_stage_location": "@stage/path/"}``; a job
    that ends FAILED, CANCELLED or INTERNAL_ERROR fails the task with the job's message and
    its last log lines. Killing the task cancels the job.

    :param model_name: the registered model; ``version_name`` defaults to its default version.
    :param sql: a query of the workspace's warehouse (templated); or ``table=`` a table name,
        or ``files=`` a stage path whose files become a column ``file_column`` of stage paths
        (``file_pattern`` a regular expression they must match; pair with ``column_handling``).
    :param stage_location: the output folder (templated), or ``base_stage_location`` under which
        each job writes ``<job name>/``; ``mode`` is ``"error"`` (default) or ``"overwrite"``.
    :param params: the model's parameters for this job (templated). These are also this task's
        Airflow params, so ``{{ params.threshold }}`` works in ``sql``; parameters the DAG sets
        for all its tasks are not passed to the model. ``model_params=`` sets the model's
        parameters apart from Airflow's params.
    :param job_spec: a :class:`squall.batch.JobSpec` or a dict of its fields.
    :param compute_pool: the squall compute pool; ``None`` is the workspace's default.
    :param squall_home: the workspace folder; else the connection ``squall_conn_id``.
    """

    template_fields: Sequence[str] = (
        "sql",
        "table",
        "files",
        "stage_location",
        "base_stage_location",
        "model_params",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "model_params": "json"}
    ui_color = "#cfe8ff"

    def __init__(
        self,
        *,
        model_name: str,
        version_name: str | None = None,
        sql: str | None = None,
        table: str | None = None,
        files: str | None = None,
        file_pattern: str | None = None,
        file_column: str = "FILE_PATH",
        column_handling: Mapping[str, Any] | None = None,
        partition_column: str | None = None,
        stage_location: str | None = None,
        base_stage_location: str | None = None,
        mode: str = "error",
        params: MutableMapping[str, Any] | None = None,
        model_params: Mapping[str, Any] | None = None,
        job_spec: JobSpec | Mapping[str, Any] | None = None,
        compute_pool: str | None = None,
        squall_home: str | None = None,
        squall_conn_id: str = SquallHook.default_conn_name,
        wait_for_termination: bool = True,
        poll_interval: float = 10.0,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(params=params, **kwargs)
        self.model_name = model_name
        self.version_name = version_name
        self.sql = sql
        self.table = table
        self.files = files
        self.file_pattern = file_pattern
        self.file_column = file_column
        self.column_handling = column_handling
        self.partition_column = partition_column
        self.stage_location = stage_location
        self.base_stage_location = base_stage_location
        self.mode = mode
        # Airflow hands every task the DAG's params merged with its own: only the task's own
        # go to the model.
        if model_params is None and isinstance(self.params, ParamsDict):
            model_params = ParamsDict.filter_params_by_source(self.params, "task").dump()
        self.model_params = dict(model_params) if model_params else None
        self.job_spec = job_spec
        self.compute_pool = compute_pool
        self.squall_home = squall_home
        self.squall_conn_id = squall_conn_id
        self.wait_for_termination = wait_for_termination
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.job_name: str | None = None
        self._request().check()

    def _request(self) -> BatchRequest:
        return BatchRequest(
            model_name=self.model_name,
            version_name=self.version_name,
            sql=self.sql,
            table=self.table,
            files=self.files,
            file_pattern=self.file_pattern,
            file_column=self.file_column,
            stage_location=self.stage_location,
            base_stage_location=self.base_stage_location,
            mode=self.mode,
            params=self.model_params,
            column_handling=self.column_handling,
            partition_column=self.partition_column,
            job_spec=self.job_spec,
            compute_pool=self.compute_pool,
        )

    @property
    def hook(self) -> SquallHook:
        return SquallHook(self.squall_conn_id, squall_home=self.squall_home)

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        session = hook.get_conn()
        job = self._request().submit(session)
        self.job_name = job.name
        context["ti"].xcom_push(key=XCOM_JOB_NAME, value=job.name)
        self.log.info("submitted squall job %s, writing to %s", job.name, job.output_location)
        if not self.wait_for_termination:
            return hook.job_summary(job.name)
        if self.deferrable and job.status not in FINAL:
            self.defer(
                trigger=SquallJobTrigger(
                    job_name=job.name,
                    squall_home=str(session.home),
                    poll_interval=self.poll_interval,
                ),
                method_name="execute_complete",
                timeout=self.execution_timeout,
            )
        self._wait(job)
        return hook.job_result(job.name)

    def _wait(self, job: jobs.Job) -> None:
        while (status := job.status) not in FINAL:
            self.log.info("squall job %s is %s: %s", job.name, status, job.progress)
            try:
                job.wait(timeout=self.poll_interval, poll=self.poll_interval)
            except TimeoutError:
                continue

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resumes the task once :class:`SquallJobTrigger` saw the job end."""
        self.job_name = (event or {}).get("job_name")
        return self.hook.event_result(event)

    def on_kill(self) -> None:
        if self.job_name:
            status = self.hook.cancel_job(self.job_name)
            self.log.info("cancelled squall job %s: %s", self.job_name, status)
