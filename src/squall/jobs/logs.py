"""A job's logs: the supervisor's file and one file per worker, read back tagged by source.

Lines are read back with credentials masked (:func:`squall.errors.redact`).
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from pathlib import Path

from squall.errors import redact
from squall.logtime import line_time

__all__ = ["LogTail", "log_files", "read_logs"]


def log_files(log_dir: Path) -> list[tuple[str, Path]]:
    """(tag, path) of each log file: the supervisor first, then workers in start order."""
    if not log_dir.is_dir():
        return []
    files = []
    sup = log_dir / "supervisor.log"
    if sup.exists():
        files.append(("supervisor", sup))
    workers = sorted(log_dir.glob("w*.log"), key=lambda p: (len(p.stem), p.stem))
    files.extend((p.stem, p) for p in workers)
    return files


def read_logs(log_dir: Path, limit: int = -1) -> str:
    """Every log line tagged ``[source]``, in time order across the files.

    A line without a timestamp (a traceback's continuation, output written below Python)
    goes with the line before it. ``limit`` > 0 keeps the last ``limit`` lines.
    """
    timed: list[list[tuple[float, str]]] = []
    for tag, path in log_files(log_dir):
        at = 0.0
        rows: list[tuple[float, str]] = []
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                at = line_time(line) or at
                rows.append((at, f"[{tag}] {redact(line.rstrip())}"))
        timed.append(rows)
    lines = [text for _, text in heapq.merge(*timed, key=lambda row: row[0])]
    if limit is not None and limit > 0:
        lines = lines[-limit:]
    return "\n".join(lines)


class LogTail:
    """Reads a job's log files as they grow: each call returns the lines new since the last.

    Each file is followed by its own byte offset, so lines written to the supervisor's log
    after a worker's are neither lost nor repeated; a line is returned once it is complete.
    Lines come out in time order across the files, as :func:`read_logs` gives them: a line
    is held back until ``settle`` seconds have passed since its timestamp, so that a line
    of the same moment, still being written to another file, goes out in its place.
    """

    def __init__(self, log_dir: Path, settle: float = 1.0) -> None:
        self.log_dir = log_dir
        self.settle = settle
        self._offsets: dict[Path, int] = {}
        self._times: dict[Path, float] = {}  # the last timestamp read from each file
        self._pending: dict[Path, deque[tuple[float, str]]] = {}

    def read_new(self, final: bool = False, now: float | None = None) -> list[str]:
        """New complete lines, tagged, in time order; lines of the last ``settle`` seconds
        wait for the next call. With ``final``, every line, and a last one without its newline.
        """
        for tag, path in log_files(self.log_dir):
            start = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as fh:
                    fh.seek(start)
                    data = fh.read()
            except FileNotFoundError:
                continue
            end = len(data) if final else data.rfind(b"\n") + 1
            self._offsets[path] = start + end
            text = data[:end].decode("utf-8", errors="replace")
            at = self._times.get(path, 0.0)
            pending = self._pending.setdefault(path, deque())
            for line in text.splitlines():
                at = line_time(line) or at
                pending.append((at, f"[{tag}] {redact(line.rstrip())}"))
            self._times[path] = at
        cutoff = math.inf if final else (time.time() if now is None else now) - self.settle
        out: list[str] = []
        queues = list(self._pending.values())  # in log_files order: the supervisor first
        while True:
            heads = [q for q in queues if q and q[0][0] <= cutoff]
            if not heads:
                return out
            first = min(heads, key=lambda q: q[0][0])  # the earliest; on a tie, file order
            out.append(first.popleft()[1])
