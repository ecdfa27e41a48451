"""Settings, and the one place where squall reads ``SQUALL_*`` environment variables."""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "default_home", "is_workspace", "prepare_workspace", "settings"]

#: The folders of a workspace, made with the workspace.
WORKSPACE_FOLDERS = ("stages", "models", "jobs")


def prepare_workspace(home: Path) -> None:
    """Make the workspace folder owner-only (0700) when squall creates it; warn when it is open.

    A workspace holds the catalog, model pickles, logs and outputs: a new one is made so that
    no other local user can enter it, whatever the umask. An existing folder keeps the mode
    its owner gave it (a group may share a workspace on purpose), but opening one that every
    user of the machine can enter gives a warning.
    """
    created = not home.exists()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if created:
        os.chmod(home, 0o700)
    for sub in WORKSPACE_FOLDERS:
        (home / sub).mkdir(mode=0o700, exist_ok=True)
    mode = stat.S_IMODE(os.stat(home).st_mode)
    if mode & (stat.S_IROTH | stat.S_IXOTH):
        warnings.warn(
            f"the workspace folder is open to every user of this machine (mode {mode:04o}): "
            "they can read its catalog, models, logs and outputs; make it owner-only with "
            "chmod 700",
            UserWarning,
            stacklevel=4,
        )


def is_workspace(home: str | os.PathLike[str]) -> bool:
    """True when ``home`` is a squall workspace: a folder holding a catalog."""
    return (Path(home).expanduser() / "catalog.db").is_file()


def default_home() -> Path:
    """The workspace used when ``squall.connect()`` is called without a folder."""
    env = os.environ.get("SQUALL_HOME")
    return Path(env).expanduser() if env else Path.home() / ".squall"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None


def _env_positive_int(name: str, default: int) -> int:
    value = _env_float(name, default)
    if value < 1 or value != int(value):
        raise ValueError(f"environment variable {name}={value!r} must be a positive integer")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Tunables of the job machinery; defaults suit a laptop."""

    # A supervisor writes its heartbeat this often ...
    heartbeat_interval_s: float = 1.0
    # ... and a job whose heartbeat is older than this is taken as dead (INTERNAL_ERROR).
    heartbeat_timeout_s: float = 15.0
    # How long a PENDING job may wait for its supervisor's first heartbeat.
    supervisor_start_timeout_s: float = 60.0
    # Seconds a worker gets to exit after SIGTERM before SIGKILL.
    worker_stop_grace_s: float = 3.0
    # Bytes of files (column_handling) a worker may hold read ahead of its model ...
    file_fetch_bytes: int = 128 * 1024 * 1024
    # ... and the threads that read them; None: chosen per run (see batch/files/fetch.py).
    file_fetch_threads: int | None = None
    # Fault injection for tests and drills (SQUALL_FAULT_KILL_WORKER): a comma-separated list
    # of SHARD:ATTEMPT:POINT. The worker running that attempt of that shard SIGKILLs itself
    # at POINT: N = after N batches of the shard are written (before the commit when N is
    # past the last batch), ``commit`` = right after its part is committed, before the
    # supervisor hears of it, ``done`` = right after it reported the shard done (the worker
    # dies idle, or as its next shard arrives). It picks the moment of a death, never the output.
    fault_kill_worker: str = ""
    # Seconds the warm pool (compute/warm.py) lives on without a request or a running
    # worker; 0 turns it off, and every worker is then spawned.
    warm_pool_idle_s: float = 600.0
    # The level of supervisor and worker logs (SQUALL_LOG_LEVEL): DEBUG, INFO, WARNING, ...
    log_level: str = "INFO"
    # How often the DAG scheduler (squall scheduler) looks for due schedules and orphaned runs.
    scheduler_poll_s: float = 1.0
    # For tests and drills (SQUALL_CLOCK_FILE): a file holding the time, in seconds since the
    # epoch, that the DAG scheduler and DAG runs take as now; empty: the system clock.
    clock_file: str = ""


def settings() -> Settings:
    return Settings(
        heartbeat_interval_s=_env_float("SQUALL_HEARTBEAT_INTERVAL", 1.0),
        heartbeat_timeout_s=_env_float("SQUALL_HEARTBEAT_TIMEOUT", 15.0),
        supervisor_start_timeout_s=_env_float("SQUALL_SUPERVISOR_START_TIMEOUT", 60.0),
        worker_stop_grace_s=_env_float("SQUALL_WORKER_STOP_GRACE", 3.0),
        file_fetch_bytes=_env_positive_int("SQUALL_FILE_FETCH_BYTES", 128 * 1024 * 1024),
        file_fetch_threads=(
            _env_positive_int("SQUALL_FILE_FETCH_THREADS", 1)
            if os.environ.get("SQUALL_FILE_FETCH_THREADS", "").strip()
            else None
        ),
        fault_kill_worker=os.environ.get("SQUALL_FAULT_KILL_WORKER", ""),
        warm_pool_idle_s=_env_float("SQUALL_WARM_POOL_IDLE", 600.0),
        log_level=os.environ.get("SQUALL_LOG_LEVEL", "INFO").strip().upper() or "INFO",
        scheduler_poll_s=_env_float("SQUALL_SCHEDULER_POLL", 1.0),
        clock_file=os.environ.get("SQUALL_CLOCK_FILE", ""),
    )
