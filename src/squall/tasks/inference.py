"""``BatchInferenceTask``: a DAG task that runs ``ModelVersion.run_batch`` at each DAG run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall.batch.specs import InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidArgumentError, InvalidSpecError
from squall.tasks.dag import DAGTask

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["BatchInferenceTask", "BatchSpec"]


@dataclass(frozen=True)
class BatchSpec:
    """What a BatchInferenceTask runs: names and query text only, so it pickles small."""

    model_name: str
    version_name: str
    query: str
    output_spec: OutputSpec
    input_spec: InputSpec | None
    job_spec: JobSpec
    compute_pool: str | None
    inference_engine_options: dict[str, Any] | None

    def model_version(self, session: Session) -> Any:
        from squall.registry import Registry

        return Registry(session).get_model(self.model_name).version(self.version_name)

    def job_spec_named(self, job_name: str) -> JobSpec:
        """The job spec with a fixed job name (chosen and recorded before the job starts)."""
        return dataclasses.replace(self.job_spec, job_name=job_name, job_name_prefix=None)

    def submit(self, session: Session, job_name: str) -> Any:
        """Start the job: X's query is run now, so each run reads the data as it is then."""
        return self.model_version(session).run_batch(
            session.sql(self.query),
            compute_pool=self.compute_pool,
            input_spec=self.input_spec,
            output_spec=self.output_spec,
            job_spec=dataclasses.replace(self.job_spec_named(job_name), block=False),
            inference_engine_options=self.inference_engine_options,
        )


def _query_of(X: Any) -> str:
    from squall.warehouse import DataFrame

    if isinstance(X, str) and X.strip():
        return X
    if isinstance(X, DataFrame) and X.is_sql and X.query is not None:
        return X.query
    raise InvalidArgumentError(
        "BatchInferenceTask needs X as a query it can run again at every DAG run: "
        f"session.sql(...) or session.table(...), not {type(X).__name__} "
        "(in-memory data is not re-read at each run; write it to a table first)"
    )


class BatchInferenceTask(DAGTask):
    """A DAG task that runs a batch inference job for a registered model version.

    Each DAG run replays ``X``'s query, submits a new job, waits for it, and sets the task's
    return value to ``{"output_stage_location": "<where the job wrote>"}`` (a JSON string).
    With ``OutputSpec(base_stage_location=...)`` every run writes to its own
    ``<base>/<job name>/`` folder. A failed job fails the task.
    """

    def __init__(
        self,
        name: str,
        *,
        model_version: Any,
        X: Any,
        output_spec: OutputSpec,
        compute_pool: str | None = None,
        input_spec: InputSpec | None = None,
        job_spec: JobSpec | None = None,
        inference_engine_options: dict[str, Any] | None = None,
        **dagtask_kwargs: Any,
    ) -> None:
        if "definition" in dagtask_kwargs:
            raise TypeError(
                "BatchInferenceTask builds its own task definition; do not pass `definition=`."
            )
        from squall.registry.registry import ModelVersion

        if not isinstance(model_version, ModelVersion):
            raise InvalidArgumentError(
                f"model_version must be a ModelVersion (Registry(...).get_model(name).version(v)), "
                f"not {type(model_version).__name__}"
            )
        if not isinstance(output_spec, OutputSpec):
            raise InvalidSpecError(f"output_spec must be an OutputSpec, not {output_spec!r}")
        job_spec = job_spec if job_spec is not None else JobSpec()
        if job_spec.block:
            raise InvalidSpecError("JobSpec(block=True) has no meaning in a task: it always waits")
        functions = [f["name"] for f in model_version.show_functions()]
        wanted = job_spec.function_name
        if wanted is not None and wanted.lower() not in [f.lower() for f in functions]:
            raise InvalidSpecError(
                f"function_name {wanted!r} is not a function of model "
                f"{model_version.model_name} version {model_version.version_name}: {functions}"
            )
        self.batch = BatchSpec(
            model_name=model_version.model_name,
            version_name=model_version.version_name,
            query=_query_of(X),
            output_spec=output_spec,
            input_spec=input_spec,
            job_spec=job_spec,
            compute_pool=compute_pool,
            inference_engine_options=inference_engine_options,
        )
        super().__init__(name, definition=json.dumps(self.describe()), **dagtask_kwargs)

    @property
    def kind(self) -> str:
        return "batch_inference"

    def describe(self) -> dict[str, Any]:
        """The task's job as shown by ``squall dag show``."""
        out = self.batch.output_spec
        return {
            "model": self.batch.model_name,
            "version": self.batch.version_name,
            "query": self.batch.query,
            "output": out.base_stage_location or out.stage_location,
            "compute_pool": self.batch.compute_pool,
        }
