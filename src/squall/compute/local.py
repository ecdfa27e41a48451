"""The embedded default compute pool: worker processes on this machine.

Each worker is a process that loads the model once and then runs the shards the supervisor
sends it over a pipe. Workers fork from the warm pool (compute/warm.py) when one runs: its
libraries are imported already, so a worker is ready in milliseconds. Otherwise they are
spawned, each importing its libraries itself. Its stdout and stderr go to its own log file,
so a model's prints and tracebacks land in the job's logs tagged with the worker.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

import psutil

from squall.compute import warm
from squall.compute.base import Event, Executor

__all__ = ["LocalExecutor"]


def _redirect_output(log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def _exit_with_supervisor(pid: int) -> None:
    """End this worker when its supervisor is gone, even in the middle of a model call.

    The supervisor, not the parent: a forked worker's parent is the warm pool, which
    outlives the supervisor.
    """
    import threading

    try:
        supervisor = psutil.Process(pid)
    except psutil.NoSuchProcess:
        os._exit(3)

    def gone() -> bool:
        try:
            return not supervisor.is_running() or supervisor.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if gone():
                os._exit(3)

    threading.Thread(target=watch, name="squall-supervisor-watch", daemon=True).start()


def _share_cores(num_workers: int) -> None:
    """Cap the native thread pools (BLAS, OpenMP, Arrow) at this worker's share of the cores.

    Each library sizes its pool to every core of the machine; with several workers that
    oversubscribes the cores, and idle BLAS threads spin: on 2 cores, 2 workers of a
    scikit-learn model burned 2.4x the CPU of capped ones for the same rows. Called after
    the model loaded, so the libraries it brought in are capped too.
    """
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    threads = max(1, (os.cpu_count() or 1) // max(1, num_workers))
    threadpool_limits(threads)
    pa.set_cpu_count(threads)


def _exit_now() -> NoReturn:
    """End a worker told to stop: exit handlers run, the interpreter's teardown is skipped.

    Every part the worker wrote is committed (or left as a temporary file) by then, and its
    log is flushed; tearing down pandas, pyarrow and the model's modules took a quarter of a
    second that the job's end waited for.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _worker_main(
    home: str, job_id: str, worker: str, log_path: str, conn: Connection, supervisor: int
) -> None:
    """Entry point of a local worker process."""
    before = set(sys.modules)
    _redirect_output(log_path)
    _exit_with_supervisor(supervisor)
    try:
        from squall.batch.plan import JobPlan
        from squall.batch.worker import ShardRunner
        from squall.catalog import Catalog
        from squall.stages import StageManager

        catalog = Catalog(Path(home) / "catalog.db")
        row = catalog.query_one("SELECT spec FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise LookupError(f"job {job_id} is not in the catalog")
        plan = JobPlan.from_json(row["spec"])
        runner = ShardRunner(plan, StageManager(Path(home), catalog))
        _share_cores(plan.num_workers)
    except BaseException:
        text = traceback.format_exc()
        print(f"worker {worker} could not start:\n{text}", file=sys.stderr, flush=True)
        conn.send(("failed", None, 0, {"error": text, "startup": True}))
        return
    origin = "forked by the warm pool" if os.getppid() != supervisor else "spawned"
    print(f"worker {worker} ready (pid {os.getpid()}, {origin})", flush=True)
    # What loading the model imported: the warm pool imports them for the next workers.
    modules = warm.new_library_modules(before)
    conn.send(("ready", None, 0, {"pid": os.getpid(), "modules": modules}))
    first_batch = True
    while True:
        try:
            message = conn.recv()
        except EOFError:
            _exit_now()
        if message is None:
            runner.close()  # an engine's GPU memory is freed before the process ends
            _exit_now()
        shard, path, attempt, first_row = message

        def progress(rows: int, errors: int, shard: int = shard) -> None:
            nonlocal first_batch
            if first_batch:
                # The job's fixed cost ends here; the timestamp is for latency measurements.
                first_batch = False
                print(f"worker {worker} first batch inferred at {time.time():.3f}", flush=True)
            conn.send(("progress", shard, rows, {"error_rows": errors}))

        try:
            result = runner.run(shard, path, progress, attempt=attempt, first_row=first_row)
        except Exception as exc:
            text = traceback.format_exc()
            print(f"shard {shard} failed:\n{text}", file=sys.stderr, flush=True)
            info: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}", "traceback": text}
            rows = getattr(exc, "squall_rows", None)  # the failing batch's input rows
            if rows is not None:
                info["rows"] = list(rows)
            conn.send(("failed", shard, 0, info))
            continue
        conn.send(
            (
                "done",
                shard,
                result.rows,
                {
                    "error_rows": result.error_rows,
                    "seconds": result.seconds,
                    "first_error": result.first_error,
                    "kept": result.kept,
                },
            )
        )
        if runner.kill_points.get((shard, attempt)) == "done":
            os.kill(os.getpid(), signal.SIGKILL)  # an injected fault (SQUALL_FAULT_KILL_WORKER)


