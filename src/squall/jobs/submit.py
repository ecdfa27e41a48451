"""Start a batch job: validate, stage the input, record the job, launch its supervisor."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from squall.batch.files import PathChecker
from squall.batch.output import prepare_output
from squall.batch.parquet_shards import parquet_in_place, reference_shards
from squall.batch.partition import is_partitioned, stage_partitions
from squall.batch.specs import InputSpec, JobSpec, OutputSpec
from squall.batch.staging import ShardInfo, empty_shard, input_batches, stage_batches
from squall.batch.validate import make_job_name, plan_job
from squall.catalog.pools import get_pool
from squall.errors import AlreadyExistsError, InvalidSpecError
from squall.jobs import reservation
from squall.jobs import status as st
from squall.jobs.job import Job
from squall.jobs.launch import launch_supervisor
from squall.jobs.pools import preflight
from squall.jobs.store import JobStore, NewJob

__all__ = ["submit_batch"]

# Shards are the unit of scheduling, retry and output files. Workers start on the first
# shard while later ones are staged, so shards stay moderate: a few batches each.
DEFAULT_SHARD_ROWS = 131_072
DEFAULT_FILE_SHARD_ROWS = 1024


class _StagingCancelled(Exception):
    """The job was cancelled while its input was being staged."""


# Shards per worker aimed at when the input's size is known: enough to even out the load.
SHARDS_PER_WORKER = 4
# With the size known, a large tabular input gets shards of up to this many rows: each shard
# costs a part file, a commit and round trips to the supervisor, which at the default size
# are a fifth of a fast model's time.
MAX_SHARD_ROWS = 1_048_576


def _shard_rows(job_spec: JobSpec, batch_rows: int, has_files: bool) -> int:
    if job_spec.shard_rows:
        return job_spec.shard_rows
    # Files are fetched per row: keep their shards small so a retry costs little.
    return max(batch_rows, DEFAULT_FILE_SHARD_ROWS if has_files else DEFAULT_SHARD_ROWS)


def size_shards(
    job_spec: JobSpec, batch_rows: int, has_files: bool, rows: int | None, workers: int
) -> tuple[int, int, str]:
    """(rows per shard, workers, why): from the input's size and the workers asked for.

    With the size known, shards aim at a few per worker, never smaller than a batch (or
    the default, whichever is less) nor, for tabular input, larger than ``MAX_SHARD_ROWS``;
    an input of one shard runs on one worker.
    """
    default = _shard_rows(job_spec, batch_rows, has_files)
    if rows is None:
        ceiling = growing_shards(job_spec, has_files, rows, default)
        if ceiling is None:
            return default, workers, "input size unknown before staging: default shard size"
        return (
            default,
            workers,
            f"input size unknown before staging: shards from {default:,} rows, each twice "
            f"the one before, up to {ceiling:,}",
        )
    if job_spec.shard_rows:
        shard, why = default, "shard_rows as given"
    else:
        wanted = -(-rows // (workers * SHARDS_PER_WORKER)) if rows else default
        floor = min(default, max(batch_rows, 1 if has_files else 1024))
        ceiling = default if has_files else max(default, MAX_SHARD_ROWS)
        shard = max(floor, min(ceiling, wanted))
        why = f"about {SHARDS_PER_WORKER} shards per worker, none under {floor:,} rows"
    shards = max(1, -(-rows // shard))
    used = min(workers, shards)
    if used < workers:
        why += f"; {shards} shard(s) need only {used} of the {workers} workers asked for"
    return shard, used, why


def growing_shards(job_spec: JobSpec, has_files: bool, rows: int | None, first: int) -> int | None:
    """The largest shard when shards grow as they are staged, or None for shards of one size.

    A tabular input of unknown size (a query) starts with small shards, so the workers
    start soon, and doubles them up to ``MAX_SHARD_ROWS``: a large result is not cut into
    thousands of small shards, each costing a part file, a commit and round trips.
    """
    if rows is not None or has_files or job_spec.shard_rows or first >= MAX_SHARD_ROWS:
        return None
    return MAX_SHARD_ROWS


def known_rows(X: Any) -> int | None:
    """The number of input rows when it is known without running a query, else None."""
    from squall.warehouse import DataFrame

    if isinstance(X, DataFrame):
        if X.is_sql:
            return None
        source: Any = X.arrow_source
        try:
            n = source.num_rows if hasattr(source, "num_rows") else source.count_rows()
        except Exception:
            return None
        return n if X.row_limit is None else min(n, X.row_limit)
    n = getattr(X, "num_rows", None)
    if n is None and type(X).__module__.partition(".")[0] in ("pandas", "polars"):
        n = len(X)
    return n if isinstance(n, int) else None


def _log_sizing(log_dir: Path, shard_rows: int, workers: int, why: str) -> None:
    """The supervisor's log starts with how the input is cut into shards, and why."""
    from squall.logtime import log_stamp

    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "supervisor.log", "a", encoding="utf-8") as log:
        log.write(
            f"{log_stamp()} shards of up to {shard_rows:,} rows on {workers} worker(s): {why}\n"
        )


