"""Batch inference: the specs of ``run_batch`` and the machinery that runs them."""

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

__all__ = [
    "ColumnHandlingOptions",
    "FileEncoding",
    "InferenceEngine",
    "InputFormat",
    "InputSpec",
    "JobSpec",
    "OutputSpec",
    "SaveMode",
]