def _fork_safe(kind: str) -> bool:
    """Whether workers of a model kind may be forked from the warm pool."""
    if not kind:
        return True
    try:
        from squall.model.handlers import get_handler

        return bool(get_handler(kind).fork_safe)
    except Exception:
        return True  # an unknown kind: the worker reports it


def _model_type(home: str, job_id: str) -> str:
    """The kind of the job's model (``sklearn``, ...), or "" when it cannot be read (the
    worker reads the plan and the model itself, and reports why)."""
    import json

    from squall.batch.plan import JobPlan
    from squall.catalog import Catalog

    try:
        row = Catalog(Path(home) / "catalog.db").query_one(
            "SELECT spec FROM jobs WHERE id = ?", (job_id,)
        )
        if row is None:
            return ""
        manifest = Path(JobPlan.from_json(row["spec"]).model_path) / "manifest.json"
        return str(json.loads(manifest.read_text())["model_type"])
    except Exception:
        return ""


class LocalExecutor(Executor):
    """Forks workers from the warm pool when one runs, else spawns them.

    A job's first workers never wait for a pool to start: without one they are spawned,
    which is as quick as a pool importing the same libraries, and on a few cores a pool
    started beside them slowed them down. A worker started once one was ready (the retry
    of a dead worker's shard, a replacement) starts the pool first and forks from it, so
    only the first such start waits for the imports. When the job has ended the
    supervisor calls ``keep_warm``, which starts the pool for the next job (or tells the
    running one what this job's model imported).
    """

    def __init__(self, home: str, job_id: str, log_dir: str) -> None:
        self.home = home
        self.job_id = job_id
        self.log_dir = log_dir
        # What workers of this job import: the pool imports them before it forks one (it
        # finds the model kind's libraries itself: the supervisor does not import them).
        self._kind = _model_type(home, job_id)
        # A kind whose libraries break when forked (torch) always spawns its workers.
        self._warm = warm.available() and _fork_safe(self._kind)
        self._modules: list[str] = []
        self._spawn = multiprocessing.get_context("spawn")
        self._any_ready = False
        self._procs: dict[str, Any] = {}
        self._conns: dict[str, Connection] = {}
        self._count = 0

    def _pool_log(self) -> str:
        return os.path.join(self.home, "run", "warm-pool.log")

    def _fork_warm(self, worker: str, log_path: str) -> tuple[Any, Connection | None]:
        """A worker forked by the warm pool and its pipe, or (None, None) when none runs."""
        ours, theirs = socket.socketpair()
        proc = warm.fork_worker(
            [self.home, self.job_id, worker, log_path],
            os.getpid(),
            self._kind,
            self._modules,
            theirs,
        )
        theirs.close()
        if proc is None:
            ours.close()
            return None, None
        return proc, Connection(ours.detach())

    def start_worker(self) -> str:
        worker = f"w{self._count}"
        self._count += 1
        log_path = os.path.join(self.log_dir, f"{worker}.log")
        proc: Any = None
        parent: Connection | None = None
        if self._warm:
            proc, parent = self._fork_warm(worker, log_path)
            retry = proc is None and self._any_ready  # a retry or a replacement
            if retry and warm.ensure(self._kind, self._modules, self._pool_log(), wait=True):
                proc, parent = self._fork_warm(worker, log_path)
        if proc is None:
            parent, child = self._spawn.Pipe(duplex=True)
            proc = self._spawn.Process(
                target=_worker_main,
                args=(self.home, self.job_id, worker, log_path, child, os.getpid()),
                name=f"squall-{worker}",
                daemon=True,
            )
            proc.start()
            child.close()
        assert parent is not None
        self._procs[worker] = proc
        self._conns[worker] = parent
        self._record_pid(worker, proc.pid)
        return worker

    def keep_warm(self) -> None:
        if self._warm:
            try:
                warm.ensure(self._kind, self._modules, self._pool_log(), wait=False)
            except Exception as exc:  # the next job spawns its workers instead
                print(f"warm pool not started: {type(exc).__name__}: {exc}", flush=True)

    def _record_pid(self, worker: str, pid: int | None) -> None:
        """Note the worker's pid in the catalog, so anyone can check it is gone after the job."""
        import time

        from squall.catalog import Catalog

        try:
            Catalog(Path(self.home) / "catalog.db").execute(
                "INSERT INTO workers (job_id, worker, pid, started) VALUES (?, ?, ?, ?)",
                (self.job_id, worker, pid, time.time()),
            )
        except Exception as exc:  # bookkeeping only: never fail a job over it
            print(f"worker {worker} (pid {pid}) not recorded: {exc}", flush=True)

    def pid(self, worker: str) -> int | None:
        proc = self._procs.get(worker)
        return proc.pid if proc is not None else None

    def submit(
        self, worker: str, shard: int, path: str, *, attempt: int = 1, first_row: int = 0
    ) -> None:
        # A worker that died just now (its pipe broken, or already forgotten by events() whose
        # "died" event is still to be handled): its death is reported, and its shard retried.
        conn = self._conns.get(worker)
        if conn is None:
            return
        with contextlib.suppress(OSError):
            conn.send((shard, path, attempt, first_row))

    def events(self, timeout: float) -> list[Event]:
        by_handle: dict[Any, tuple[str, str]] = {}
        for worker, conn in self._conns.items():
            by_handle[conn] = ("conn", worker)
            by_handle[self._procs[worker].sentinel] = ("proc", worker)
        if not by_handle:
            return []
        ready = multiprocessing.connection.wait(list(by_handle), timeout)
        out: list[Event] = []
        dead: list[str] = []
        for handle in ready:
            what, worker = by_handle[handle]
            if what == "conn":
                conn = self._conns[worker]
                try:
                    while conn.poll():
                        kind, shard, rows, info = conn.recv()
                        if kind == "ready":
                            self._any_ready = True
                            learned = info.pop("modules", None) or ()
                            self._modules = list(dict.fromkeys([*self._modules, *learned]))
                        out.append(Event(kind, worker, shard, rows, info))
                except (EOFError, OSError):
                    dead.append(worker)
            else:
                dead.append(worker)
        for worker in dict.fromkeys(dead):
            proc = self._procs[worker]
            proc.join(timeout=5)
            out.append(Event("died", worker, info={"exitcode": proc.exitcode}))
            self._forget(worker)
        return out

    def _forget(self, worker: str) -> None:
        conn = self._conns.pop(worker, None)
        if conn is not None:
            conn.close()
        self._procs.pop(worker, None)

    def stop_worker(self, worker: str) -> None:
        proc = self._procs.get(worker)
        if proc is not None:
            _kill_tree(proc.pid)
            proc.join(timeout=10)
        self._forget(worker)

    def shutdown(self, grace: float = 3.0) -> None:
        for worker, conn in list(self._conns.items()):
            with contextlib.suppress(OSError):
                conn.send(None)
            del worker
        procs = list(self._procs.values())
        for proc in procs:
            proc.join(timeout=grace)
        for proc in procs:
            if proc.is_alive():
                _kill_tree(proc.pid)
                proc.join(timeout=10)
        for worker in list(self._procs):
            self._forget(worker)


def _kill_tree(pid: int | None) -> None:
    """SIGKILL a worker and whatever processes its model started."""
    if pid is None:
        return
    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(family, timeout=10)
