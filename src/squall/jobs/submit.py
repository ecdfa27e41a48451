"""Start a batch job: validate, stage the input, record the job, launch its supervisor."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
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
from squall.errors import AlreadyExistsError, InvalidSpecError
from squall.jobs import reservation
from squall.jobs import status as st
from squall.jobs.job import Job

__all__ = ["launch_supervisor", "submit_batch"]

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


# A short-lived launcher starts the supervisor and exits at once: the supervisor is then
# nobody's child in the caller (no zombie to reap, no Popen left running to warn about).
# The supervisor leads a new session, so its process group id is its pid (resume.py ends a
# dead supervisor's leftovers by that group). Run with -S: it needs only the standard library.
_LAUNCHER = """\
import os, subprocess, sys
with open(sys.argv[1], "ab") as log:
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)
sys.stdout.write(str(proc.pid))
sys.stdout.flush()
os._exit(0)
"""


def launch_supervisor(home: Path, job_id: str, log_dir: Path) -> int:
    """Start the job's supervisor, detached from the caller (it outlives it); return its pid."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "supervisor.log"
    command = [sys.executable, "-m", "squall.jobs.supervisor", str(home), job_id]
    with subprocess.Popen(
        [sys.executable, "-S", "-c", _LAUNCHER, str(log), *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as launcher:
        out, _ = launcher.communicate()
    if launcher.returncode != 0 or not out.strip().isdigit():
        raise RuntimeError(
            f"could not start the supervisor of job {job_id} "
            f"(its launcher exited with {launcher.returncode})"
        )
    return int(out)


def _record_job(
    session: Any, job_id: str, job_name: str, model_name: str, version_name: str, plan: Any
) -> None:
    """Record the job PENDING, reserving its output location in the same transaction."""
    catalog = session.catalog
    reservation.holder(catalog, plan.output_location)  # a dead holder is recorded ended
    try:
        with catalog.connect() as con:
            reservation.reserve(con, plan.output_location, job_id)
            con.execute(
                "INSERT INTO jobs (id, name, status, message, model, version, function, "
                "output_location, compute_pool, spec, created_time, staging, stager_pid) "
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
    except sqlite3.IntegrityError:
        # Another run_batch took the name after this one checked it.
        raise AlreadyExistsError(
            f"a job named {job_name} exists already; choose another job_name"
        ) from None


def _forget(catalog: Any, job_id: str) -> None:
    """Delete the record of a job that never started (which releases its location)."""
    catalog.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


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
    )
    # Validation passed. The job is recorded, holding its output location (one live job per
    # location); only then is the location cleared, as the last step before the job starts.
    catalog = session.catalog
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
                batches, schema, scratch / "input", shard_rows, on_shard=on_shard
            )
        if not staged:  # an empty input still writes one part, with every column
            staged = [empty_shard(scratch / "input", schema)]
            if on_shard is not None:
                on_shard(staged[0])
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
