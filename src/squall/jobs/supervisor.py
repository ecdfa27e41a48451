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
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from squall.batch.plan import JobPlan
from squall.catalog import Catalog
from squall.compute import Event, Executor, get_executor
from squall.config import settings
from squall.errors import redact
from squall.jobs import status as st
from squall.logtime import log_stamp

__all__ = ["Supervisor", "main"]

# The output and staging modules (pyarrow) load where they are used, after the workers were
# started: a job's first batch waits on their imports, not on the supervisor's.
# Every worker runs this module as its main module too, so it stays light.


def log(message: str) -> None:
    print(f"{log_stamp()} {redact(message)}", flush=True)


class _Heartbeat(threading.Thread):
    def __init__(self, catalog: Catalog, job_id: str, interval: float) -> None:
        super().__init__(name="squall-heartbeat", daemon=True)
        self.catalog, self.job_id, self.interval = catalog, job_id, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.catalog.execute(
                    "UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time(), self.job_id)
                )
            except Exception as exc:  # a busy catalog must not kill the heartbeat
                log(f"heartbeat not recorded: {exc}")


class JobEnded(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Supervisor:
    def __init__(self, home: Path, job_id: str) -> None:
        self.home = home
        self.job_id = job_id
        self.catalog = Catalog(home / "catalog.db")
        row = self.catalog.query_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
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
        self.executor: Executor | None = None
        self.staging = True
        self._last_flush = 0.0

    # -- catalog --------------------------------------------------------------------------
    def _load_shards(self) -> None:
        """Queue the shards recorded since the last call (staging adds them as it goes)."""
        known = max(self.shards, default=-1)
        rows = self.catalog.query(
            "SELECT shard, path, rows, first_row, status, attempts, error_rows FROM shards "
            "WHERE job_id = ? AND shard > ? ORDER BY shard",
            (self.job_id, known),
        )
        out_dir = Path(self.plan.output_dir)
        for r in rows:
            self.shards[r["shard"]] = r
            committed = False
            if r["status"] == "DONE":  # a resumed job's shard, committed by an earlier run
                from squall.batch.output import part_name

                committed = (out_dir / part_name(r["shard"])).exists()
            if not committed:
                r["error_rows"] = 0
                self.queue.append(r["shard"])
        while self.queue and self.idle:
            self._assign(self.idle.pop())

    def _check_job(self) -> None:
        """End the run when cancel was asked, the job ended elsewhere, or staging died."""
        row = self.catalog.query_one(
            "SELECT status, cancel_requested, staging, stager_pid FROM jobs WHERE id = ?",
            (self.job_id,),
        )
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
        row = self.catalog.query_one(
            "SELECT cancel_requested FROM jobs WHERE id = ?", (self.job_id,)
        )
        return bool(row and row["cancel_requested"])

    def _flush_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < 0.5:
            return
        self._last_flush = now
        with self.catalog.connect() as con:
            for shard, rows in self.shard_rows.items():
                con.execute(
                    "UPDATE shards SET rows_done = ?, error_rows = ? WHERE job_id = ? AND shard = ?",
                    (rows, self.shard_errors.get(shard, 0), self.job_id, shard),
                )
            con.execute(
                "UPDATE jobs SET rows_done = (SELECT COALESCE(SUM(rows_done), 0) FROM shards WHERE job_id = ?), "
                "shards_done = (SELECT COUNT(*) FROM shards WHERE job_id = ? AND status = 'DONE'), "
                "error_rows = (SELECT COALESCE(SUM(error_rows), 0) FROM shards WHERE job_id = ?) "
                "WHERE id = ?",
                (self.job_id, self.job_id, self.job_id, self.job_id),
            )

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
        with self.catalog.connect() as con:
            con.execute(
                "UPDATE shards SET status = 'RUNNING', attempts = ?, worker = ?, rows_done = 0 "
                "WHERE job_id = ? AND shard = ?",
                (info["attempts"], worker, self.job_id, shard),
            )
            con.execute(
                "INSERT OR REPLACE INTO shard_attempts (job_id, shard, attempt, worker, started) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.job_id, shard, info["attempts"], worker, time.time()),
            )
        log(f"shard {shard} ({info['rows']} rows) -> worker {worker}, attempt {info['attempts']}")
        self.executor.submit(
            worker, shard, info["path"], attempt=info["attempts"], first_row=info["first_row"]
        )

    def _end_attempt(
        self, con: Any, shard: int, status: str, when: float, rows: int | None = None
    ) -> None:
        """Record how the shard's current attempt ended (for the job's shard timeline)."""
        con.execute(
            "UPDATE shard_attempts SET status = ?, ended = ?, rows = ? "
            "WHERE job_id = ? AND shard = ? AND attempt = ?",
            (status, when, rows, self.job_id, shard, self.shards[shard]["attempts"]),
        )

    def _shard_span(self, shard: int) -> str:
        info = self.shards[shard]
        first = info["first_row"]
        return f"shard {shard} (input rows {first}..{first + info['rows'] - 1})"

    def _on_event(self, ev: Event) -> None:
        assert self.executor is not None
        if ev.kind == "ready":
            self.starting.discard(ev.worker)
            self._assign(ev.worker)
        elif ev.kind == "progress" and ev.shard is not None:
            self.shard_rows[ev.shard] = self.shard_rows.get(ev.shard, 0) + ev.rows
            errors = ev.info.get("error_rows", 0)
            self.shard_errors[ev.shard] = self.shard_errors.get(ev.shard, 0) + errors
        elif ev.kind == "done" and ev.shard is not None:
            self.busy.pop(ev.worker, None)
            self.shard_rows[ev.shard] = ev.rows
            self.startup_deaths = 0
            errors = ev.info.get("error_rows", 0)
            self.shards[ev.shard]["error_rows"] = errors
            if ev.info.get("first_error") and self.first_error is None:
                self.first_error = tuple(ev.info["first_error"])  # type: ignore[assignment]
            now = time.time()
            with self.catalog.connect() as con:
                con.execute(
                    "UPDATE shards SET status = 'DONE', rows_done = ?, error_rows = ?, completed = ?, error = NULL "
                    "WHERE job_id = ? AND shard = ?",
                    (ev.rows, errors, now, self.job_id, ev.shard),
                )
                con.execute(
                    "UPDATE jobs SET first_output_time = COALESCE(first_output_time, ?) WHERE id = ?",
                    (now, self.job_id),
                )
                self._end_attempt(con, ev.shard, "DONE", now, ev.rows)
            del self.shard_rows[ev.shard]
            self.shard_errors.pop(ev.shard, None)
            self._flush_progress(force=True)
            kept = " (part committed by an earlier attempt, kept)" if ev.info.get("kept") else ""
            failed = f", {errors} failed" if errors else ""
            log(
                f"shard {ev.shard} done by {ev.worker}: {ev.rows} rows{failed} in "
                f"{ev.info.get('seconds', 0):.2f}s{kept}"
            )
            if not self.staging:
                self._check_error_rate()
            self._assign(ev.worker)
        elif ev.kind == "failed":
            error = ev.info.get("error", "unknown error")
            if ev.shard is None:
                raise JobEnded(st.FAILED, f"worker {ev.worker} could not start: {error}")
            with self.catalog.connect() as con:
                con.execute(
                    "UPDATE shards SET status = 'FAILED', error = ? WHERE job_id = ? AND shard = ?",
                    (error, self.job_id, ev.shard),
                )
                self._end_attempt(con, ev.shard, "FAILED", time.time())
            rows = ev.info.get("rows")
            where = f" in its batch of input rows {rows[0]}..{rows[1]}" if rows else ""
            raise JobEnded(
                st.FAILED,
                f"{self._shard_span(ev.shard)} failed on worker {ev.worker}{where}: {error}",
            )
        elif ev.kind == "died":
            self._on_death(ev)

    def _on_death(self, ev: Event) -> None:
        assert self.executor is not None
        code = ev.info.get("exitcode")
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
        with self.catalog.connect() as con:
            self._end_attempt(con, shard, "DIED", time.time())
        from squall.batch.output import remove_temp_parts

        # Only a dead worker wrote these: nothing can still be writing them.
        for name in remove_temp_parts(Path(self.plan.output_dir), shard):
            log(f"removed {name}, left by the dead attempt")
        tries = self.run_attempts[shard]
        if tries > self.plan.max_retries:
            codes = ", ".join(str(c) for c in self.exit_codes[shard])
            raise JobEnded(
                st.FAILED,
                f"{self._shard_span(shard)} failed {tries} times: its worker died on every "
                f"attempt (exit codes {codes}); max_retries={self.plan.max_retries}",
            )
        self.catalog.execute(
            "UPDATE shards SET status = 'PENDING', rows_done = 0 WHERE job_id = ? AND shard = ?",
            (self.job_id, shard),
        )
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

    # -- the run --------------------------------------------------------------------------
    def run(self) -> str:
        cfg = settings()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ok = self.catalog.execute(
            "UPDATE jobs SET status = ?, started_time = COALESCE(started_time, ?), heartbeat = ?, supervisor_pid = ?, "
            "message = CASE WHEN message = 'resuming' THEN NULL ELSE message END "
            "WHERE id = ? AND status = ?",
            (st.RUNNING, time.time(), time.time(), os.getpid(), self.job_id, st.PENDING),
        )
        if not ok:
            if self._cancel_requested():
                log("job cancelled before it started")
                st.finish(self.catalog, self.job_id, st.CANCELLED, "cancelled before it started")
                return st.CANCELLED
            log("job is no longer PENDING; nothing to do")
            return "SKIPPED"
        heartbeat = _Heartbeat(self.catalog, self.job_id, cfg.heartbeat_interval_s)
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
                    from squall.batch.output import remove_temp_parts

                    remove_temp_parts(Path(self.plan.output_dir))
            with contextlib.suppress(Exception):
                self._flush_progress(force=True)
            heartbeat.stopped.set()
        if final == st.FAILED and self._cancel_requested():
            final, message = st.CANCELLED, "cancelled by request"
        # Logged before the end is recorded: whoever waited for the end finds it in the log.
        log(f"job ended {final}: {message}")
        if final == st.DONE:
            st.finish(self.catalog, self.job_id, st.DONE, message)
            from squall.batch.staging import remove_shards

            remove_shards(Path(self.plan.scratch_dir) / "input")
        else:
            st.finish(self.catalog, self.job_id, final, message)
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
            self.executor = get_executor(
                plan.compute_pool, str(self.home), self.job_id, str(self.log_dir)
            )
            wanted = plan.num_workers if self.staging else min(plan.num_workers, len(self.queue))
            for _ in range(wanted):
                self._start_worker()
        from squall.batch.output import (
            ERROR_COLUMN,
            check_parts,
            remove_temp_parts,
            write_success,
        )

        # Temporary files of a previous run's attempts. The workers just started write
        # nothing before they are handed a shard, which happens below.
        stray = remove_temp_parts(Path(plan.output_dir))
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
        problem = check_parts(
            Path(plan.output_dir),
            {s: info["rows"] for s, info in self.shards.items()},
            per_row=plan.function_kind != "partitioned",
        )
        if problem:
            raise JobEnded(st.FAILED, f"output check failed, _SUCCESS not written: {problem}")
        remove_temp_parts(Path(plan.output_dir))
        errors = sum(s["error_rows"] for s in self.shards.values())
        write_success(
            Path(plan.output_dir),
            {
                "job": self.job["name"],
                "rows": rows,
                "error_rows": errors,
                "shards": len(self.shards),
                "completed": time.time(),
            },
        )
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m squall.jobs.supervisor HOME JOB_ID", file=sys.stderr)
        return 2
    home, job_id = Path(args[0]), args[1]
    try:
        result = Supervisor(home, job_id).run()
    except Exception:
        log(traceback.format_exc())
        catalog = Catalog(home / "catalog.db")
        st.finish(catalog, job_id, st.FAILED, "supervisor could not start; see the job's log")
        return 1
    return 0 if result in (st.DONE, "SKIPPED") else 1


if __name__ == "__main__":
    sys.exit(main())
