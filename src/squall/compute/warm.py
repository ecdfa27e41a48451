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
``squall pool status`` shows it and ``squall pool stop`` ends it once its workers are done.

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
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

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
_WORKER_MODULES = (
    "squall.compute.local",
    "squall.batch.worker",
    "squall.stages",
    "squall.model.packaging",
    "threadpoolctl",
)
_MAX_MESSAGE = 4 * 1024 * 1024
_REPLY_TIMEOUT_S = 60.0  # a fork waits for the pool's imports of new libraries at most this
_PR_SET_PDEATHSIG = 1
_SOURCES_CHECK_S = 10.0  # how often an idle pool checks that squall's sources are unchanged


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
def _fingerprint() -> str:
    return _compute_fingerprint()


def _compute_fingerprint() -> str:
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


def _address() -> str:
    return f"\0squall-warm-{os.getuid()}-{_fingerprint()}"


def _peer_uid(sock: socket.socket) -> int:
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
        sock.connect(_address())
        if _peer_uid(sock) != os.getuid():
            raise PermissionError("the warm pool's address is held by another user")
    except OSError:
        sock.close()
        return None
    return sock


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def _receive(sock: socket.socket) -> dict[str, Any] | None:
    """One message, or None at end of file."""
    data = sock.recv(_MAX_MESSAGE)
    if not data:
        return None
    out: dict[str, Any] = json.loads(data)
    return out


