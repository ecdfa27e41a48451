"""The Executor contract, run on every executor (see EXECUTORS in conftest.py): start,
submit, events, a worker that dies, a worker that cannot load, stop and shutdown, and no
worker left behind."""

from __future__ import annotations

import pyarrow.parquet as pq

from squall.batch.shards import IpcShard
from squall.compute.base import Event, EventKind, ShardTask
from tests.compute.conftest import Harness, Job, collect, ready
from tests.e2e.jobtools import poll


def test_a_worker_loads_then_runs_the_shards_it_is_handed(
    job: Job, harness: Harness, executor_of
) -> None:
    executor = executor_of(job.context())
    worker = executor.start_worker()
    events = ready(executor, worker)
    assert [e.kind for e in events if e.worker == worker] == [EventKind.READY]
    for shard in (0, 1):
        executor.submit(worker, ShardTask(shard, IpcShard(job.shards[shard]), 1, shard * 20))
        events = collect(executor, lambda e: e.kind is EventKind.DONE)
        done = events[-1]
        assert (done.worker, done.shard, done.rows, done.error_rows) == (worker, shard, 20, 0)
        progress = [e for e in events if e.kind is EventKind.PROGRESS]
        assert [e.shard for e in progress] == [shard, shard]
        assert sum(e.rows for e in progress) == 20
        table = pq.read_table(job.part(shard))
        assert table.column("y").to_pylist() == [float(x) * 10 for x in range(20)]
    executor.shutdown()
    assert not harness.left(executor, [worker])


def test_workers_run_side_by_side(job: Job, harness: Harness, executor_of) -> None:
    executor = executor_of(job.context())
    workers = [executor.start_worker() for _ in range(2)]
    assert len(set(workers)) == 2
    ready(executor, *workers)
    for shard, worker in enumerate(workers):
        executor.submit(worker, ShardTask(shard, IpcShard(job.shards[shard])))
    done: dict[str, int | None] = {}

    def both_done(event: Event) -> bool:
        if event.kind is EventKind.DONE:
            done[event.worker] = event.shard
        return len(done) == 2

    collect(executor, both_done)
    assert done == {workers[0]: 0, workers[1]: 1}
    executor.shutdown()
    assert not harness.left(executor, workers)


def test_a_worker_that_dies_is_reported_and_commits_nothing(
    job: Job, harness: Harness, executor_of
) -> None:
    executor = executor_of(job.context(params={"seconds": 30.0}))
    worker = executor.start_worker()
    ready(executor, worker)
    executor.submit(worker, ShardTask(0, IpcShard(job.shards[0])))
    harness.kill(executor, worker)
    events = collect(executor, lambda e: e.kind is EventKind.DIED)
    assert events[-1].worker == worker
    assert not [e for e in events if e.kind is EventKind.DONE]
    assert not job.part(0).exists()
    poll(lambda: not harness.left(executor, [worker]), 30, "the dead worker gone")


def test_a_worker_that_cannot_load_the_model_says_so(
    job: Job, harness: Harness, executor_of, tmp_path
) -> None:
    if harness.name == "scripted":
        from tests.compute.scripted import ScriptedExecutor

        executor = ScriptedExecutor(job.context(), fail_load=True)
    else:
        executor = executor_of(job.context(model_path=str(tmp_path / "no-such-model")))
    worker = executor.start_worker()
    events = collect(executor, lambda e: e.kind is EventKind.DIED)
    failed = [e for e in events if e.kind is EventKind.FAILED]
    assert len(failed) == 1 and failed[0].startup and failed[0].shard is None
    assert failed[0].worker == worker and failed[0].error
    assert not [e for e in events if e.kind is EventKind.READY]
    executor.shutdown()


def test_stop_worker_ends_a_busy_worker_at_once(job: Job, harness: Harness, executor_of) -> None:
    executor = executor_of(job.context(params={"seconds": 30.0}))
    worker = executor.start_worker()
    ready(executor, worker)
    executor.submit(worker, ShardTask(0, IpcShard(job.shards[0])))
    executor.stop_worker(worker)
    assert not harness.left(executor, [worker])
    # A stopped worker is forgotten: handing it a shard is no error.
    executor.submit(worker, ShardTask(1, IpcShard(job.shards[1])))
    executor.shutdown(grace=0.1)
    assert not job.part(0).exists() or harness.name == "scripted"


def test_shutdown_ends_every_worker_idle_or_starting(
    job: Job, harness: Harness, executor_of
) -> None:
    executor = executor_of(job.context())
    first = executor.start_worker()
    ready(executor, first)
    second = executor.start_worker()  # maybe still loading
    executor.shutdown(grace=5.0)
    assert not harness.left(executor, [first, second])
    assert executor.events(timeout=0.0) is not None
