"""The warm pool: one process per user that forks job workers with their libraries imported.

A local worker spends most of its start importing pandas, pyarrow and its model's library
(scikit-learn alone brings scipy): about a second, which is most of a small job's fixed
cost. The warm pool imports them once and then forks each worker on request, ready in
milliseconds with nothing to import. It serves every workspace of the user that runs the
same Python, the same ``PYTHONPATH`` and the same squall sources (its address is derived from
them, so an upgraded squall gets a pool of its own). It holds no job state and no data:
only imported modules, and the workers it forked until they exit.

Lifetime. A supervisor starts the pool when its job has ended, so a job never shares its
cores with the pool's imports; the first job after the pool was gone spawns its workers
cold, as without a pool. A supervisor whose worker died mid-job starts it too, for the
retry. It exits after ``SQUALL_WARM_POOL_IDLE`` seconds (default 600) with neither a request
nor a running worker; 0 turns the pool off (every worker is then spawned).
``squall warm-pool status`` shows it and ``squall warm-pool stop`` ends it once its workers are done.

What it imports: the worker's own modules, the libraries of the model kinds it was asked
for, and the modules workers reported importing while they loaded their model (installed
libraries only, never a user's module; the pool learns them from each job's supervisor).
Never a model: a model's loading may start threads, which a fork must not copy.

Protocol. The pool listens on an abstract Unix socket (Linux), private to the user: a
connection from another uid is closed unanswered. Each request is one SOCK_SEQPACKET
message of JSON; ``fork`` also passes one end of the worker's pipe as a file descriptor.
Its connection stays open while the worker runs: the pool writes the worker's exit code on
it when the worker ends, and kills the worker if the supervisor closes it first. A forked
worker dies with the pool (PR_SET_PDEATHSIG), so a pool's death is every one of its
workers' death, reported to their supervisors as such.

Everything about the pool is best effort: when it is off, cannot start or answers
anything unexpected, the supervisor spawns its workers as before.

This module is what supervisors and the CLI call; the pool process is warm_server.py.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "WarmProcess",
    "available",
    "ensure",
    "fork_worker",
    "libraries_of",
    "new_library_modules",
    "status",
    "stop",
]

# What every local worker imports before it runs a shard.
WORKER_MODULES = (
    "squall.compute.local",
    "squall.batch.worker",
    "squall.stages",
    "squall.model.packaging",
    "threadpoolctl",
)
MAX_MESSAGE = 4 * 1024 * 1024
_REPLY_TIMEOUT_S = 60.0  # a fork waits for the pool's imports of new libraries at most this


# -- where the pool lives -----------------------------------------------------------------
def available() -> bool:
    """Whether workers may come from the warm pool here (Linux, not turned off)."""
    from squall.config import settings

    return (
        sys.platform.startswith("linux")
        and hasattr(os, "pidfd_open")
        and settings().warm_pool_idle_s > 0
    )


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    return compute_fingerprint()


def compute_fingerprint() -> str:
    """The Python, ``PYTHONPATH`` and squall sources a pool serves: a change means a new pool.

    Not ``sys.path`` itself, which scripts and tools edit at run time: a forked worker is
    given its supervisor's (and its environment, working directory and umask).
    """
    import squall

    digest = hashlib.sha256()
    package = Path(squall.__file__).parent
    key = (sys.executable, sys.version, os.environ.get("PYTHONPATH", ""), str(package))
    digest.update(repr(key).encode())
    for path in sorted(package.rglob("*.py")):
        with contextlib.suppress(OSError):
            info = path.stat()
            digest.update(f"{path}:{info.st_mtime_ns}:{info.st_size}".encode())
    return digest.hexdigest()[:20]


def address() -> str:
    return f"\0squall-warm-{os.getuid()}-{fingerprint()}"


def peer_uid(sock: socket.socket) -> int:
    cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)  # pid, uid, gid
    return int.from_bytes(cred[4:8], sys.byteorder)


def _connect(timeout: float) -> socket.socket | None:
    """A connection to this user's pool; None when none listens.

    The address can be guessed, so another user could listen on it first: a pool not run
    by this user is never used (it would be handed the job's environment).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    try:
        sock.connect(address())
        if peer_uid(sock) != os.getuid():
            raise PermissionError("the warm pool's address is held by another user")
    except OSError:
        sock.close()
        return None
    return sock


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """One message, or None at end of file."""
    data = sock.recv(MAX_MESSAGE)
    if not data:
        return None
    out: dict[str, Any] = json.loads(data)
    return out


def _call(message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any] | None:
    sock = _connect(timeout)
    if sock is None:
        return None
    try:
        send(sock, message)
        return receive(sock)
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


# -- what supervisors call ----------------------------------------------------------------
def libraries_of(model_type: str) -> list[str]:
    """The modules a model kind's handler and library need ([] for an unknown kind)."""
    try:
        from squall.model.handlers import get_handler

        handler = get_handler(model_type)
        return [type(handler).__module__, *handler.libraries] if model_type else []
    except Exception:
        return []


def new_library_modules(before: set[str], limit: int = 5000) -> list[str]:
    """Public modules of installed libraries (and the standard library) imported since
    ``before`` was taken: what a worker's model needed, for the pool to import ahead.
    Never a user's own module: those are imported by the worker that needs them."""
    import sysconfig

    paths = sysconfig.get_paths()
    roots = tuple({paths[k] for k in ("purelib", "platlib", "stdlib", "platstdlib") if k in paths})
    out = []
    for name, module in list(sys.modules.items()):
        if name in before or any(part.startswith("_") for part in name.split(".")):
            continue
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.startswith(roots):
            out.append(name)
    return sorted(out)[:limit]


class WarmProcess:
    """A worker forked by the warm pool, as the supervisor sees it (not its child).

    Like ``multiprocessing.Process`` where the executor needs it: ``pid``, a ``sentinel``
    that turns readable when the worker ended, ``join`` and ``exitcode``.
    """

    def __init__(self, pid: int, control: socket.socket) -> None:
        self.pid = pid
        self._control = control
        self.sentinel = control
        self.exitcode: int | None = None
        self._ended = False

    def join(self, timeout: float | None = None) -> None:
        if self._ended:
            return
        self._control.settimeout(timeout)
        try:
            reply = receive(self._control)
        except (TimeoutError, BlockingIOError):  # still running (BlockingIOError: timeout 0)
            return
        except OSError:
            reply = None
        self._ended = True
        # No exit code: the pool itself is gone, and its workers with it.
        self.exitcode = reply.get("exit") if reply else -signal.SIGKILL
        self._control.close()

    def is_alive(self) -> bool:
        if self._ended:
            return False
        self.join(0)
        return not self._ended


def fork_worker(
    args: dict[str, Any],
    supervisor: int,
    kind: str,
    modules: list[str],
    worker_end: socket.socket,
) -> WarmProcess | None:
    """A worker forked by the running pool: ``local.worker_process(args, worker_end, supervisor)``.

    None when no pool runs or it did not fork; the caller then spawns the worker.
    """
    sock = _connect(5.0)
    if sock is None:
        return None
    message = {
        "op": "fork",
        "args": args,
        "supervisor": supervisor,
        "kind": kind,
        "modules": modules,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "umask": _umask(),
    }
    try:
        sock.settimeout(_REPLY_TIMEOUT_S)
        send(sock, message, [worker_end.fileno()])
        reply = receive(sock)
    except (OSError, ValueError):
        reply = None
    if not reply or not reply.get("pid"):
        sock.close()
        return None
    return WarmProcess(int(reply["pid"]), sock)


def ensure(kind: str, modules: list[str], log_path: str, wait: bool) -> bool:
    """Have a pool running that imported model ``kind``'s libraries and ``modules``: start
    one, or tell the running one.

    With ``wait``, return once the pool accepts requests (a fork then waits for its
    imports); without, return at once. True when a pool runs (or is starting).
    """
    if not available():
        return False
    sock = _connect(5.0)
    if sock is not None:
        with contextlib.suppress(OSError):
            send(sock, {"op": "preload", "kind": kind, "modules": modules})
            if wait:
                receive(sock)
        sock.close()
        return True
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    from squall.config import settings

    config = {"idle": settings().warm_pool_idle_s, "kind": kind, "modules": modules}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "squall.compute.warm_server"],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.write(json.dumps(config).encode())
    with contextlib.suppress(OSError):
        proc.stdin.close()
    if wait:
        # It returns once it listens (or found another pool listening), then lives on as
        # its own child; without waiting, init reaps it after this process exits.
        try:
            return proc.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            return False
    return True


def status() -> dict[str, Any] | None:
    """The running pool's pid, workers, modules and idle time; None when none runs."""
    if not sys.platform.startswith("linux"):
        return None
    return _call({"op": "status"})


def stop(timeout: float = 30.0) -> bool:
    """Ask the pool to exit once its running workers ended; wait up to ``timeout`` for it.

    False when no pool was running.
    """
    info = status()
    if info is None:
        return False
    _call({"op": "stop"})
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline and _running(int(info["pid"])):
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    return True


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
