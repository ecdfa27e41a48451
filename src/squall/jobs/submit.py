"""Start a batch job: validate, stage the input, record the job, launch its supervisor."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from squall.batch.files import PathChecker
from squall.batch.output import prepare_output
from squall.batch.parquet_shards import parquet_in_place, reference_shards
from squall.batch.partition import is_partitioned, stage_partitions
from squall.batch.specs import InputSpec, JobSpec, OutputSpec
from squall.batch.staging import ShardInfo, input_batches, stage_batches
from squall.batch.validate import make_job_name, plan_job
from squall.catalog.pools import get_pool
from squall.jobs import status as st
from squall.jobs.job import Job
from squall.jobs.launch import launch_supervisor
from squall.jobs.pools import preflight

__all__ = ["submit_batch"]

# Shards are the unit of scheduling, retry and output files. Workers start on the first
# shard while later ones are staged, so shards stay moderate: a few batches each.
DEFAULT_SHARD_ROWS = 131_072
DEFAULT_FILE_SHARD_ROWS = 1024


class _StagingCancelled(Exception):
    """The job was cancelled while its input was being staged."""


def _shard_rows(job_spec: JobSpec, batch_rows: int, has_files: bool) -> int:
    if job_spec.shard_rows:
        return job_spec.shard_rows
    # Files are fetched per row: keep their shards small so a retry costs little.
    return max(batch_rows, DEFAULT_FILE_SHARD_ROWS if has_files else DEFAULT_SHARD_ROWS)


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
    )
    preflight(session.catalog, plan)  # the pool is reachable and has the resources asked for
    # Validation passed: from here on, work is written. The supervisor starts right away and
    # its workers run the first shards while the rest of X is still being staged.
    catalog = session.catalog
    job_id = uuid.uuid4().hex
    scratch = Path(plan.scratch_dir)
    with catalog.connect() as con:
        con.execute(
            "INSERT INTO jobs (id, name, status, message, model, version, function, output_location, "
            "compute_pool, spec, created_time, staging, stager_pid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            (
                job_id,
                job_name,
                st.PENDING,
                "staging input",
                model_name,
                version_name,
                plan.function,
                plan.output_location,
                plan.compute_pool,
                plan.to_json(),
                time.time(),
                os.getpid(),
            ),
        )
    # A job over files checks every path while staging and hands out no shard before all
    # are checked: a bad path fails run_batch itself, with nothing run and no output touched.
    checker = PathChecker(plan.file_columns, session.stages) if plan.file_columns else None
    try:
        if checker is None:
            prepare_output(session.stages, plan.output_location, output_spec.mode)
        pid = launch_supervisor(session.home, job_id, scratch / "logs")
        catalog.execute(
            "UPDATE jobs SET supervisor_pid = COALESCE(supervisor_pid, ?) WHERE id = ?",
            (pid, job_id),
        )
        shard_rows = _shard_rows(job_spec, plan.max_batch_rows, bool(plan.file_columns))

        def record(shard: ShardInfo) -> None:
            with catalog.connect() as con:
                wanted = con.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
                if wanted.fetchone()[0]:
                    raise _StagingCancelled
                con.execute(
                    "INSERT INTO shards (job_id, shard, path, rows, first_row) VALUES (?, ?, ?, ?, ?)",
                    (job_id, shard.shard, shard.path, shard.rows, shard.first_row),
                )
                con.execute(
                    "UPDATE jobs SET rows_total = rows_total + ?, shards_total = shards_total + 1 WHERE id = ?",
                    (shard.rows, job_id),
                )

        batches = input_batches(X) if checker is None else checker.wrap(input_batches(X))
        # With file columns, shards are recorded (handed out) only once every path checked.
        on_shard = record if checker is None else None
        # Parquet on a local stage is read where it lies: shards reference its row groups.
        in_place = None if checker or is_partitioned(plan) else parquet_in_place(X)
        if in_place is not None:
            staged = reference_shards(in_place, shard_rows, on_shard=on_shard)
        elif is_partitioned(plan):
            staged = stage_partitions(
                batches, schema, scratch / "input", shard_rows, plan.partition_column, on_shard
            )
        else:
            staged = stage_batches(
                batches, schema, scratch / "input", shard_rows, on_shard=on_shard
            )
        if checker is not None:
            prepare_output(session.stages, plan.output_location, output_spec.mode)
            for shard in staged:
                record(shard)
        catalog.execute(
            "UPDATE jobs SET staging = 0, message = CASE WHEN message = 'staging input' THEN NULL "
            "ELSE message END WHERE id = ?",
            (job_id,),
        )
    except _StagingCancelled:
        # Cancelled while the input was still being staged: stop staging; the supervisor
        # records the end (CANCELLED).
        catalog.execute("UPDATE jobs SET staging = 0 WHERE id = ?", (job_id,))
    except BaseException as exc:
        st.finish(
            catalog, job_id, st.FAILED, f"staging the input failed: {type(exc).__name__}: {exc}"
        )
        catalog.execute("UPDATE jobs SET staging = 0 WHERE id = ?", (job_id,))
        shutil.rmtree(scratch / "input", ignore_errors=True)
        raise
    job = Job(session, job_id)
    if job_spec.block:
        job.wait()
    return job
