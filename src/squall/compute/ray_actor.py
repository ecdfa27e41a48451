"""The worker actor of a Ray compute pool (see ``compute/ray.py`` for the executor).

One ``RayWorker`` runs squall's worker loop in a thread of its Ray actor: the executor
feeds it with ``submit`` and reads it with ``next_events``; ``finish`` ends the loop. A
warm worker (``keep_s`` > 0) then waits for the pool's next job (``begin``), ending itself
once idle too long or when the supervisor of the job it serves stops calling.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from squall.compute.base import Event, EventKind, ShardTask
from squall.compute.shipping import ShippedFiles

__all__ = ["RayWorker"]

log = logging.getLogger("squall.worker")


class RayWorker:
    """A worker actor: the worker loop in a thread, fed by ``submit``, read by
    ``next_events``. Created with ``ray.remote`` by the executor.

    ``keep_s`` > 0 makes it a warm worker of its pool: after ``finish`` it waits, idle and
    with the libraries its jobs imported still loaded, for ``begin`` to hand it the pool's
    next job, and ends itself once idle for ``keep_s`` seconds. While it serves a job it
    ends itself if nothing has called it for ``_lease_s()`` (its supervisor is gone).
    """

    def __init__(self, *job: Any, keep_s: float = 0.0) -> None:
        """Start serving ``job`` (``begin``'s arguments) at once."""
        import platform

        self.node = platform.node()
        with contextlib.suppress(Exception):
            import ray

            ip = ray.util.get_node_ip_address() or self.node
            # The node's id tells apart nodes that share an address (several on one machine).
            self.node = f"{ip}/{ray.get_runtime_context().get_node_id()[:8]}"
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._install_log()
        audit = os.environ.get("SQUALL_TEST_WORKER_AUDIT")
        if audit:
            _forbid_opening(audit)
        self._keep_s = keep_s
        self._job = ""  # the job served now; "" when idle
        self._seen = time.monotonic()  # the last call from the job's supervisor, or idle since
        self.begin(*job)
        if keep_s > 0:
            threading.Thread(target=self._watch, name="squall-warm", daemon=True).start()

    def begin(
        self,
        worker: str,
        home: str,
        job_id: str,
        plan_json: str,
        threads: int,
        model_tar: bytes | None = None,
    ) -> bool:
        """Serve a job as its worker ``worker``; False if this actor serves one already."""
        with self._lock:
            if self._job:
                return False
            self._job, self._seen, self._lines = job_id, time.monotonic(), []
        self._tasks: queue.Queue[ShardTask | None] = queue.Queue()
        self._events: queue.Queue[Event] = queue.Queue()
        self._local: str | None = None
        self._files: ShippedFiles | None = None
        if model_tar is not None:
            plan_json = self._detach(job_id, worker, plan_json, model_tar)
            home = ""
        args = (worker, home, job_id, plan_json, threads)
        self._loop = threading.Thread(
            target=self._run, args=args, name="squall-worker", daemon=True
        )
        self._loop.start()
        return True

    def _watch(self) -> None:
        """A warm worker's end: idle too long, or serving a job nobody calls about."""
        lease = _lease_s()
        while True:
            time.sleep(0.5)
            with self._lock:
                quiet = time.monotonic() - self._seen
                job = self._job
            if (job and quiet > lease) or (not job and quiet > self._keep_s):
                why = f"no call about job {job} for {quiet:.0f} s" if job else "idle"
                log.info("warm worker (pid %s) on node %s ends: %s", os.getpid(), self.node, why)
                self._end()
                return

    def _end(self) -> None:
        """End this actor as an intended exit (Ray logs no failure); its process, if that
        has not ended it within seconds."""
        fallback = threading.Timer(10.0, os._exit, (0,))
        fallback.daemon = True
        fallback.start()
        try:
            import ray

            ray.get_runtime_context().current_actor.quit.remote()
        except Exception:
            os._exit(0)

    def quit(self) -> None:
        import ray

        ray.actor.exit_actor()

    def _touch(self) -> None:
        with self._lock:
            self._seen = time.monotonic()

    def _detach(self, job_id: str, worker: str, plan_json: str, model_tar: bytes) -> str:
        """No shared file system: the model unpacked, input and output in a local folder."""
        import tempfile

        from squall.compute.shipping import unpack_folder

        self._local = tempfile.mkdtemp(prefix=f"squall-{job_id[:12]}-{worker}-")
        unpack_folder(model_tar, os.path.join(self._local, "model"))
        plan = json.loads(plan_json)
        for key, sub in (("model_path", "model"), ("output_dir", "out"), ("scratch_dir", "tmp")):
            plan[key] = os.path.join(self._local, sub)
        os.makedirs(os.path.join(self._local, "in"), exist_ok=True)
        if plan.get("file_columns"):
            output = (plan["output_location"], plan["output_dir"])
            self._files = ShippedFiles(os.path.join(self._local, "files"), output)
        return json.dumps(plan)

    def _install_log(self) -> None:
        from squall.logs import FORMAT, Formatter

        outer = self

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                with outer._lock:
                    outer._lines.append(self.format(record))

        handler = Collect()
        handler.setFormatter(Formatter(f"{FORMAT} [node {self.node}]"))
        logger = logging.getLogger("squall")
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(os.environ.get("SQUALL_LOG_LEVEL", "INFO").upper())

    def _run(self, worker: str, home: str, job_id: str, plan_json: str, threads: int) -> None:
        from squall.compute.local import WorkerArgs, _cap_threads, _stages
        from squall.compute.worker import run_worker
        from squall.model.resources import Resources

        def tasks() -> Iterator[ShardTask | None]:
            while True:
                yield self._tasks.get()

        def on_ready() -> list[str]:
            _cap_threads(threads)
            log.info("worker %s ready (pid %s) on node %s", worker, os.getpid(), self.node)
            return []

        stages: Any = self._files
        if home:
            stages = _stages(WorkerArgs(home, job_id, worker, "", plan_json))
        gpus: tuple[int, ...] = ()
        with contextlib.suppress(Exception):
            import ray

            gpus = tuple(int(g) for g in ray.get_gpu_ids())
        resources = Resources(threads, None, gpus)
        run_worker(
            worker, plan_json, stages, tasks(), self._events.put, resources=resources,
            on_ready=on_ready,
        )  # fmt: skip
        self._events.put(Event(EventKind.DIED, worker, exitcode=0))

    def where(self) -> tuple[str, int]:
        return self.node, os.getpid()

    def retire(self) -> bool:
        """End this warm worker now if it is idle (the pool's jobs ask for other resources
        and its own would hold theirs); True if it ends."""
        with self._lock:
            if self._job:
                return False
        self._end()
        return True

    def submit(
        self,
        task: ShardTask | None,
        data: bytes | None = None,
        files: dict[str, bytes | BaseException] | None = None,
    ) -> None:
        self._touch()
        if task is not None:
            log.info("shard %s, attempt %s, on node %s", task.shard, task.attempt, self.node)
        if task is not None and data is not None and self._local is not None:
            from dataclasses import replace

            from squall.batch.shards import IpcShard

            key = f"shard-{task.shard}-{task.attempt}"
            path = os.path.join(self._local, "in", f"{key}.arrow")
            with open(path, "wb") as fh:
                fh.write(data)
            if files is not None and self._files is not None:
                self._files.add(key, files)
            task = replace(task, ref=IpcShard(path))
        self._tasks.put(task)

    def take_part(self, shard: int) -> bytes | None:
        """A committed part's bytes, for the supervisor to commit (no shared file system)."""
        from squall.batch.output import part_name

        assert self._local is not None
        self._touch()
        path = os.path.join(self._local, "out", part_name(shard))
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        os.unlink(path)
        for name in os.listdir(os.path.join(self._local, "in")):
            if name.startswith(f"shard-{shard}-"):
                os.unlink(os.path.join(self._local, "in", name))
        if self._files is not None:
            self._files.drop(f"shard-{shard}-")
        return data

    def _drop_local(self) -> None:
        local = getattr(self, "_local", None)
        if isinstance(local, str):
            import shutil

            shutil.rmtree(local, ignore_errors=True)
        self._local = None

    def __del__(self) -> None:
        self._drop_local()

    def next_events(self, timeout: float) -> tuple[list[Event], list[str]]:
        self._touch()
        events: list[Event] = []
        with contextlib.suppress(queue.Empty):
            events.append(self._events.get(timeout=timeout))
            while True:
                events.append(self._events.get_nowait())
        return events, self._take_lines()

    def finish(self, timeout: float) -> list[str]:
        """End the worker loop (after the task it runs, waiting at most ``timeout``
        seconds) and return the log lines not collected yet. Waits for the loop itself, not
        for its last event: a ``next_events`` call still in flight may take that."""
        self._touch()
        self._tasks.put(None)
        self._loop.join(timeout)
        lines = self._take_lines()
        if self._keep_s > 0:
            if self._loop.is_alive():  # still in a shard: not fit for the next job
                self._end()
                return lines
            self._drop_local()
            with self._lock:
                self._job, self._seen = "", time.monotonic()
        return lines

    def _take_lines(self) -> list[str]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines


def _lease_s() -> float:
    """How long a warm worker serving a job waits for a call before it takes the job's
    supervisor for dead and ends (``SQUALL_RAY_WARM_LEASE_S``, 60 s)."""
    return float(os.environ.get("SQUALL_RAY_WARM_LEASE_S", "60"))


def _forbid_opening(folder: str) -> None:
    """Test-only (``SQUALL_TEST_WORKER_AUDIT``): this process may open nothing under
    ``folder``, as a worker on a machine that cannot see the workspace."""
    root = os.path.realpath(folder)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.path.realpath(os.fsdecode(args[0]))
            if path == root or path.startswith(root + os.sep):
                raise PermissionError("a worker opened a file of the workspace")

    sys.addaudithook(hook)
