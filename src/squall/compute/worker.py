"""The worker loop, apart from how a worker runs: load the model, then run shard tasks.

It knows nothing of pipes, processes or clusters. An executor hands it the job's plan, a
source of ``ShardTask``s (None ends the loop) and an ``emit`` callback for its events; the
local executor's processes, the warm pool's forked workers and any in-process or remote
executor call this same function.
"""

from __future__ import annotations

import logging
import os
import signal
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from squall.compute.base import Event, EventKind, ShardTask
from squall.model.resources import Resources

__all__ = ["run_worker"]

log = logging.getLogger("squall.worker")


def run_worker(
    worker: str,
    plan_json: str,
    stages: Any,
    tasks: Iterable[ShardTask | None],
    emit: Callable[[Event], None],
    *,
    resources: Resources | None = None,
    on_ready: Callable[[], list[str]] | None = None,
) -> None:
    """Load the job's model, emit READY, then run each task until the source ends or a None.

    ``stages`` resolves the stage paths of file columns (a ``StageManager``). A model that
    fails to load emits FAILED with ``startup`` set and returns. ``on_ready`` returns the
    modules loading imported, for READY (the warm pool imports them for the next workers).
    """
    try:
        from squall.batch.plan import JobPlan
        from squall.batch.worker import ShardRunner

        plan = JobPlan.from_json(plan_json)
        runner = ShardRunner(plan, stages, resources)
    except BaseException as exc:
        text = traceback.format_exc()
        log.error("worker %s could not start:\n%s", worker, text)
        emit(
            Event(
                EventKind.FAILED,
                worker,
                error=f"{type(exc).__name__}: {exc}",
                traceback=text,
                startup=True,
            )
        )
        return
    try:
        modules = on_ready() if on_ready is not None else []
        emit(Event(EventKind.READY, worker, pid=os.getpid(), modules=modules))
        first_batch = True
        for task in tasks:
            if task is None:
                return
            shard = task.shard

            def progress(rows: int, errors: int, shard: int = shard) -> None:
                nonlocal first_batch
                if first_batch:
                    # The job's fixed cost ends here; the timestamp is for latency measurements.
                    first_batch = False
                    log.info("worker %s first batch inferred", worker)
                emit(Event(EventKind.PROGRESS, worker, shard, rows, error_rows=errors))

            try:
                result = runner.run(
                    shard, task.ref, progress, attempt=task.attempt, first_row=task.first_row
                )
            except Exception as exc:
                text = traceback.format_exc()
                log.error("shard %s failed:\n%s", shard, text)
                rows = getattr(exc, "squall_rows", None)  # the failing batch's input rows
                emit(
                    Event(
                        EventKind.FAILED,
                        worker,
                        shard,
                        error=f"{type(exc).__name__}: {exc}",
                        traceback=text,
                        batch_rows=tuple(rows) if rows is not None else None,  # type: ignore[arg-type]
                    )
                )
                continue
            emit(
                Event(
                    EventKind.DONE,
                    worker,
                    shard,
                    result.rows,
                    error_rows=result.error_rows,
                    seconds=result.seconds,
                    first_error=result.first_error,
                    kept=result.kept,
                )
            )
            if runner.kill_points.get((shard, task.attempt)) == "done":
                os.kill(os.getpid(), signal.SIGKILL)  # an injected fault (SQUALL_FAULT_KILL_WORKER)
    finally:
        runner.close()
