"""Check a ``run_batch`` call against the model, the input and the workspace; build its plan.

Everything here runs in the client before anything is written: a misuse raises an error
that names the bad value, and leaves no job, no scratch files and no output behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from squall.batch.files import check_file_columns
from squall.batch.files.decode import check_decoded_inputs
from squall.batch.locations import check_input_files, check_overlap
from squall.batch.output import output_dir, prepare_output
from squall.batch.partition import check_partitioning, row_number_column
from squall.batch.plan import JobPlan
from squall.batch.resources import parse_cpu, parse_gpus, parse_memory
from squall.batch.specs import InputSpec, JobSpec, OutputSpec
from squall.batch.staging import input_schema
from squall.errors import InvalidSpecError
from squall.names import MAX_PREFIX_LENGTH, resolve_name

__all__ = ["default_batch_rows", "make_job_name", "match_column", "plan_job"]

# A tabular batch holds up to DEFAULT_BATCH_ROWS rows, fewer when its rows are wide: about
# _BATCH_BYTES of input at most. Large batches spread each model call's fixed cost (the
# frame, the signature checks, the output's conversion) over many rows; the byte bound
# keeps a wide table's batch small in memory.
DEFAULT_BATCH_ROWS = 131_072
DEFAULT_FILE_BATCH_ROWS = 256
_MIN_BATCH_ROWS = 1_024
_BATCH_BYTES = 16 << 20
_VARIABLE_WIDTH_BYTES = 32  # the guessed size of a string, a binary or a nested value


def row_bytes(schema: pa.Schema) -> int:
    """About how many bytes one row of ``schema`` takes in memory (variable widths guessed)."""
    total = 0
    for field in schema:
        try:
            total += max(1, field.type.bit_width // 8)
        except ValueError:  # not a fixed-width type
            total += _VARIABLE_WIDTH_BYTES
    return max(total, 1)


def default_batch_rows(has_files: bool, schema: pa.Schema | None = None) -> int:
    """The rows of a model call when the job spec leaves ``max_batch_rows`` unset."""
    if has_files:
        return DEFAULT_FILE_BATCH_ROWS
    if schema is None:
        return DEFAULT_BATCH_ROWS
    fitting = _BATCH_BYTES // row_bytes(schema)
    return max(_MIN_BATCH_ROWS, min(DEFAULT_BATCH_ROWS, fitting))


def make_job_name(job_spec: JobSpec) -> str:
    """The job's name: ``job_name`` resolved (``my_job`` -> ``MY_JOB``), else prefix + uuid."""
    if job_spec.job_name:
        return resolve_name(job_spec.job_name, "job_name")
    prefix = "BATCH_INFERENCE"
    if job_spec.job_name_prefix:
        prefix = resolve_name(
            job_spec.job_name_prefix, "job_name_prefix", max_length=MAX_PREFIX_LENGTH
        )
    return f"{prefix}_{uuid.uuid4().hex.upper()}"


# A job's name is a folder name (its scratch folder, a base_stage_location's subfolder).
_MAX_JOB_NAME_BYTES = 255


def _check_job_name(name: str) -> None:
    size = len(name.encode("utf-8"))
    if size > _MAX_JOB_NAME_BYTES:
        raise InvalidSpecError(
            f"job name {name[:40]!r}... is {size} bytes long; the limit is {_MAX_JOB_NAME_BYTES}"
        )


def match_column(name: str, columns: list[str], what: str) -> str:
    """The column of ``columns`` that ``name`` means: exact, else case-insensitive and unique."""
    if name in columns:
        return name
    hits = [c for c in columns if c.lower() == name.lower()]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise InvalidSpecError(f"{what} {name!r} matches several columns of X: {hits}")
    raise InvalidSpecError(f"{what} {name!r} is not a column of X; X has columns {columns}")


def _check_input_types(
    signature: Any, schema: pa.Schema, model_columns: list[str], file_columns: dict[str, Any]
) -> None:
    """Refuse a column of X whose type cannot hold its signature input (bytes for a DOUBLE)."""
    from squall.errors import SignatureError
    from squall.model._checks import arrow_problem

    for spec, column in zip(signature.inputs, model_columns, strict=True):
        if column in file_columns:
            continue  # stage paths, replaced by the files' contents in the worker
        problem = arrow_problem(spec, schema.field(column).type)
        if problem:
            raise SignatureError(f"column {column!r} of X {problem} (input {spec.name!r})")


def _input_names(signature: Any) -> list[str]:
    return [spec.name for spec in signature.inputs]


def _default_workers(manifest: Any, model_path: Path) -> int:
    from squall.model.handlers import get_handler

    try:
        workers = get_handler(manifest.model_type).default_workers(model_path)
    except ImportError:
        workers = None  # the kind's library is missing here: its workers will say so
    return workers or os.cpu_count() or 1


