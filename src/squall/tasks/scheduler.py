"""``squall scheduler``: runs the deployed DAGs of a workspace on their schedules.

One scheduler per workspace: it holds an exclusive lock on ``<home>/dags/scheduler.pid``
(the kernel releases it when the process dies, even by SIGKILL). Every poll it

- creates the run of each DAG whose next tick has come, and moves the DAG's next tick, in
  one catalog transaction (a unique index on (DAG, tick) backs it): a tick runs at most once,
  however often the scheduler is stopped and started;
- when ticks were missed (no scheduler ran), runs once, for the latest of them, and logs how
  many were missed;
- starts a runner for every run left without a live one (its runner was killed): the runner
  finds what was done and goes on, and a job that was running is waited for, not restarted.

Runs are executed by runner processes of their own (``squall.tasks.runner``), so stopping
the scheduler never stops a run under way.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from squall.config import settings
from squall.errors import AlreadyExistsError, SquallError
from squall.tasks import store as ds
from squall.tasks.runner import configure_logging, launch_runner, spawn_detached
from squall.tasks.schedule import next_tick, now, parse_schedule, ticks_between, to_datetime
from squall.tasks.store import DagStore, process_alive, process_started

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["Scheduler", "scheduler_status", "start_detached", "stop_scheduler"]

log = logging.getLogger("squall.scheduler")

# A run whose runner keeps dying (a task that crashes the interpreter) is failed after this
# many new runners, rather than restarted forever.
_MAX_RUNNER_RESTARTS = 3


def _pid_file(home: Path) -> Path:
    return home / "dags" / "scheduler.pid"


def scheduler_log(home: Path) -> Path:
    return home / "dags" / "logs" / "scheduler.log"


def scheduler_status(home: Path) -> dict[str, Any] | None:
    """The running scheduler of a workspace: ``{"pid", "started"}``, or None."""
    try:
        info = json.loads(_pid_file(home).read_text() or "{}")
    except (OSError, ValueError):
        return None
    if not info or not process_alive(info.get("pid"), info.get("started")):
        return None
    return dict(info)


class _Lock:
    """The workspace's scheduler lock, held for the life of the process."""

    def __init__(self, home: Path) -> None:
        path = _pid_file(home)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file: IO[str] = open(path, "a+")  # noqa: SIM115 - held until the process ends
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            other = scheduler_status(home)
            holder = f"pid {other['pid']}" if other else "a process that is starting"
            raise AlreadyExistsError(
                f"a scheduler already runs for this workspace ({holder}); "
                "stop it first: squall scheduler stop"
            ) from None
        pid = os.getpid()
        self.file.seek(0)
        self.file.truncate()
        self.file.write(json.dumps({"pid": pid, "started": process_started(pid)}))
        self.file.flush()

    def release(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.file.flush()
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


class Scheduler:
    """The scheduling loop of one workspace; ``serve()`` runs it until ``stop()``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.store = DagStore(session.catalog)
        self.stopping = threading.Event()
        self._runners: dict[int, subprocess.Popen[bytes]] = {}
        self._lost: dict[int, int] = {}  # run id -> runners that died under this scheduler

    def serve(self) -> None:
        lock = _Lock(self.session.home)
        log.info("scheduler started (pid %s)", os.getpid())
        try:
            while not self.stopping.is_set():
                try:
                    self.poll()
                except Exception:  # a bad DAG or a busy catalog must not stop the schedules
                    log.exception("scheduler poll failed; trying again")
                self.stopping.wait(settings().scheduler_poll_s)
        finally:
            lock.release()
            log.info("scheduler stopped; runs under way go on in their own processes")

    def stop(self) -> None:
        self.stopping.set()

    def poll(self) -> None:
        t = now()
        for dag in self.store.list_dags():
            if dag["state"] == "STARTED" and dag["schedule"]:
                self._due(dag, t)
        self._adopt_orphans()

    def _due(self, dag: dict[str, Any], t: float) -> None:
        schedule = parse_schedule(dag["schedule"])
        assert schedule is not None
        name, anchor, nxt = dag["name"], dag["anchor"], dag["next_scheduled_time"]
        if nxt is None:
            self.store.set_next_tick(name, None, next_tick(schedule, t, anchor))
            return
        if t < nxt:
            return
        ticks = ticks_between(schedule, nxt, t, anchor)
        tick, following = ticks[-1], next_tick(schedule, t, anchor)
        if len(ticks) > 1:
            log.warning(
                "DAG %s missed %s ticks (%s to %s) while no scheduler ran: running once, for %s",
                dag["display_name"],
                len(ticks),
                _iso(ticks[0]),
                _iso(tick),
                _iso(tick),
            )
        active = self.store.runs(name, ds.ACTIVE, limit=1)
        if active and not _allows_overlap(dag):
            if self.store.set_next_tick(name, nxt, following):
                log.warning(
                    "DAG %s: tick %s skipped, run %s is still running "
                    "(allow_overlapping_execution is off)",
                    dag["display_name"],
                    _iso(tick),
                    active[0]["run_id"],
                )
            return
        tasks = [task["name"].lower() for task in json.loads(dag["graph"])]
        run_id = self.store.create_run(
            dag,
            trigger="SCHEDULED",
            scheduled_time=tick,
            task_names=tasks,
            next_tick=(nxt, following),
        )
        if run_id is None:
            return  # another process took this tick
        log.info("DAG %s: run %s for tick %s", dag["display_name"], run_id, _iso(tick))
        self._launch(run_id)

    def _launch(self, run_id: int) -> None:
        self._runners[run_id] = launch_runner(self.session.home, run_id)

    def _adopt_orphans(self) -> None:
        for run_id, proc in list(self._runners.items()):
            if proc.poll() is not None:
                del self._runners[run_id]
        for run in self.store.runs(None, ds.ACTIVE):
            run_id = int(run["run_id"])
            if run_id in self._runners:
                continue
            if process_alive(run["runner_pid"], run["runner_started"]):
                continue
            if run["cancel_requested"]:
                self.store.finish_run(run_id, ds.CANCELLED, now())
                continue
            if run["runner_pid"] is not None:
                lost = self._lost[run_id] = self._lost.get(run_id, 0) + 1
                if lost > _MAX_RUNNER_RESTARTS:
                    self._give_up(run_id, lost)
                    continue
                log.warning("run %s lost its runner (pid %s): starting a new one, which "
                            "goes on from where it stopped", run_id, run["runner_pid"])  # fmt: skip
            self._launch(run_id)

    def _give_up(self, run_id: int, lost: int) -> None:
        running = [t["task"] for t in self.store.task_runs(run_id) if t["state"] == ds.EXECUTING]
        where = running[0] if running else ""
        message = f"its runner stopped {lost} times without finishing (see its run log)"
        self.store.finish_run(run_id, ds.FAILED, now(), (where, message))
        log.error("run %s failed: %s", run_id, message)


def _allows_overlap(dag: dict[str, Any]) -> bool:
    import pickle

    try:
        return bool(pickle.loads(dag["definition"]).allow_overlapping_execution)
    except Exception:
        return False


def _iso(t: float) -> str:
    when = to_datetime(t)
    assert when is not None
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def start_detached(home: Path, timeout: float = 60.0) -> int:
    """Start a scheduler in the background for the workspace; its pid once it holds the lock."""
    running = scheduler_status(home)
    if running is not None:
        raise AlreadyExistsError(
            f"a scheduler already runs for this workspace (pid {running['pid']})"
        )
    path = scheduler_log(home)
    proc = spawn_detached("squall.tasks.scheduler", [str(home)], path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = scheduler_status(home)
        if info is not None and info["pid"] == proc.pid:
            proc.returncode = 0  # detached on purpose: it outlives this process
            return proc.pid
        if proc.poll() is not None:
            tail = path.read_text(errors="replace").strip().splitlines()[-1:]
            raise SquallError(f"the scheduler exited at start: {' '.join(tail)}")
        time.sleep(0.05)
    raise TimeoutError(f"the scheduler (pid {proc.pid}) did not start within {timeout}s")


def stop_scheduler(home: Path, timeout: float = 60.0) -> int | None:
    """Stop the workspace's scheduler (SIGTERM); its pid, or None when none ran."""
    info = scheduler_status(home)
    if info is None:
        return None
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while scheduler_status(home) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scheduler (pid {pid}) did not stop within {timeout}s")
        time.sleep(0.05)
    return pid


def serve_forever(session: Session) -> None:
    """Run a scheduler in this process until SIGTERM or SIGINT."""
    scheduler = Scheduler(session)

    def on_signal(signum: int, frame: Any) -> None:
        scheduler.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.serve()


def main(argv: list[str]) -> int:
    import squall

    configure_logging()
    try:
        serve_forever(squall.connect(argv[0]))
    except AlreadyExistsError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
