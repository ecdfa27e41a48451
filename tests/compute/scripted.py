"""An in-memory executor: the real worker loop on threads of this process, with a script.

Like huey's ``immediate`` mode, it behaves as a compute pool does (events, deaths, load
failures) without processes, so the supervisor's retry, death and cancel decisions get fast
tests. The script names the shard attempts whose worker "dies" as it is handed them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from squall.compute.base import Event, EventKind, Executor, ExecutorContext, ShardTask
from squall.compute.worker import run_worker


class _Died(Exception):
    pass


class ScriptedExecutor(Executor):
    def __init__(
        self,
        context: ExecutorContext,
        *,
        die_on: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset(),
        fail_load: bool = False,
        stages: object = None,
    ) -> None:
        super().__init__(context)
        self.die_on = set(die_on)  # (shard, attempt) whose worker dies when handed it
        self.fail_load = fail_load
        self.stages = stages
        self.started: list[str] = []
        self._events: queue.Queue[Event] = queue.Queue()
        self._inboxes: dict[str, queue.Queue[ShardTask | None]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._dead: set[str] = set()

    def _tasks(self, worker: str) -> Iterator[ShardTask | None]:
        inbox = self._inboxes[worker]
        while True:
            task = inbox.get()
            if task is not None and (task.shard, task.attempt) in self.die_on:
                self._die(worker)
                return
            if worker in self._dead:
                return
            yield task

    def _emit(self, worker: str, event: Event) -> None:
        if worker not in self._dead:
            self._events.put(event)

    def _die(self, worker: str, code: int = -9) -> None:
        if worker not in self._dead:
            self._dead.add(worker)
            self._events.put(Event(EventKind.DIED, worker, exitcode=code))

    def _body(self, worker: str) -> None:
        plan = '{"broken": true}' if self.fail_load else self.context.plan_json
        run_worker(
            worker,
            plan,
            self.stages,
            self._tasks(worker),
            lambda event: self._emit(worker, event),
        )
        if worker not in self._dead:  # the loop ended: the "process" exits
            self._die(worker, 0)

    def start_worker(self) -> str:
        worker = f"w{len(self.started)}"
        self.started.append(worker)
        self._inboxes[worker] = queue.Queue()
        thread = threading.Thread(target=self._body, args=(worker,), daemon=True)
        self._threads[worker] = thread
        thread.start()
        return worker

    def submit(self, worker: str, task: ShardTask) -> None:
        if worker in self._inboxes and worker not in self._dead:
            self._inboxes[worker].put(task)

    def events(self, timeout: float) -> list[Event]:
        out: list[Event] = []
        try:
            out.append(self._events.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def kill(self, worker: str) -> None:
        """The test's SIGKILL: the worker is gone at once (a shard it runs is abandoned)."""
        self._die(worker)
        self._inboxes[worker].put(None)

    def stop_worker(self, worker: str) -> None:
        self.kill(worker)
        self._threads[worker].join(timeout=30)

    def shutdown(self, grace: float = 3.0) -> None:
        for inbox in self._inboxes.values():
            inbox.put(None)
        for worker, thread in self._threads.items():
            if worker not in self._dead:
                thread.join(timeout=max(grace, 30))

    def alive(self) -> list[str]:
        """Workers still running; a killed one counts as gone (its thread, abandoned, may
        finish a model call, but nothing it does is reported)."""
        return [w for w, t in self._threads.items() if t.is_alive() and w not in self._dead]