def _record_job(
    session: Any, job_id: str, job_name: str, model_name: str, version_name: str, plan: Any
) -> None:
    """Record the job PENDING, reserving its output location in the same transaction."""
    catalog = session.catalog
    reservation.holder(catalog, plan.output_location)  # a dead holder is recorded ended
    new = NewJob(
        id=job_id,
        name=job_name,
        model=model_name,
        version=version_name,
        function=plan.function,
        output_location=plan.output_location,
        compute_pool=plan.compute_pool,
        spec=plan.to_json(),
    )
    try:
        JobStore.on(catalog).record_job(new, reservation.reserve(plan.output_location))
    except sqlite3.IntegrityError:
        # Another run_batch took the name after this one checked it.
        raise AlreadyExistsError(
            f"a job named {job_name} exists already; choose another job_name"
        ) from None


def _forget(catalog: Any, job_id: str) -> None:
    """Delete the record of a job that never started (which releases its location)."""
    JobStore.on(catalog).delete_job(job_id)


def _clear_output(session: Any, job_id: str, plan: Any, output_spec: OutputSpec) -> None:
    """Apply the save mode; a refusal (the location filled meanwhile) leaves no job behind."""
    try:
        prepare_output(session.stages, plan.output_location, output_spec.mode)
    except BaseException:
        _forget(session.catalog, job_id)
        shutil.rmtree(plan.scratch_dir, ignore_errors=True)
        raise


def submit_batch(
    session: Any,
    *,
    model_name: str,
    version_name: str,
    model_path: Path,
    X: Any,
    compute_pool: str | None = None,
    input_spec: InputSpec | None = None,
    output_spec: OutputSpec,
    job_spec: JobSpec | None = None,
    engine_args: list[str] | None = None,
) -> Job:
    job_spec = job_spec if job_spec is not None else JobSpec()
    compute_pool = get_pool(session.catalog, compute_pool).name
    job_name = make_job_name(job_spec)
    plan, schema = plan_job(
        session,
        model_name=model_name,
        version_name=version_name,
        model_path=model_path,
        X=X,
        input_spec=input_spec,
        output_spec=output_spec,
        job_spec=job_spec,
        job_name=job_name,
        compute_pool=compute_pool,
        engine_args=engine_args,
        name_taken=JobStore.on(session.catalog).name_taken,
    )
    preflight(session.catalog, plan)  # the pool is reachable and has the resources asked for
    # Validation passed. The job is recorded, holding its output location (one live job per
    # location); only then is the location cleared, as the last step before the job starts.
    catalog = session.catalog
    store = JobStore.on(catalog)
    job_id = uuid.uuid4().hex
    scratch = Path(plan.scratch_dir)
    _record_job(session, job_id, job_name, model_name, version_name, plan)
    try:
        (scratch / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _forget(catalog, job_id)
        raise InvalidSpecError(
            f"job_name {job_name!r}: its scratch folder cannot be made ({exc.strerror})"
        ) from None
    # A job over files checks every path while staging and hands out no shard before all
    # are checked: a bad path fails run_batch itself, with nothing run and no output touched.
    checker = None
    if plan.file_columns:
        checker = PathChecker(plan.file_columns, session.stages, plan.output_location)
    if checker is None:
        _clear_output(session, job_id, plan, output_spec)
    try:
        input_rows = known_rows(X)
        shard_rows, workers, why = size_shards(
            job_spec, plan.max_batch_rows, bool(plan.file_columns), input_rows, plan.num_workers
        )
        if workers != plan.num_workers:
            plan.num_workers = workers
            store.set_spec(job_id, plan.to_json())
        _log_sizing(scratch / "logs", shard_rows, workers, why)
        pid = launch_supervisor(session.home, job_id, scratch / "logs")
        store.note_supervisor(job_id, pid)

        def record(shard: ShardInfo) -> None:
            if not store.add_shard(job_id, shard.shard, shard.path, shard.rows, shard.first_row):
                raise _StagingCancelled

        batches = input_batches(X) if checker is None else checker.wrap(input_batches(X))
        # With file columns, shards are recorded (handed out) only once every path checked.
        on_shard = record if checker is None else None
        # Parquet on a local stage is read where it lies: shards reference its row groups.
        in_place = None if checker or is_partitioned(plan) else parquet_in_place(X)
        if in_place is not None:
            staged = reference_shards(in_place, shard_rows, on_shard=on_shard)
        elif is_partitioned(plan):
            staged = stage_partitions(
                batches,
                schema,
                scratch / "input",
                shard_rows,
                plan.partition_column,
                on_shard,
                plan.row_column,
            )
        else:
            staged = stage_batches(
                batches,
                schema,
                scratch / "input",
                shard_rows,
                on_shard=on_shard,
                max_shard_rows=growing_shards(
                    job_spec, bool(plan.file_columns), input_rows, shard_rows
                ),
            )
        if not staged:  # an empty input still writes one part, with every column
            staged = [empty_shard(scratch / "input", schema)]
            if on_shard is not None:
                on_shard(staged[0])
        if checker is not None:  # every path checked: the shards go out together
            prepare_output(session.stages, plan.output_location, output_spec.mode)
            rows = [(s.shard, s.path, s.rows, s.first_row) for s in staged]
            if not store.add_shards(job_id, rows):
                raise _StagingCancelled
        store.staging_done(job_id)
    except _StagingCancelled:
        # Cancelled while the input was still being staged: stop staging; the supervisor
        # records the end (CANCELLED).
        store.staging_done(job_id, completed=False)
    except BaseException as exc:
        store.finish(job_id, st.FAILED, f"staging the input failed: {type(exc).__name__}: {exc}")
        store.staging_done(job_id, completed=False)
        shutil.rmtree(scratch / "input", ignore_errors=True)
        raise
    job = Job(session, job_id)
    if job_spec.block:
        job.wait()
    return job
