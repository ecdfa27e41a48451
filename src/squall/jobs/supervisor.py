"""The supervisor: one detached process per job that drives it from PENDING to its end.

It starts workers on the job's compute pool, hands them shard ids, retries the shard of a
worker that died (up to ``max_retries`` times per run, each attempt logged), records progress
and error rows, enforces ``max_error_rate``, honours cancel requests, checks every part and
writes ``_SUCCESS`` when every shard is committed, and makes sure no worker outlives the job.
A resumed job runs a new supervisor that skips the shards already committed. Run as
``python -m squall.jobs.supervisor HOME JOB_ID``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from squall.batch.plan import JobPlan
from squall.batch.shards import parse_shard_ref
from squall.compute.base import (
    Event,
    EventKind,
    Executor,
    ShardTask,
    create_executor,
)
from squall.config import settings
from squall.errors import redact
from squall.jobs import status as st
from squall.jobs.pools import pool_context
from squall.jobs.store import DIED, JobStore
from squall.logs import configure_logging

__all__ = ["Supervisor", "main"]

# The output and staging modules (pyarrow) load where they are used, after the workers were
# started: a job's first batch waits on their imports, not on the supervisor's.
# Every worker runs this module as its main module too, so it stays light.


_logger = logging.getLogger("squall.supervisor")


def log(message: str) -> None:
    _logger.info(redact(message))


class _Heartbeat(threading.Thread):
    def __init__(self, store: JobStore, job_id: str, interval: float) -> None:
        super().__init__(name="squall-heartbeat", daemon=True)
        self.store, self.job_id, self.interval = store, job_id, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.store.heartbeat(self.job_id)
            except Exception as exc:  # a busy catalog must not kill the heartbeat
                log(f"heartbeat not recorded: {exc}")


class JobEnded(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Supervisor:
    """Drives one job; ``executor`` runs its workers (default: its compute pool's executor,
    built when the first worker is needed). Tests hand it a scripted one."""

    def __init__(self, home: Path, job_id: str, executor: Executor | None = None) -> None:
        self.home = home
        self.job_id = job_id
        self.store = JobStore(home)
        row = self.store.job(job_id)
        if row is None:
            raise LookupError(f"job {job_id} is not in the catalog")
        self.job = row
        self.plan = JobPlan.from_json(row["spec"])
        self.log_dir = Path(self.plan.scratch_dir) / "logs"
        self.shards: dict[int, dict[str, Any]] = {}
        self.queue: collections.deque[int] = collections.deque()
        self.busy: dict[str, int] = {}  # worker -> shard
        self.idle: list[str] = []
        self.starting: set[str] = set()
        self.shard_rows: dict[int, int] = {}  # rows done so far in shards in flight
        self.shard_errors: dict[int, int] = {}  # error rows so far in shards in flight
        self.run_attempts: collections.Counter[int] = collections.Counter()  # in this run
        self.exit_codes: dict[int, list[Any]] = collections.defaultdict(list)
        self.startup_deaths = 0
        self.first_error: tuple[int, str] | None = None
        self.executor: Executor | None = executor
        self.recorded: set[str] = set()  # workers whose pid is on record
        self.staging = True
        self._last_flush = 0.0
        self._flushed: tuple[Any, ...] | None = None

    # -- catalog --------------------------------------------------------------------------
    def _load_shards(self) -> None:
        """Queue the shards recorded since the last call (staging adds them as it goes)."""
        known = max(self.shards, default=-1)
        rows = self.store.shards_after(self.job_id, known)
        out_dir = Path(self.plan.output_dir)
        for r in rows:
            self.shards[r["shard"]] = r
            committed = False
            if r["status"] == st.DONE:  # a resumed job's shard, committed by an earlier run
                from squall.batch.sink import PartSink

                committed = PartSink(out_dir).committed(r["shard"])
            if not committed:
                if r["status"] == st.DONE:
                    path = self._staged_file(r["shard"])
                    if path is not None and not path.exists():
                        raise JobEnded(
                            st.FAILED,
                            f"shard {r['shard']}'s part is gone from the output "
                            f"{self.plan.output_location} and its staged input was removed "
                            "when it was committed: run the job again",
                        )
                r["error_rows"] = 0
                self.queue.append(r["shard"])
        while self.queue and self.idle:
            self._assign(self.idle.pop())

    def _check_job(self) -> None:
        """End the run when cancel was asked, the job ended elsewhere, or staging died."""
        row = self.store.run_state(self.job_id)
        if row is None:
            raise JobEnded(st.CANCELLED, "the job's record was deleted")
        if row["cancel_requested"]:
            raise JobEnded(st.CANCELLED, "cancelled by request")
        if row["status"] not in st.ACTIVE:
            raise JobEnded(row["status"], "ended elsewhere")
        self.staging = bool(row["staging"])
        if self.staging and not _process_alive(row["stager_pid"]):
            raise JobEnded(st.FAILED, "the process staging the input stopped before it finished")

    def _cancel_requested(self) -> bool:
        return self.store.cancel_requested(self.job_id)

    def _flush_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < 0.5:
            return
        self._last_flush = now
        # A write transaction (and the catalog's checkpoint) only when progress moved.
        seen = (tuple(self.shard_rows.items()), tuple(self.shard_errors.items()))
        if not force and seen == self._flushed:
            return
        self._flushed = seen
        self.store.record_progress(self.job_id, self.shard_rows, self.shard_errors)

    # -- scheduling -----------------------------------------------------------------------
    def _assign(self, worker: str) -> None:
        assert self.executor is not None
        if not self.queue:
            self.idle.append(worker)  # kept for retries until the job ends
            return
        shard = self.queue.popleft()
        info = self.shards[shard]
        self.busy[worker] = shard
        self.shard_rows[shard] = 0
        self.shard_errors[shard] = 0
        info["attempts"] += 1
        self.run_attempts[shard] += 1
        self.store.shard_running(self.job_id, shard, info["attempts"], worker)
        log(f"shard {shard} ({info['rows']} rows) -> worker {worker}, attempt {info['attempts']}")
        self.executor.submit(
            worker,
            ShardTask(shard, parse_shard_ref(info["path"]), info["attempts"], info["first_row"]),
        )

    def _staged_file(self, shard: int) -> Path | None:
        """The file of the shard's staged rows (None when it references its input in place)."""
        from squall.batch.staging import staged_file

        return staged_file(Path(self.plan.scratch_dir) / "input", self.shards[shard]["path"])

    def _drop_input(self, shard: int) -> None:
        """A committed shard's staged rows are never read again: delete them at once, so
        a large job's staged input does not pile up on disk (nor wait to be written back
        there, slowing every write on the machine) until the job ends."""
        path = self._staged_file(shard)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def _shard_span(self, shard: int) -> str:
        info = self.shards[shard]
        first = info["first_row"]
        return f"shard {shard} (input rows {first}..{first + info['rows'] - 1})"

    def _on_event(self, ev: Event) -> None:
        assert self.executor is not None
        if ev.kind is EventKind.READY:
            self.starting.discard(ev.worker)
            self._record_worker(ev.worker, ev.pid)
            self._assign(ev.worker)
        elif ev.kind is EventKind.PROGRESS and ev.shard is not None:
            self.shard_rows[ev.shard] = self.shard_rows.get(ev.shard, 0) + ev.rows
            self.shard_errors[ev.shard] = self.shard_errors.get(ev.shard, 0) + ev.error_rows
        elif ev.kind is EventKind.DONE and ev.shard is not None:
            self.busy.pop(ev.worker, None)
            self.shard_rows[ev.shard] = ev.rows
            self.startup_deaths = 0
            errors = ev.error_rows
            self.shards[ev.shard]["error_rows"] = errors
            if ev.first_error and self.first_error is None:
                self.first_error = (int(ev.first_error[0]), str(ev.first_error[1]))
            self.store.shard_done(
                self.job_id, ev.shard, ev.rows, errors, self.shards[ev.shard]["attempts"]
            )
            del self.shard_rows[ev.shard]
            self.shard_errors.pop(ev.shard, None)
            self._drop_input(ev.shard)
            self._flush_progress(force=True)
            kept = " (part committed by an earlier attempt, kept)" if ev.kept else ""
            failed = f", {errors} failed" if errors else ""
            log(
                f"shard {ev.shard} done by {ev.worker}: {ev.rows} rows{failed} in "
                f"{ev.seconds:.2f}s{kept}"
            )
            if not self.staging:
                self._check_error_rate()
            self._assign(ev.worker)
        elif ev.kind is EventKind.FAILED:
            error = ev.error or "unknown error"
            if ev.shard is None:
                startup = ev.traceback if ev.startup and ev.traceback else error
                raise JobEnded(st.FAILED, f"worker {ev.worker} could not start: {startup}")
            self.store.shard_failed(self.job_id, ev.shard, error, self.shards[ev.shard]["attempts"])
            rows = ev.batch_rows
            where = f" in its batch of input rows {rows[0]}..{rows[1]}" if rows else ""
            raise JobEnded(
                st.FAILED,
                f"{self._shard_span(ev.shard)} failed on worker {ev.worker}{where}: {error}",
            )
        elif ev.kind is EventKind.DIED:
            self._on_death(ev)

    def _on_death(self, ev: Event) -> None:
        assert self.executor is not None
        code = ev.exitcode
        self.starting.discard(ev.worker)
        if ev.worker in self.idle:
            self.idle.remove(ev.worker)
        shard = self.busy.pop(ev.worker, None)
        if shard is None:
            log(f"worker {ev.worker} exited (code {code}) while idle")
            self.startup_deaths += 1
            if self.startup_deaths > max(3, self.plan.max_retries + 1):
                raise JobEnded(
                    st.FAILED,
                    f"workers keep dying before they run a shard ({self.startup_deaths} in a "
                    f"row, last exit code {code}); see the job's logs",
                )
            if not self.busy and not self.starting and not self.idle and self.queue:
                self._start_worker()
            return
        self.shard_rows.pop(shard, None)
        self.shard_errors.pop(shard, None)
        attempts = self.shards[shard]["attempts"]
        self.exit_codes[shard].append(code)
        log(f"worker {ev.worker} died (exit code {code}) during shard {shard}, attempt {attempts}")
        self.store.end_attempt(self.job_id, shard, attempts, DIED)
        from squall.batch.sink import PartSink

        # Only a dead worker wrote these: nothing can still be writing them.
        for name in PartSink(self.plan.output_dir).discard_attempts(shard):
            log(f"removed {name}, left by the dead attempt")
        tries = self.run_attempts[shard]
        if tries > self.plan.max_retries:
            codes = ", ".join(str(c) for c in self.exit_codes[shard])
            raise JobEnded(
                st.FAILED,
                f"{self._shard_span(shard)} failed {tries} times: its worker died on every "
                f"attempt (exit codes {codes}); max_retries={self.plan.max_retries}",
            )
        self.store.shard_pending(self.job_id, shard)
        self.queue.appendleft(shard)
        if self.idle:
            self._assign(self.idle.pop())
        else:
            self._start_worker()

    def _start_worker(self) -> None:
        assert self.executor is not None
        worker = self.executor.start_worker()
        self.starting.add(worker)
        log(f"worker {worker} starting")
        self._record_worker(worker, self.executor.pid(worker))

    def _record_worker(self, worker: str, pid: int | None) -> None:
        """Note a worker's pid once: when it starts, or (a worker elsewhere, e.g. a Ray
        actor, whose pid is known only then) when it reports READY."""
        if pid is None or worker in self.recorded:
            return
        self.recorded.add(worker)
        try:
            self.store.record_worker(self.job_id, worker, pid)
        except Exception as exc:  # bookkeeping only: never fail a job over it
            log(f"worker {worker} (pid {pid}) not recorded: {exc}")

    # -- the run --------------------------------------------------------------------------
    def run(self) -> str:
        cfg = settings()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.store.start_run(self.job_id, os.getpid()):
            if self._cancel_requested():
                log("job cancelled before it started")
                self.store.finish(self.job_id, st.CANCELLED, "cancelled before it started")
                return st.CANCELLED
            log("job is no longer PENDING; nothing to do")
            return "SKIPPED"
        heartbeat = _Heartbeat(self.store, self.job_id, cfg.heartbeat_interval_s)
        heartbeat.start()
        final, message = st.FAILED, "unknown"
        try:
            final, message = self._drive()
        except JobEnded as end:
            final, message = end.status, end.message
        except BaseException as exc:
            final, message = st.FAILED, f"supervisor error: {type(exc).__name__}: {exc}"
            log(traceback.format_exc())
        finally:
            if self.executor is not None:
                if final == st.DONE:
                    self.executor.shutdown()
                else:
                    for worker in list(self.busy) + list(self.idle) + list(self.starting):
                        self.executor.stop_worker(worker)
                    self.executor.shutdown(grace=0.1)
            if final != st.DONE:  # whatever the end: no worker writes now, so none is listed
                with contextlib.suppress(Exception):
                    from squall.batch.sink import PartSink

                    PartSink(self.plan.output_dir).discard_attempts()
            with contextlib.suppress(Exception):
                self._flush_progress(force=True)
            heartbeat.stopped.set()
        if final == st.FAILED and self._cancel_requested():
            final, message = st.CANCELLED, "cancelled by request"
        # Logged before the end is recorded: whoever waited for the end finds it in the log.
        log(f"job ended {final}: {message}")
        if final == st.DONE:
            self.store.finish(self.job_id, st.DONE, message)
            from squall.batch.staging import remove_shards

            remove_shards(Path(self.plan.scratch_dir) / "input")
        else:
            self.store.finish(self.job_id, final, message)
        if self.executor is not None:
            self.executor.keep_warm()  # after the end is recorded: no one waits for it
        return final

    def _drive(self) -> tuple[str, str]:
        plan = self.plan
        self._check_job()
        self._load_shards()
        # Workers start first: loading their libraries and the model is most of a job's
        # fixed cost, and it runs while the supervisor does the rest of its start.
        if self.queue or self.staging:
            if self.executor is None:
                engine, context = pool_context(
                    self.store.catalog, plan, self.job_id, str(self.log_dir), self.job["spec"]
                )
                self.executor = create_executor(engine, context)
            wanted = plan.num_workers if self.staging else min(plan.num_workers, len(self.queue))
            limit = self.executor.worker_limit()
            if limit is not None and limit < wanted:
                log(
                    f"running {limit} worker(s), not {wanted}: that is what the compute pool's "
                    "memory and GPUs allow for this job's memory_requests and gpu_requests"
                )
                wanted = limit
            for _ in range(wanted):
                self._start_worker()
        from squall.batch.output import ERROR_COLUMN
        from squall.batch.sink import PartSink

        sink = PartSink(plan.output_dir)
        # Temporary files of a previous run's attempts. The workers just started write
        # nothing before they are handed a shard, which happens below.
        stray = sink.discard_attempts()
        log(
            f"job {self.job['name']}: model {plan.model_name}/{plan.version_name} "
            f"function {plan.function}, output {plan.output_location}, "
            f"{len(self.shards)} shard(s) staged so far, {len(self.queue)} to run"
            + (f", {len(stray)} leftover temporary file(s) removed" if stray else "")
        )
        last_check = time.monotonic()
        while self.staging or self.queue or self.busy:
            now = time.monotonic()
            if now - last_check > 0.1:
                last_check = now
                was_staging = self.staging
                self._check_job()
                if was_staging:
                    self._load_shards()
            assert self.executor is not None
            for ev in self.executor.events(timeout=0.05 if self.staging else 0.2):
                self._on_event(ev)
            self._flush_progress()
            if self.queue and not self.busy and not self.starting and not self.idle:
                self._start_worker()
        self._check_job()
        self._check_error_rate()
        rows = sum(s["rows"] for s in self.shards.values())
        errors = sum(s["error_rows"] for s in self.shards.values())
        problem = sink.complete(
            {s: info["rows"] for s, info in self.shards.items()},
            per_row=plan.function_kind != "partitioned",
            summary={
                "job": self.job["name"],
                "rows": rows,
                "error_rows": errors,
                "shards": len(self.shards),
                "completed": time.time(),
            },
        )
        if problem:
            raise JobEnded(st.FAILED, f"output check failed, _SUCCESS not written: {problem}")
        failed = f" ({errors} with errors in {ERROR_COLUMN})" if errors else ""
        return st.DONE, f"{rows} rows written to {plan.output_location}{failed}"

    def _check_error_rate(self) -> None:
        """Fail the job once its error rows exceed ``max_error_rate`` of all its rows."""
        rate = self.plan.max_error_rate
        if rate is None:
            return
        total = sum(s["rows"] for s in self.shards.values())
        errors = sum(s["error_rows"] for s in self.shards.values())
        if total and errors > rate * total:
            first = ""
            if self.first_error is not None:
                first = f"; first: input row {self.first_error[0]}: {self.first_error[1]}"
            raise JobEnded(
                st.FAILED,
                f"{errors} of {total} rows failed ({errors / total:.2%}), more than "
                f"max_error_rate={rate}{first}",
            )


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _import_sink() -> None:
    with contextlib.suppress(Exception):  # the supervisor's own import reports any failure
        import squall.batch.sink  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m squall.jobs.supervisor HOME JOB_ID", file=sys.stderr)
        return 2
    home, job_id = Path(args[0]), args[1]
    configure_logging()
    # The output sink (pyarrow, fsspec) is first needed once the workers are started; its
    # import runs beside the start-up instead of before the first shard is handed out.
    threading.Thread(target=_import_sink, name="squall-preload", daemon=True).start()
    try:
        result = Supervisor(home, job_id).run()
    except Exception:
        log(traceback.format_exc())
        JobStore(home).finish(job_id, st.FAILED, "supervisor could not start; see the job's log")
        return 1
    return 0 if result in (st.DONE, "SKIPPED") else 1


if __name__ == "__main__":
    sys.exit(main())
