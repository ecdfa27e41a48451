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


# A short-lived launcher starts the supervisor and exits at once: the supervisor is then
# nobody's child in the caller (no zombie to reap, no Popen left running to warn about).
# The supervisor leads a new session, so its process group id is its pid (resume.py ends a
# dead supervisor's leftovers by that group). Run with -S: it needs only the standard library.
_LAUNCHER = """\
import os, subprocess, sys
with open(sys.argv[1], "ab") as log:
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)
sys.stdout.write(str(proc.pid))
sys.stdout.flush()
os._exit(0)
"""


def launch_supervisor(home: Path, job_id: str, log_dir: Path) -> int:
    """Start the job's supervisor, detached from the caller (it outlives it); return its pid."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "supervisor.log"
    command = [sys.executable, "-m", "squall.jobs.supervisor", str(home), job_id]
    with subprocess.Popen(
        [sys.executable, "-S", "-c", _LAUNCHER, str(log), *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as launcher:
        out, _ = launcher.communicate()
    if launcher.returncode != 0 or not out.strip().isdigit():
        raise RuntimeError(
            f"could not start the supervisor of job {job_id} "
            f"(its launcher exited with {launcher.returncode})"
        )
    return int(out)
