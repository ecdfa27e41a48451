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
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from squall.compute.base import Event, EventKind, Executor, ExecutorContext, ShardTask
from squall.compute.ray_actor import RayWorker
from squall.compute.shipping import pack_folder, shard_bytes, shard_files
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
            for ref, worker in self._polls.items():  # (events, lines); no event matters now
                if ref in done and worker in self._actors:
                    with contextlib.suppress(Exception):
                        self._write_log(worker, ray.get(ref)[1])
            for ref, worker in ends.items():  # lines
                if ref in done:
                    with contextlib.suppress(Exception):
                        self._write_log(worker, ray.get(ref))
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
