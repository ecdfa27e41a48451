"""Start a job's supervisor process: used by submit (a new job) and resume (a stopped one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["launch_supervisor", "spawn_detached"]


def spawn_detached(module: str, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m module *args`` in a session of its own (it outlives us), logging to a file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def launch_supervisor(home: Path, job_id: str, log_dir: Path) -> int:
    """Start the job's supervisor, detached from the caller (it outlives it); return its pid."""
    proc = spawn_detached("squall.jobs.supervisor", [str(home), job_id], log_dir / "supervisor.log")
    return proc.pid