def _call(message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any] | None:
    sock = _connect(timeout)
    if sock is None:
        return None
    try:
        _send(sock, message)
        return _receive(sock)
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
            reply = _receive(self._control)
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
    args: list[str], supervisor: int, kind: str, modules: list[str], worker_end: socket.socket
) -> WarmProcess | None:
    """A worker forked by the running pool: ``_worker_main(*args, worker_end, supervisor)``.

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
        _send(sock, message, [worker_end.fileno()])
        reply = _receive(sock)
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
            _send(sock, {"op": "preload", "kind": kind, "modules": modules})
            if wait:
                _receive(sock)
        sock.close()
        return True
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    from squall.config import settings

    config = {"idle": settings().warm_pool_idle_s, "kind": kind, "modules": modules}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "squall.compute.warm"],
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
    while time.monotonic() < deadline and _pid_alive(int(info["pid"])):
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- the pool -----------------------------------------------------------------------------
def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} warm pool {os.getpid()}: {message}", flush=True)


def _wanted(request: dict[str, Any]) -> list[str]:
    """The modules a request asks for: the worker's, its model kind's, and those named."""
    kind = str(request.get("kind") or "")
    return [*_WORKER_MODULES, *libraries_of(kind), *request.get("modules", ())]


class _Pool:
    def __init__(self, listener: socket.socket, idle: float) -> None:
        import selectors

        self.listener = listener
        self.idle = idle
        self.started = time.time()
        self.last_request = time.monotonic()
        self.stopping = False
        self.imported: set[str] = set()
        self.failed: set[str] = set()
        self.workers: dict[int, tuple[int, socket.socket]] = {}  # pid -> (pidfd, control)
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, ("accept", 0))
        self.checked = time.monotonic()

    def preload(self, modules: list[str]) -> None:
        for name in modules:
            if name in self.imported or name in self.failed:
                continue
            try:
                importlib.import_module(name)
                self.imported.add(name)
            except BaseException as exc:  # a module that fails here is the worker's to report
                self.failed.add(name)
                _log(f"not preloaded: {name}: {type(exc).__name__}: {exc}")

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select(timeout=1.0):
                what, pid = key.data
                try:
                    if what == "accept":
                        self._accept()
                    elif what == "exit":
                        self._reap(pid)
                    else:
                        self._control_event(pid)
                except Exception:
                    _log(f"error handling {what}:\n{traceback.format_exc()}")
            if self.workers:
                continue
            if self.stopping:
                _log("stopped on request")
                return
            if time.monotonic() - self.checked > _SOURCES_CHECK_S:
                self.checked = time.monotonic()
                if _compute_fingerprint() != _fingerprint():
                    # squall was upgraded or edited: new jobs get a new pool; no one will
                    # ask this one for a worker again.
                    _log("squall's sources changed, exiting")
                    return
            if time.monotonic() - self.last_request > self.idle:
                _log(f"idle for {self.idle:g} s, exiting")
                return

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            if _peer_uid(conn) != os.getuid():  # the address is guessable; it serves its user only
                conn.close()
                return
            conn.settimeout(5.0)
            data, fds, _flags, _addr = socket.recv_fds(conn, _MAX_MESSAGE, 4)
            if not data:
                raise EOFError("the connection closed before its request")
            request = json.loads(data)
        except Exception as exc:
            _log(f"bad request: {type(exc).__name__}: {exc}")
            conn.close()
            return
        op = request.get("op")
        if op in ("fork", "preload"):  # asking for its status does not keep a pool alive
            self.last_request = time.monotonic()
        if op == "fork" and len(fds) == 1 and not self.stopping:
            self._fork(conn, request, fds[0])
            return
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(OSError), conn:
            if op == "preload":
                self.preload(_wanted(request))
                _send(conn, {"ok": True})
            elif op == "status":
                _send(conn, self._status())
            elif op == "stop":
                self.stopping = True
                self.selector.unregister(self.listener)
                self.listener.close()
                _send(conn, {"ok": True, "workers": len(self.workers)})
            else:
                _send(conn, {"error": f"request {op!r} not served"})

    def _status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started": self.started,
            "idle_timeout_s": self.idle,
            "idle_s": 0.0 if self.workers else time.monotonic() - self.last_request,
            "workers": sorted(self.workers),
            "modules": len(self.imported),
            "fingerprint": _fingerprint(),
            "python": sys.executable,
        }

    def _fork(self, conn: socket.socket, request: dict[str, Any], fd: int) -> None:
        self.preload(_wanted(request))
        pid = os.fork()
        if pid == 0:
            self._child(conn, request, fd)
        os.close(fd)
        pidfd = os.pidfd_open(pid)
        import selectors

        self.workers[pid] = (pidfd, conn)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exit", pid))
        try:
            _send(conn, {"pid": pid})
            self.selector.register(conn, selectors.EVENT_READ, ("control", pid))
        except OSError:  # the supervisor gave up waiting: the worker has no one to serve
            os.kill(pid, signal.SIGKILL)

    def _child(self, conn: socket.socket, request: dict[str, Any], fd: int) -> NoReturn:
        code = 1
        try:
            import ctypes
            from multiprocessing.connection import Connection

            pool = os.getppid()
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != pool:  # the pool died before the line above
                os._exit(1)
            self.selector.close()
            self.listener.close()
            conn.close()
            for _pidfd, control in self.workers.values():
                os.close(_pidfd)
                control.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update(request["env"])
            sys.path[:] = request["sys_path"]
            os.umask(int(request["umask"]))
            with contextlib.suppress(OSError):
                os.chdir(request["cwd"])
            # Fresh random seeds per worker, as a spawned one would have (``random`` reseeds
            # itself after a fork; these do not).
            numpy = sys.modules.get("numpy")
            if numpy is not None:
                numpy.random.seed()
            torch = sys.modules.get("torch")
            if torch is not None:
                torch.seed()
            from squall.compute.local import _worker_main

            home, job_id, worker, log_path = request["args"]
            _worker_main(home, job_id, worker, log_path, Connection(fd), int(request["supervisor"]))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)

    def _reap(self, pid: int) -> None:
        pidfd, control = self.workers.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, code = os.waitpid(pid, 0)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(control)
        with contextlib.suppress(OSError), control:
            _send(control, {"exit": os.waitstatus_to_exitcode(code)})

    def _control_event(self, pid: int) -> None:
        """The supervisor closed the worker's connection (or died) while the worker runs."""
        _pidfd, control = self.workers[pid]
        with contextlib.suppress(OSError):
            if control.recv(_MAX_MESSAGE):
                return  # nothing is expected from the supervisor; ignore it
        self.selector.unregister(control)
        _log(f"worker {pid}'s supervisor is gone: ending it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main() -> int:
    """Start a pool (``python -m squall.compute.warm``, its settings as JSON on stdin)."""
    config = json.loads(sys.stdin.buffer.read() or b"{}")
    sys.stdin.close()
    address = _address()
    if sys.path and sys.path[0] == os.getcwd():
        del sys.path[0]  # the starting directory ("/"), never an import root
    try:
        os.close(os.pidfd_open(os.getpid()))  # how the pool learns of its workers' ends
    except OSError as exc:
        print(f"warm pool not started: pidfd_open: {exc}", flush=True)
        return 1
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind(address)
    except OSError:  # a pool of this address runs already
        return 0
    listener.listen(64)
    if os.fork():  # the starter waits for this parent: the socket listens by now
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    pool = _Pool(listener, float(config.get("idle", 600.0)))
    _log(f"listening ({sys.executable}); idle timeout {pool.idle:g} s")
    pool.preload(_wanted(config))
    _log(f"{len(pool.imported)} modules imported")
    pool.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
