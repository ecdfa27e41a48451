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
import io
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

import psutil

from squall.compute import warm
from squall.compute.base import Event, EventKind, Executor, ExecutorContext, ShardTask
from squall.compute.worker import run_worker
from squall.errors import InvalidSpecError
from squall.logs import configure_logging
from squall.logtime import log_stamp
from squall.model.resources import Resources

__all__ = ["LocalExecutor", "WorkerArgs", "machine_gpus", "worker_process"]

log = logging.getLogger("squall.worker")


def _redirect_output(log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    sys.stdout = _Stamped(sys.stdout)
    sys.stderr = _Stamped(sys.stderr)


class _Stamped(io.TextIOBase):
    """A text stream that starts every line with the log timestamp (squall.logtime)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._at_line_start = True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                out.append(f"{log_stamp()} ")
            out.append(piece)
            self._at_line_start = piece.endswith("\n")
        self._stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return int(self._stream.fileno())

    @property
    def unstamped(self) -> Any:
        """The stream beneath: log records, stamped by their formatter, go there."""
        return self._stream

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


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


def _cap_threads(threads: int) -> None:
    """Cap the native thread pools (BLAS, OpenMP, Arrow) at this worker's share of the cores.

    Each library sizes its pool to every core of the machine; with several workers that
    oversubscribes the cores, and idle BLAS threads spin: on 2 cores, 2 workers of a
    scikit-learn model burned 2.4x the CPU of capped ones for the same rows. Called after
    the model loaded, so the libraries it brought in are capped too.
    """
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    pa.set_cpu_count(threads)


def _exit_now() -> NoReturn:
    """End a worker told to stop: exit handlers run, the interpreter's teardown is skipped.

    Every part the worker wrote is committed (or left as a temporary file) by then, and its
    log is flushed; tearing down pandas, pyarrow and the model's modules took a quarter of a
    second that the job's end waited for.
    """
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


@dataclass(frozen=True)
class WorkerArgs:
    """What a local worker process is handed: its job, its log, its plan and its share."""

    home: str
    job_id: str
    worker: str
    log_path: str
    plan_json: str
    threads: int = 1
    memory_bytes: int | None = None
    gpus: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gpus": list(self.gpus)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerArgs:
        return cls(**{**data, "gpus": tuple(data.get("gpus", ()))})


def _stages(args: WorkerArgs) -> Any:
    """The workspace's stages: file columns, and models that read files their rows name (a
    chat message's image_url), read stage paths through them. A local worker sees the
    workspace; None only when it cannot be opened."""
    from squall.catalog import Catalog
    from squall.stages import StageManager

    try:
        return StageManager(Path(args.home), Catalog(Path(args.home) / "catalog.db"))
    except Exception as exc:  # the worker fails its shards, saying why
        log.warning("worker %s: stages not available: %s", args.worker, exc)
        return None


def worker_process(args: WorkerArgs, conn: Connection, supervisor: int) -> NoReturn:
    """Entry point of a local worker process: the worker loop over its pipe."""
    before = set(sys.modules)
    _redirect_output(args.log_path)
    configure_logging()
    _exit_with_supervisor(supervisor)
    if args.gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in args.gpus)
    resources = Resources(args.threads, args.memory_bytes, args.gpus)
    worker = args.worker

    def tasks() -> Iterator[ShardTask | None]:
        while True:
            try:
                yield conn.recv()
            except EOFError:
                return

    def emit(event: Event) -> None:
        conn.send(event)

    def on_ready() -> list[str]:
        _cap_threads(args.threads)
        origin = "forked by the warm pool" if os.getppid() != supervisor else "spawned"
        log.info("worker %s ready (pid %s, %s)", worker, os.getpid(), origin)
        # What loading the model imported: the warm pool imports them for the next workers.
        return warm.new_library_modules(before)

    stages = _stages(args)
    run_worker(
        worker, args.plan_json, stages, tasks(), emit, resources=resources, on_ready=on_ready
    )
    _exit_now()


def machine_gpus() -> list[int]:
    """The GPUs this process may use: its ``CUDA_VISIBLE_DEVICES``, else every NVIDIA device."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(g) for g in visible.split(",") if g.strip().isdigit()]
    return sorted(
        int(p.name[len("nvidia") :])
        for p in Path("/dev").glob("nvidia[0-9]*")
        if p.name[len("nvidia") :].isdigit()
    )


class LocalExecutor(Executor):
    """Forks workers from the warm pool when one runs, else spawns them.

    A job's first workers never wait for a pool to start: without one they are spawned,
    which is as quick as a pool importing the same libraries, and on a few cores a pool
    started beside them slowed them down. A worker started once one was ready (the retry
    of a dead worker's shard, a replacement) starts the pool first and forks from it, so
    only the first such start waits for the imports. When the job has ended the
    supervisor calls ``keep_warm``, which starts the pool for the next job (or tells the
    running one what this job's model imported). A model kind that is not fork-safe
    (its handler says so) always gets spawned workers.

    Resources: ``cpu_requests`` sets each worker's native thread caps (default: its share
    of the cores); ``memory_requests`` bounds how many workers run at once against the
    machine's available memory; ``gpu_requests`` gives each worker its own slice of the
    GPUs (``CUDA_VISIBLE_DEVICES``), and a request larger than the machine's is refused.
    """

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        from squall.batch.plan import JobPlan
        from squall.model.kinds import is_fork_safe

        self.home = context.home
        self.job_id = context.job_id
        self.log_dir = context.log_dir
        self.plan = JobPlan.from_json(context.plan_json)
        # What workers of this job import: the pool imports them before it forks one (it
        # finds the model kind's libraries itself: the supervisor does not import them).
        self._kind = context.model_kind
        self._warm = warm.available() and is_fork_safe(self._kind)
        self._gpus = self._gpu_slices()
        self._modules: list[str] = []
        self._spawn = multiprocessing.get_context("spawn")
        self._any_ready = False
        self._procs: dict[str, Any] = {}
        self._conns: dict[str, Connection] = {}
        self._count = 0
        self._slots: dict[str, int] = {}  # worker -> its GPU slice

    def _gpu_slices(self) -> list[tuple[int, ...]]:
        wanted = self.plan.gpu_requests
        if not wanted:
            return []
        gpus = machine_gpus()
        if wanted > len(gpus):
            raise InvalidSpecError(
                f"gpu_requests={wanted}, but this machine has {len(gpus)} GPU(s) for workers"
            )
        return [tuple(gpus[i : i + wanted]) for i in range(0, len(gpus) - wanted + 1, wanted)]

    def worker_limit(self) -> int | None:
        limits = []
        if self._gpus:
            limits.append(len(self._gpus))
        if self.plan.memory_bytes:
            available = psutil.virtual_memory().available
            limits.append(max(1, available // self.plan.memory_bytes))
        return min(limits) if limits else None

    def _threads(self) -> int:
        if self.plan.cpu_requests:
            return max(1, math.ceil(self.plan.cpu_requests))
        return max(1, (os.cpu_count() or 1) // max(1, self.plan.num_workers))

    def _pool_log(self) -> str:
        return os.path.join(self.home, "run", "warm-pool.log")

    def _fork_warm(self, args: WorkerArgs) -> tuple[Any, Connection | None]:
        """A worker forked by the warm pool and its pipe, or (None, None) when none runs."""
        ours, theirs = socket.socketpair()
        proc = warm.fork_worker(args.to_dict(), os.getpid(), self._kind, self._modules, theirs)
        theirs.close()
        if proc is None:
            ours.close()
            return None, None
        return proc, Connection(ours.detach())

    def _args(self, worker: str) -> WorkerArgs:
        in_use = {self._slots[w] for w in self._procs if w in self._slots}
        gpus: tuple[int, ...] = ()
        if self._gpus:
            slot = next((i for i in range(len(self._gpus)) if i not in in_use), 0)
            self._slots[worker] = slot
            gpus = self._gpus[slot]
        return WorkerArgs(
            self.home,
            self.job_id,
            worker,
            os.path.join(self.log_dir, f"{worker}.log"),
            self.context.plan_json,
            self._threads(),
            self.plan.memory_bytes,
            gpus,
        )

    def start_worker(self) -> str:
        worker = f"w{self._count}"
        self._count += 1
        args = self._args(worker)
        proc: Any = None
        parent: Connection | None = None
        if self._warm:
            proc, parent = self._fork_warm(args)
            retry = proc is None and self._any_ready  # a retry or a replacement
            if retry and warm.ensure(self._kind, self._modules, self._pool_log(), wait=True):
                proc, parent = self._fork_warm(args)
        if proc is None:
            parent, child = self._spawn.Pipe(duplex=True)
            proc = self._spawn.Process(
                target=worker_process,
                args=(args, child, os.getpid()),
                name=f"squall-{worker}",
                daemon=True,
            )
            proc.start()
            child.close()
        assert parent is not None
        self._procs[worker] = proc
        self._conns[worker] = parent
        return worker

    def keep_warm(self) -> None:
        if self._warm:
            try:
                warm.ensure(self._kind, self._modules, self._pool_log(), wait=False)
            except Exception as exc:  # the next job spawns its workers instead
                log.warning("warm pool not started: %s: %s", type(exc).__name__, exc)

    def pid(self, worker: str) -> int | None:
        proc = self._procs.get(worker)
        return proc.pid if proc is not None else None

    def submit(self, worker: str, task: ShardTask) -> None:
        # A worker that died just now (its pipe broken, or already forgotten by events() whose
        # DIED event is still to be handled): its death is reported, and its shard retried.
        conn = self._conns.get(worker)
        if conn is None:
            return
        with contextlib.suppress(OSError):
            conn.send(task)

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
                        event: Event = conn.recv()
                        if event.kind is EventKind.READY:
                            self._any_ready = True
                            learned = event.modules
                            self._modules = list(dict.fromkeys([*self._modules, *learned]))
                        out.append(event)
                except (EOFError, OSError):
                    dead.append(worker)
            else:
                dead.append(worker)
        for worker in dict.fromkeys(dead):
            proc = self._procs[worker]
            proc.join(timeout=5)
            out.append(Event(EventKind.DIED, worker, exitcode=proc.exitcode))
            self._forget(worker)
        return out

    def _forget(self, worker: str) -> None:
        conn = self._conns.pop(worker, None)
        if conn is not None:
            conn.close()
        self._procs.pop(worker, None)
        self._slots.pop(worker, None)

    def stop_worker(self, worker: str) -> None:
        proc = self._procs.get(worker)
        if proc is not None:
            _kill_tree(proc.pid)
            proc.join(timeout=10)
        self._forget(worker)

    def shutdown(self, grace: float = 3.0) -> None:
        for conn in list(self._conns.values()):
            with contextlib.suppress(OSError):
                conn.send(None)
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
