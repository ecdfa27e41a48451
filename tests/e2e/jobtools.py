"""Helpers for the job tests: a model that takes its time, polling, process checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import psutil

import squall
from squall.model import custom_model

T = TypeVar("T")


class Sleepy(custom_model.CustomModel):
    """Sleeps ``seconds`` in every batch (one long model call), printing as it goes."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, seconds: float = 0.2) -> pd.DataFrame:
        print(f"batch of {len(X)} rows starting at x={X['x'].iloc[0]}", flush=True)
        time.sleep(seconds)
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64") * 10})


def poll(condition: Callable[[], T], timeout: float = 60.0, what: str = "condition") -> T:
    """The first truthy value of ``condition()``, polled until ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def alive(pids: list[int]) -> list[int]:
    """The pids among ``pids`` that still run (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def assert_no_process_left(job: Any, timeout: float = 30.0) -> None:
    """No process of the job (supervisor, workers, their children) runs any more."""
    pids = job.pids()
    assert len(pids) >= 2, f"expected a supervisor and workers, got pids {pids}"
    poll(lambda: not alive(pids), timeout, f"processes {alive(pids)} of job {job.name} ending")


def success_file(session: squall.Session, location: str) -> Path:
    stage, rel = session.stages.resolve(location)
    return Path(stage.full_path(rel)) / "_SUCCESS"


def model_call_started(job: Any) -> bool:
    return "starting at x=" in job.get_logs()


def own_supervisor(job: Any) -> int:
    """The pid of ``job``'s running supervisor, checked to be that job's: safe to signal.

    The supervisor is detached (not this process's child), so what makes it this test's
    own is its command line: ``python -m squall.jobs.supervisor HOME JOB_ID``.
    """
    pid = int(job.info()["supervisor_pid"])
    command = psutil.Process(pid).cmdline()
    assert "squall.jobs.supervisor" in command and job.id in command, command
    return pid
