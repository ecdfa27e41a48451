"""The warm pool's own process (``python -m squall.compute.warm_server``; see warm.py).

It imports the worker's modules and the libraries it is asked for, listens on its
user's address, and forks one worker per ``fork`` request. It reaps its workers and reports
each exit code on that worker's connection; it kills a worker whose connection closes
first. It exits when idle, when stopped, or when squall's sources changed under it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from typing import Any, NoReturn

from squall.compute.warm import (
    MAX_MESSAGE,
    WORKER_MODULES,
    address,
    compute_fingerprint,
    fingerprint,
    libraries_of,
    peer_uid,
    send,
)

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
_SOURCES_CHECK_S = 10.0  # how often an idle pool checks that squall's sources are unchanged


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} warm pool {os.getpid()}: {message}", flush=True)


def _wanted(request: dict[str, Any]) -> list[str]:
    """The modules a request asks for: the worker's, its model kind's, and those named."""
    kind = str(request.get("kind") or "")
    return [*WORKER_MODULES, *libraries_of(kind), *request.get("modules", ())]


class _Pool:
    def __init__(self, listener: socket.socket, idle: float) -> None:
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
                if compute_fingerprint() != fingerprint():
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
            if peer_uid(conn) != os.getuid():  # the address is guessable; it serves its user only
                conn.close()
                return
            conn.settimeout(5.0)
            data, fds, _flags, _addr = socket.recv_fds(conn, MAX_MESSAGE, 4)
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
                send(conn, {"ok": True})
            elif op == "status":
                send(conn, self._status())
            elif op == "stop":
                self.stopping = True
                self.selector.unregister(self.listener)
                self.listener.close()
                send(conn, {"ok": True, "workers": len(self.workers)})
            else:
                send(conn, {"error": f"request {op!r} not served"})

    def _status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started": self.started,
            "idle_timeout_s": self.idle,
            "idle_s": 0.0 if self.workers else time.monotonic() - self.last_request,
            "workers": sorted(self.workers),
            "modules": len(self.imported),
            "fingerprint": fingerprint(),
            "python": sys.executable,
        }

    def _fork(self, conn: socket.socket, request: dict[str, Any], fd: int) -> None:
        self.preload(_wanted(request))
        pid = os.fork()
        if pid == 0:
            self._child(conn, request, fd)
        os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.workers[pid] = (pidfd, conn)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exit", pid))
        try:
            send(conn, {"pid": pid})
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
            from squall.compute.local import WorkerArgs, worker_process

            args = WorkerArgs.from_dict(request["args"])
            worker_process(args, Connection(fd), int(request["supervisor"]))
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
            send(control, {"exit": os.waitstatus_to_exitcode(code)})

    def _control_event(self, pid: int) -> None:
        """The supervisor closed the worker's connection (or died) while the worker runs."""
        _pidfd, control = self.workers[pid]
        with contextlib.suppress(OSError):
            if control.recv(MAX_MESSAGE):
                return  # nothing is expected from the supervisor; ignore it
        self.selector.unregister(control)
        _log(f"worker {pid}'s supervisor is gone: ending it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main() -> int:
    """Start a pool (``python -m squall.compute.warm_server``, its settings as JSON on stdin)."""
    config = json.loads(sys.stdin.buffer.read() or b"{}")
    sys.stdin.close()
    where = address()
    if sys.path and sys.path[0] == os.getcwd():
        del sys.path[0]  # the starting directory ("/"), never an import root
    try:
        os.close(os.pidfd_open(os.getpid()))  # how the pool learns of its workers' ends
    except OSError as exc:
        print(f"warm pool not started: pidfd_open: {exc}", flush=True)
        return 1
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind(where)
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
