"""Compute pools on Ray: each worker is a Ray actor running squall's worker loop.

The supervisor connects to the pool's cluster (``ray.init(address)``, bounded in time),
starts one actor per worker with the job's resources (``num_cpus`` from ``cpu_requests``,
``num_gpus`` from ``gpu_requests``, ``memory`` from ``memory_requests``; ``replicas`` > 1
spreads them over the nodes), and talks to each with two calls: ``submit(task)`` and
``next_events(timeout)``, which returns the worker's events and its log lines. The
executor keeps one ``next_events`` call in flight per actor; an actor whose call fails
with a Ray actor error is gone (its node died, it was killed, it ran out of memory), and
that is reported as ``DIED``: the supervisor retries its shard as it would locally.

Actors are owned by the supervisor's Ray driver: a supervisor that dies takes its actors
with it, and ``resume()`` starts new ones. Log lines come back to the supervisor over
Ray and are written to the job's worker logs there, tagged with the worker and its node,
so workers need not see the workspace's log folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from squall.compute.base import Event, EventKind, Executor, ExecutorContext, ShardTask
from squall.compute.shipping import ShippedFiles, pack_folder, shard_bytes, shard_files
from squall.errors import ComputePoolUnavailableError, MissingExtraError

__all__ = ["RayExecutor", "RayWorker", "cluster_nodes", "connect"]

log = logging.getLogger("squall.worker")

# Environment variables a worker actor inherits from its supervisor (logging, faults).
_PASSED_ENV = (
    "SQUALL_LOG_LEVEL",
    "SQUALL_FAULT_KILL_WORKER",
    "SQUALL_TEST_WORKER_AUDIT",
    "SQUALL_RAY_WARM_LEASE_S",
)
# Warm workers are detached actors named "<pool's prefix><resources' digest>/<id>" here.
_WARM_NAMESPACE = "squall-warm"


def _connect_timeout() -> float:
    return float(os.environ.get("SQUALL_RAY_CONNECT_TIMEOUT", "30"))


def _on_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _loopback_env(address: str) -> dict[str, str]:
    """For a cluster bound to 127.0.0.1 (one machine): Ray's drivers otherwise replace a
    loopback address by the machine's own IP, where nothing listens. Read when Ray is
    imported, so set before that."""
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"} if _on_loopback(address) else {}


def _ray(address: str = "") -> Any:
    """Ray, imported; MissingExtraError naming the extra when it (or, for a ``ray://``
    address, Ray Client's ``grpcio``) is not installed."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("ray", "ray", "a compute pool on Ray") from exc
    if address.startswith("ray://"):
        try:
            import grpc  # noqa: F401  (Ray Client's transport)
        except ImportError as exc:
            raise MissingExtraError(
                "grpcio", "ray", f"a compute pool at a Ray Client address ({address!r})"
            ) from exc
    return ray


def connect(address: str, pool: str, timeout: float | None = None) -> Any:
    """``ray.init(address)`` in this process, once; ComputePoolUnavailableError if the
    cluster does not answer within ``timeout`` seconds (``SQUALL_RAY_CONNECT_TIMEOUT``)."""
    os.environ.update(_loopback_env(address))
    ray = _ray(address)
    if ray.is_initialized():
        return ray
    if _on_loopback(address):  # Ray was imported before the variable was set: same effect
        with contextlib.suppress(Exception):
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False
    timeout = _connect_timeout() if timeout is None else timeout
    done: dict[str, Any] = {}

    def init() -> None:
        try:
            ray.init(
                address=address,
                logging_level=logging.WARNING,
                log_to_driver=False,
                configure_logging=False,
            )
            done["ok"] = True
        except BaseException as exc:
            done["error"] = exc

    thread = threading.Thread(target=init, name="squall-ray-init", daemon=True)
    thread.start()
    thread.join(timeout)
    if "ok" in done:
        return ray
    why = done.get("error")
    reason = f"{type(why).__name__}: {why}" if why is not None else f"no answer in {timeout:g} s"
    raise ComputePoolUnavailableError(
        f"compute pool {pool!r} (Ray at {address!r}) cannot be reached: {reason}"
    )


def cluster_nodes(ray: Any) -> list[dict[str, float]]:
    """The total resources of each alive node of the connected cluster."""
    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


def _needs(plan: Any) -> dict[str, float]:
    needs = {"CPU": float(plan.cpu_requests or 1)}
    if plan.gpu_requests:
        needs["GPU"] = float(plan.gpu_requests)
    if plan.memory_bytes:
        needs["memory"] = float(plan.memory_bytes)
    return needs


def _fits(nodes: list[dict[str, float]], needs: dict[str, float]) -> int:
    """How many workers with ``needs`` the nodes hold at once."""
    total = 0
    for node in nodes:
        total += min(math.floor(node.get(k, 0.0) / v) for k, v in needs.items())
    return total


def _missing(pool: str, nodes: list[dict[str, float]], needs: dict[str, float]) -> str | None:
    if not nodes:
        return f"compute pool {pool!r} has no alive node"
    if _fits(nodes, needs):
        return None
    lacks = []

    def shown(key: str, value: float) -> str:
        return f"{value / 2**30:.1f}Gi" if key == "memory" else f"{value:g}"

    for k, v in needs.items():
        largest = max(n.get(k, 0.0) for n in nodes)
        if largest < v:
            name = "memory_requests" if k == "memory" else k
            lacks.append(f"{name} {shown(k, v)} (largest node has {shown(k, largest)})")
    what = ", ".join(lacks) or ", ".join(f"{k} {shown(k, v)}" for k, v in needs.items())
    return f"compute pool {pool!r} has no node with the resources one worker asks for: {what}"


# The pool's alive nodes and their resources, printed as JSON. Read from the cluster's GCS
# directly when the address names it (host:port): no driver joins the cluster, which
# answers in about a second instead of several; anything else, or any trouble on that
# way, goes through ray.init.
_PROBE = """
import json, sys

address = sys.argv[1]


def from_gcs():
    from ray._raylet import GcsClient
    from ray.core.generated import gcs_pb2

    alive = gcs_pb2.GcsNodeInfo.GcsNodeState.Value("ALIVE")
    info = GcsClient(address=address).get_all_node_info(timeout=10)
    return [dict(n.resources_total) for n in info.values() if n.state == alive]


def from_driver():
    import ray

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


nodes = None
if "://" not in address and address != "auto":
    try:
        nodes = from_gcs()
    except Exception:
        nodes = None
print(json.dumps(nodes if nodes else from_driver()))
"""


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
        """End this actor as an intended exit (Ray logs no failure), or else its process."""
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


class RayExecutor(Executor):
    """Workers as Ray actors on the compute pool's cluster (see the module's docstring)."""

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        from squall.batch.plan import JobPlan

        self.plan = JobPlan.from_json(context.plan_json)
        self.ray = connect(context.address, context.pool)
        self._needs = _needs(self.plan)
        self._actors: dict[str, Any] = {}
        self._polls: dict[Any, str] = {}  # next_events call in flight -> worker
        self._count = 0
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        options: dict[str, Any] = {
            "num_cpus": self._needs["CPU"],
            "num_gpus": self._needs.get("GPU", 0),
            "max_restarts": 0,
            "max_task_retries": 0,
            "max_concurrency": 4,
        }
        if "memory" in self._needs:
            options["memory"] = int(self._needs["memory"])
        if self.plan.replicas > 1:
            options["scheduling_strategy"] = "SPREAD"
        if env:
            options["runtime_env"] = {"env_vars": env}
        self._options = options
        self._actor_class = self.ray.remote(RayWorker)
        self._keep_s = context.keep_warm_s
        self._warm: set[str] = set()  # this job's workers that stay warm after it
        self._candidates: list[str] | None = None  # idle warm workers' names, to try
        if self._keep_s > 0:
            digest = hashlib.sha256(json.dumps([options, _version()], default=str).encode())
            pool = hashlib.sha256(f"{context.pool}@{context.address}".encode()).hexdigest()
            self._warm_pool = f"{pool[:12]}/"
            self._warm_prefix = f"{self._warm_pool}{digest.hexdigest()[:12]}/"
            self._retire_others()
        self._model: Any = None  # the packed model in the object store (no shared FS)
        self._sink: Any = None
        self._stages: Any = None  # the workspace's stages, to read the files rows name
        if not context.shared_fs:
            from squall.batch.sink import PartSink

            self._model = self.ray.put(pack_folder(self.plan.model_path))
            self._sink = PartSink(self.plan.output_dir)
            if self.plan.file_columns:  # the files each shard's rows name travel with it
                from squall.compute.local import WorkerArgs, _stages

                self._stages = _stages(
                    WorkerArgs(context.home, context.job_id, "supervisor", "", "")
                )

    @classmethod
    def preflight(cls, context: ExecutorContext) -> None:
        """Reach the cluster from a short-lived process (bounded in time, leaving the
        caller unconnected) and check that some node holds one worker's resources."""
        from squall.batch.plan import JobPlan

        _ray(context.address)  # the extra is installed
        plan = JobPlan.from_json(context.plan_json)
        timeout = _connect_timeout()
        try:
            done = subprocess.run(
                [sys.executable, "-c", _PROBE, context.address],
                env={**os.environ, **_loopback_env(context.address)},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ComputePoolUnavailableError(
                f"compute pool {context.pool!r} (Ray at {context.address!r}) did not answer "
                f"in {timeout:g} s"
            ) from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
            raise ComputePoolUnavailableError(
                f"compute pool {context.pool!r} (Ray at {context.address!r}) cannot be "
                f"reached: {last[-300:]}"
            )
        nodes = json.loads(done.stdout.strip().splitlines()[-1])
        missing = _missing(context.pool, nodes, _needs(plan))
        if missing is not None:
            raise ComputePoolUnavailableError(missing)

    def worker_limit(self) -> int | None:
        return max(1, _fits(cluster_nodes(self.ray), self._needs))

    def start_worker(self) -> str:
        worker = f"w{self._count}"
        self._count += 1
        threads = max(1, math.ceil(self._needs["CPU"]))
        ctx = self.context
        args = (worker, ctx.home, ctx.job_id, ctx.plan_json, threads, self._model)
        if self._keep_s <= 0:
            self._actors[worker] = self._actor_class.options(**self._options).remote(*args)
            return worker
        actor = self._claim_warm(args)
        if actor is None:
            name = f"{self._warm_prefix}{uuid.uuid4().hex[:12]}"
            warm = {"name": name, "namespace": _WARM_NAMESPACE, "lifetime": "detached"}
            actor = self._actor_class.options(**self._options, **warm).remote(
                *args, keep_s=self._keep_s
            )
        self._actors[worker] = actor
        self._warm.add(worker)
        return worker

    def _warm_names(self, prefix: str) -> list[str]:
        with contextlib.suppress(Exception):
            named = self.ray.util.list_named_actors(all_namespaces=True)
            return sorted(
                a["name"]
                for a in named
                if a["namespace"] == _WARM_NAMESPACE and a["name"].startswith(prefix)
            )
        return []

    def _claim_warm(self, args: tuple[Any, ...]) -> Any:
        """An idle warm worker of this pool with this job's resources, now serving the
        job; None when there is none."""
        if self._candidates is None:
            self._candidates = self._warm_names(self._warm_prefix)
        while self._candidates:
            name = self._candidates.pop(0)
            try:
                actor = self.ray.get_actor(name, namespace=_WARM_NAMESPACE)
                if self.ray.get(actor.begin.remote(*args), timeout=10):
                    log.info("worker %s: warm worker %s", args[0], name)
                    return actor
            except Exception:  # ended meanwhile, or busy with a job of its own
                continue
        return None

    def _retire_others(self) -> None:
        """Warm workers of this pool that ask for other resources hold what this job's
        workers may need: those that are idle end now."""
        for name in self._warm_names(self._warm_pool):
            if not name.startswith(self._warm_prefix):
                with contextlib.suppress(Exception):
                    self.ray.get_actor(name, namespace=_WARM_NAMESPACE).retire.remote()

    def submit(self, worker: str, task: ShardTask) -> None:
        actor = self._actors.get(worker)
        if actor is None:
            return
        if self._sink is None:
            actor.submit.remote(task)  # a dead actor's failure shows in next_events
            return
        files = None
        if self._stages is not None:
            files = self.ray.put(shard_files(self._stages, task.ref, list(self.plan.file_columns)))
        actor.submit.remote(task, self.ray.put(shard_bytes(task.ref)), files)

    def _write_log(self, worker: str, lines: list[str]) -> None:
        if not lines or not self.context.log_dir:
            return
        with contextlib.suppress(OSError):
            path = os.path.join(self.context.log_dir, f"{worker}.log")
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in lines))

    def events(self, timeout: float) -> list[Event]:
        ray = self.ray
        polling = set(self._polls.values())
        for worker, actor in self._actors.items():
            if worker not in polling:
                self._polls[actor.next_events.remote(0.2)] = worker
        if not self._polls:
            return []
        ready, _ = ray.wait(list(self._polls), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(self._polls), num_returns=len(self._polls), timeout=0)
        out: list[Event] = []
        for ref in ready:
            worker = self._polls.pop(ref)
            if worker not in self._actors:
                continue  # stopped meanwhile
            try:
                events, lines = ray.get(ref)
            except Exception as exc:  # the actor is gone: its node, a kill, out of memory
                self._write_log(worker, [f"{_now()} worker {worker} lost: {type(exc).__name__}"])
                out.append(Event(EventKind.DIED, worker, exitcode=None))
                self._forget(worker)
                continue
            self._write_log(worker, lines)
            for event in events:
                if event.kind is EventKind.DONE and self._sink is not None:
                    event = self._commit(worker, event)
                out.append(event)
                if event.kind is EventKind.DIED:  # the loop returned, or the part was lost
                    self._forget(worker)
                    break
        return out

    def _commit(self, worker: str, event: Event) -> Event:
        """No shared file system: fetch the part the worker committed and publish it here
        (the first commit wins). A worker lost before handing it over has DIED."""
        import dataclasses

        assert event.shard is not None
        try:
            data = self.ray.get(self._actors[worker].take_part.remote(event.shard), timeout=600)
        except Exception as exc:
            self._write_log(worker, [f"{_now()} worker {worker} lost: {type(exc).__name__}"])
            return Event(EventKind.DIED, worker, exitcode=None)
        if data is None:
            return (
                event
                if self._sink.committed(event.shard)
                else Event(
                    EventKind.FAILED, worker, event.shard, error="RuntimeError: part not found"
                )
            )
        kept = not self._sink.commit_bytes(event.shard, data)
        return dataclasses.replace(event, kept=event.kept or kept)

    def _forget(self, worker: str) -> None:
        actor = self._actors.pop(worker, None)
        for ref, w in list(self._polls.items()):
            if w == worker:
                self._polls.pop(ref)
        if actor is not None:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)

    def stop_worker(self, worker: str) -> None:
        actor = self._actors.get(worker)
        self._forget(worker)
        if actor is not None:
            self._await_gone([actor])

    def _await_gone(self, actors: list[Any], timeout: float = 30.0) -> None:
        """Wait (bounded) until each killed actor is dead: a call to it then fails."""
        deadline = time.monotonic() + timeout
        for actor in actors:
            while time.monotonic() < deadline:
                try:
                    self.ray.get(
                        actor.where.remote(), timeout=max(0.1, deadline - time.monotonic())
                    )
                except Exception:
                    break  # dead (or not answering: the deadline bounds the wait)
                time.sleep(0.05)

    def shutdown(self, grace: float = 3.0) -> None:
        ray = self.ray
        ends = {actor.finish.remote(grace): worker for worker, actor in self._actors.items()}
        finished: set[str] = set()  # those whose loop ended in time
        # The last log lines (those of the polls still in flight first, in the order they
        # were logged), then every actor ended; its resources are free once Ray sees it.
        with contextlib.suppress(Exception):
            waited = [*self._polls, *ends]
            done, _ = ray.wait(waited, num_returns=len(waited), timeout=grace + 1)
            for ref, worker in [*self._polls.items(), *ends.items()]:
                if ref in done and worker in self._actors:
                    with contextlib.suppress(Exception):
                        got = ray.get(ref)
                        self._write_log(worker, got[1] if isinstance(got, tuple) else got)
                        if ref in ends:
                            finished.add(worker)
        # Warm workers that finished wait for the pool's next job; every other actor ends.
        self._polls.clear()
        for worker in self._warm & finished:
            self._actors.pop(worker, None)
        actors = list(self._actors.values())
        for worker in list(self._actors):
            self._forget(worker)
        self._await_gone(actors)


def _version() -> str:
    from squall import __version__

    return str(__version__)


def _now() -> str:
    from squall.logtime import log_stamp

    return log_stamp()
