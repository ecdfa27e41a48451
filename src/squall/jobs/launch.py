"""Start a job's supervisor process: used by submit (a new job) and resume (a stopped one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["launch_supervisor"]


def launch_supervisor(home: Path, job_id: str, log_dir: Path) -> int:
    """Start the job's supervisor, detached from the caller (it outlives it); return its pid."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "squall.jobs.supervisor", str(home), job_id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return proc.pid
