"""Fixtures of the executor tests: a job's plan and shards on disk, and one harness per
executor. Every executor in EXECUTORS runs the whole contract suite
(test_executor_contract.py), as every stage kind runs the stage contract suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from squall.batch.output import part_name
from squall.batch.plan import JobPlan
from squall.catalog import Catalog
from squall.compute import warm
from squall.compute.base import Event, EventKind, Executor, ExecutorContext
from squall.model import custom_model, save_model
from squall.stages import StageManager
from tests.compute.plans import make_plan, write_shard
from tests.compute.scripted import ScriptedExecutor
from tests.e2e.jobtools import Sleepy, poll
from tests.e2e.models import frame
from tests.raycluster import RayCluster, need_ray, ray_cluster  # noqa: F401  (a fixture)

EXECUTORS = ["local", "warm", "scripted", "ray"]


@dataclass
class Job:
    """A job's plan and input, as a supervisor would hand them to an executor."""

    home: Path
    plan: JobPlan
    shards: list[str]

    def context(self, **changes: object) -> ExecutorContext:
        plan = replace(self.plan, **changes) if changes else self.plan  # type: ignore[arg-type]
        return ExecutorContext(
            str(self.home), "job0", str(self.home / "logs"), plan.to_json(), "custom"
        )

    def part(self, shard: int) -> Path:
        return Path(self.plan.output_dir) / part_name(shard)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "sleepy"
    save_model(Sleepy(custom_model.ModelContext()), folder, sample_input_data=frame(3))
    return folder


@pytest.fixture
def job(tmp_path: Path, model_dir: Path) -> Job:
    home = tmp_path / "ws"
    (home / "logs").mkdir(parents=True)
    shards = [
        write_shard(
            tmp_path / f"shard-{shard}.arrow", pa.Table.from_pandas(frame(20), preserve_index=False)
        )
        for shard in range(3)
    ]
    # Workers find the output by its stage path, through the workspace's stages.
    stages = StageManager(home, Catalog(home / "catalog.db"))
    stages.create("results")
    out = stages.stage("results").full_path("out")
    plan = make_plan(tmp_path, model_dir, params={"seconds": 0.0}, output_dir=out)
    return Job(home, plan, shards)


class Harness:
    """How the suite makes an executor of one kind, kills one of its workers, and checks
    that none is left."""

    name = ""

    def make(self, context: ExecutorContext) -> Executor:
        raise NotImplementedError

    def kill(self, executor: Executor, worker: str) -> None:
        raise NotImplementedError

    def left(self, executor: Executor, workers: list[str]) -> list[object]:
        raise NotImplementedError


class LocalHarness(Harness):
    def __init__(self, warm_pool: bool) -> None:
        self.name = "warm" if warm_pool else "local"
        self.warm_pool = warm_pool
        self.pids: dict[str, int] = {}

    def make(self, context: ExecutorContext) -> Executor:
        from squall.compute.local import LocalExecutor

        executor = LocalExecutor(context)
        assert executor._warm is self.warm_pool
        real_start = executor.start_worker

        def start() -> str:
            worker = real_start()
            pid = executor.pid(worker)
            assert pid is not None
            self.pids[worker] = pid
            return worker

        executor.start_worker = start  # type: ignore[method-assign]
        return executor

    def kill(self, executor: Executor, worker: str) -> None:
        os.kill(self.pids[worker], 9)

    def left(self, executor: Executor, workers: list[str]) -> list[object]:
        out: list[object] = []
        for worker in workers:
            try:
                if psutil.Process(self.pids[worker]).status() != psutil.STATUS_ZOMBIE:
                    out.append(self.pids[worker])
            except psutil.NoSuchProcess:
                pass
        return out


class ScriptedHarness(Harness):
    name = "scripted"

    def make(self, context: ExecutorContext) -> Executor:
        return ScriptedExecutor(context)

    def kill(self, executor: Executor, worker: str) -> None:
        assert isinstance(executor, ScriptedExecutor)
        executor.kill(worker)

    def left(self, executor: Executor, workers: list[str]) -> list[object]:
        assert isinstance(executor, ScriptedExecutor)
        return [w for w in executor.alive() if w in workers]


class RayHarness(Harness):
    """Workers as actors on the test cluster; a worker's process is found through Ray."""

    name = "ray"

    def __init__(self, cluster: RayCluster) -> None:
        self.address = cluster.address
        self.actors: dict[str, object] = {}

    def make(self, context: ExecutorContext) -> Executor:
        from squall.compute.ray import RayExecutor

        executor = RayExecutor(replace(context, pool="test", address=self.address))
        real_start = executor.start_worker

        def start() -> str:
            worker = real_start()
            self.actors[worker] = executor._actors[worker]
            return worker

        executor.start_worker = start  # type: ignore[method-assign]
        return executor

    def kill(self, executor: Executor, worker: str) -> None:
        import ray

        _, pid = ray.get(self.actors[worker].where.remote(), timeout=30)  # type: ignore[attr-defined]
        os.kill(pid, 9)

    def left(self, executor: Executor, workers: list[str]) -> list[object]:
        from ray._private import state

        out: list[object] = []
        for worker in workers:
            actor_id = self.actors[worker]._actor_id.hex()  # type: ignore[attr-defined]
            info = state.actors(actor_id=actor_id)
            if info and info.get("State") != "DEAD":
                out.append((worker, info.get("State")))
        return out


@pytest.fixture(params=EXECUTORS)
def harness(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Harness:
    kind = request.param
    if kind == "local":
        monkeypatch.setenv("SQUALL_WARM_POOL_IDLE", "0")  # every worker spawned
        return LocalHarness(warm_pool=False)
    if kind == "warm":
        if not warm.available():
            pytest.skip("the warm pool needs Linux")
        log = str(request.getfixturevalue("tmp_path") / "warm-pool.log")
        assert warm.ensure("custom", [], log, wait=True), "the warm pool did not start"
        return LocalHarness(warm_pool=True)
    if kind == "ray":
        need_ray()
        return RayHarness(request.getfixturevalue("ray_cluster"))
    return ScriptedHarness()


@pytest.fixture
def executor_of(harness: Harness) -> Iterator[Callable[[ExecutorContext], Executor]]:
    """Makes executors of the harness's kind; each is shut down after the test."""
    made: list[Executor] = []

    def make(context: ExecutorContext) -> Executor:
        executor = harness.make(context)
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.shutdown(grace=0.1)


def collect(
    executor: Executor, until: Callable[[Event], bool], timeout: float = 60.0
) -> list[Event]:
    """Events of ``executor`` up to and including the first for which ``until`` is true."""
    seen: list[Event] = []

    def step() -> bool:
        for event in executor.events(timeout=0.1):
            seen.append(event)
            if until(event):
                return True
        return False

    try:
        poll(step, timeout, "the awaited event")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; events seen: {seen}") from None
    return seen


def ready(executor: Executor, *workers: str) -> list[Event]:
    """Events up to the moment every one of ``workers`` said READY."""
    waiting = set(workers)

    def all_ready(event: Event) -> bool:
        if event.kind is EventKind.READY:
            waiting.discard(event.worker)
        return not waiting

    return collect(executor, all_ready)