def plan_job(
    session: Any,
    *,
    model_name: str,
    version_name: str,
    model_path: Path,
    X: Any,
    input_spec: InputSpec | None,
    output_spec: OutputSpec,
    job_spec: JobSpec | None,
    job_name: str,
    compute_pool: str | None,
    engine_args: list[str] | None = None,
    name_taken: Callable[[str], bool] | None = None,
) -> tuple[JobPlan, pa.Schema]:
    """Validate a run_batch call; return its plan and the schema of X. Writes nothing.

    ``name_taken`` tells whether a job of that name exists already (the job store's check).
    """
    from squall.model.custom_model import resolve_params
    from squall.model.packaging import read_manifest

    input_spec = input_spec if input_spec is not None else InputSpec()
    job_spec = job_spec if job_spec is not None else JobSpec()
    if not isinstance(output_spec, OutputSpec):
        raise InvalidSpecError(f"output_spec must be an OutputSpec, not {output_spec!r}")
    # The caller checked the pool's name against the registered compute pools.
    pool = (compute_pool or "local").lower()

    manifest = read_manifest(model_path)
    function = manifest.resolve_function(job_spec.function_name)
    signature = function.signature
    params = resolve_params(signature, input_spec.params, function.name)

    if job_spec.gpu_requests is not None and not manifest.gpu_support:
        raise InvalidSpecError(
            f"gpu_requests={job_spec.gpu_requests!r}, but model {model_name} version "
            f"{version_name} ({manifest.model_type}) has no GPU support: log it with "
            "options={'cuda_version': ...} or {'gpu_support': True}, or leave gpu_requests out"
        )

    schema = input_schema(X)
    columns = list(schema.names)
    model_columns = [match_column(n, columns, "model input") for n in _input_names(signature)]
    file_columns = {
        match_column(col, columns, "column_handling column"): [
            h.input_format.value,
            h.convert_to.value,
            *([h.options] if h.options else []),
        ]
        for col, h in input_spec.file_columns.items()
    }
    check_file_columns(file_columns, schema, model_columns, function.name)
    check_decoded_inputs(file_columns, list(signature.inputs))
    _check_input_types(signature, schema, model_columns, file_columns)

    partition = None
    if input_spec.partition_column is not None and manifest.model_type == "huggingface":
        raise InvalidSpecError(
            f"partition_column={input_spec.partition_column!r}: a Hugging Face model runs "
            "row by row; partitioned runs need a custom model's partitioned_api method"
        )
    if input_spec.partition_column is not None:
        partition = match_column(input_spec.partition_column, columns, "partition_column")
    check_partitioning(function, manifest.options, schema, partition, job_spec.on_error)

    lowered = {c.lower(): c for c in columns}
    # A partitioned function's output is the partition column + its outputs: no input passes.
    passed = function.kind != "partitioned"
    clashes = [o.name for o in signature.outputs if passed and o.name.lower() in lowered]
    if clashes:
        raise InvalidSpecError(
            f"output column(s) {clashes} of function {function.name!r} clash with input "
            f"column(s) {[lowered[c.lower()] for c in clashes]}; rename the input columns"
        )

    if output_spec.stage_location is not None:
        location = output_spec.stage_location
    else:
        assert output_spec.base_stage_location is not None
        location = output_spec.base_stage_location.rstrip("/") + "/" + job_name + "/"
    _check_job_name(job_name)
    location = prepare_output(session.stages, location, output_spec.mode, dry_run=True)
    check_overlap(session.stages, X, location)
    check_input_files(session.stages, X)
    if name_taken is not None and name_taken(job_name):
        from squall.errors import AlreadyExistsError

        raise AlreadyExistsError(f"a job named {job_name} exists already; choose another job_name")

    # Workers per replica, times the replicas (on one machine: simply more workers).
    per_replica = job_spec.num_workers or (
        1 if job_spec.replicas else _default_workers(manifest, model_path)
    )
    workers = per_replica * (job_spec.replicas or 1)
    plan = JobPlan(
        model_name=model_name,
        version_name=version_name,
        model_path=str(model_path),
        function=function.name,
        function_kind=function.kind,
        output_location=location,
        output_dir=str(output_dir(session.stages, location)),
        scratch_dir=str(session.home / "jobs" / job_name),
        params=params,
        model_columns=model_columns,
        file_columns=file_columns,
        partition_column=partition,
        max_batch_rows=job_spec.max_batch_rows or default_batch_rows(bool(file_columns), schema),
        num_workers=workers,
        max_retries=job_spec.max_retries,
        on_error=job_spec.on_error,
        max_error_rate=job_spec.max_error_rate,
        compute_pool=pool,
        rows_total=_known_rows(X),
        row_column=row_number_column(schema) if partition and file_columns else None,
        cpu_requests=parse_cpu(job_spec.cpu_requests),
        memory_bytes=parse_memory(job_spec.memory_requests),
        gpu_requests=parse_gpus(job_spec.gpu_requests),
        replicas=job_spec.replicas or 1,
        platform_options=job_spec.platform_options(),
        engine_args=engine_args,
    )
    return plan, schema


def _known_rows(X: Any) -> int | None:
    """How many rows X has, when that is known without running a query; else None."""
    from squall.warehouse import DataFrame

    if isinstance(X, DataFrame):
        source = X.arrow_source
        rows = source.num_rows if isinstance(source, pa.Table) else None
        if rows is not None and X.row_limit is not None:
            rows = min(rows, X.row_limit)
        return rows
    try:
        return len(X)
    except TypeError:
        return None
