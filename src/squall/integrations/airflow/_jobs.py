"""What the Airflow classes do with squall: submit a job, read its state, explain a failure.

Nothing here imports Airflow, so it reads (and is tested) as plain squall code; it uses
squall's public API only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import squall
from squall import jobs
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidArgumentError, InvalidSpecError
from squall.registry import Registry

__all__ = [
    "DONE",
    "FINAL",
    "LOG_LINES",
    "BatchRequest",
    "cancel_job",
    "failure_message",
    "job_state",
    "open_workspace",
]

DONE = "DONE"
FINAL = (DONE, "FAILED", "CANCELLED", "INTERNAL_ERROR")
# How many of the job's last log lines a failure message carries.
LOG_LINES = 20


def open_workspace(home: str) -> squall.Session:
    """A session on ``home`` that is not made the process's active one.

    An Airflow worker runs many tasks in one process; none of them should change which
    workspace another one's ``squall.connect()`` sees.
    """
    return squall.Session(home)


def job_state(session: squall.Session, job_name: str) -> dict[str, Any]:
    """The job's name, status, message and output location, as an XCom-friendly dict."""
    job = jobs.get_job(job_name, session=session)
    return {
        "job_name": job.name,
        "status": job.status,
        "message": job.message,
        "output_stage_location": job.output_location,
    }


def failure_message(session: squall.Session, job_name: str) -> str:
    """Why a job did not end DONE: its status, its message, then its last log lines."""
    job = jobs.get_job(job_name, session=session)
    text = f"squall job {job.name} ended {job.status}: {job.message or 'no message recorded'}"
    logs = job.get_logs(limit=LOG_LINES).strip()
    if logs:
        text += f"\nlast {LOG_LINES} log lines of the job:\n{logs}"
    return text


def cancel_job(session: squall.Session, job_name: str) -> str:
    """Ask the job to stop (a job that already ended is left as it is); its status after."""
    return jobs.get_job(job_name, session=session).cancel()


@dataclass
class BatchRequest:
    """One ``run_batch`` call, described by plain values (what an operator's arguments hold)."""

    model_name: str
    version_name: str | None = None
    sql: str | None = None
    table: str | None = None
    files: str | None = None
    file_pattern: str | None = None
    file_column: str = "FILE_PATH"
    stage_location: str | None = None
    base_stage_location: str | None = None
    mode: str = "error"
    params: Mapping[str, Any] | None = None
    column_handling: Mapping[str, Any] | None = None
    partition_column: str | None = None
    job_spec: JobSpec | Mapping[str, Any] | None = None
    compute_pool: str | None = None

    def check(self) -> None:
        """Refuse what is wrong whatever the templates render to: fail when the DAG loads."""
        given = [k for k in ("sql", "table", "files") if getattr(self, k) is not None]
        if len(given) != 1:
            raise InvalidArgumentError(
                f"give exactly one input: sql=, table= or files= (got {given or 'none'})"
            )
        self.output_spec()
        self.job_spec_object()

    def output_spec(self) -> OutputSpec:
        return OutputSpec(
            stage_location=self.stage_location,
            base_stage_location=self.base_stage_location,
            mode=self.mode,
        )

    def job_spec_object(self) -> JobSpec:
        spec = self.job_spec
        if spec is None:
            return JobSpec()
        if isinstance(spec, JobSpec):
            return spec
        if not isinstance(spec, Mapping):
            raise InvalidSpecError(f"job_spec must be a JobSpec or a dict, not {spec!r}")
        known = set(JobSpec.__dataclass_fields__)
        unknown = sorted(set(spec) - known)
        if unknown:
            raise InvalidSpecError(
                f"unknown job_spec keys {unknown}; known keys: {', '.join(sorted(known))}"
            )
        return JobSpec(**spec)

    def submit(self, session: squall.Session) -> jobs.Job:
        """Start the job on ``session``'s workspace; returns as soon as it is submitted."""
        self.check()
        model = Registry(session).get_model(self.model_name)
        mv = model.default if self.version_name is None else model.version(self.version_name)
        if self.sql is not None:
            X: Any = session.sql(self.sql)
        elif self.table is not None:
            X = session.table(self.table)
        else:
            X = squall.list_stage_files(
                str(self.files),
                pattern=self.file_pattern,
                column_name=self.file_column,
                session=session,
            )
        return mv.run_batch(
            X,
            compute_pool=self.compute_pool,
            input_spec=InputSpec(
                params=dict(self.params) if self.params else None,
                column_handling=dict(self.column_handling) if self.column_handling else None,
                partition_column=self.partition_column,
            ),
            output_spec=self.output_spec(),
            job_spec=self.job_spec_object(),
        )
