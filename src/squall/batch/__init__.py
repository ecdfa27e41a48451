"""Batch inference: the specs of ``run_batch`` and the machinery that runs them."""

from typing import TYPE_CHECKING, Any

from squall.batch.specs import (
    ColumnHandlingOptions,
    FileEncoding,
    InferenceEngine,
    InputFormat,
    InputSpec,
    JobSpec,
    OutputSpec,
    SaveMode,
)

if TYPE_CHECKING:
    from squall.tasks.inference import BatchInferenceTask

__all__ = [
    "BatchInferenceTask",
    "ColumnHandlingOptions",
    "FileEncoding",
    "InferenceEngine",
    "InputFormat",
    "InputSpec",
    "JobSpec",
    "OutputSpec",
    "SaveMode",
]


def __getattr__(name: str) -> Any:
    # A DAG task (squall.tasks) that snowflake-ml exports here; loaded on first use, since
    # squall.tasks sits above squall.batch.
    if name == "BatchInferenceTask":
        from squall.tasks.inference import BatchInferenceTask

        return BatchInferenceTask
    raise AttributeError(f"module 'squall.batch' has no attribute {name!r}")
