"""A job's progress drawn as a bar (rows, rate, ETA) while something waits for it.

``job.wait()`` draws it when the session is interactive (a terminal, or a notebook);
``squall jobs wait`` and ``squall run --wait`` always do.
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["interactive", "progress_bar"]


def interactive(file: Any = None) -> bool:
    """True in a terminal (``file``, default stderr, is a TTY) or a Jupyter kernel."""
    out = file or sys.stderr
    if getattr(out, "isatty", lambda: False)():
        return True
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    ip = get() if callable(get) else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def progress_bar(
    job: Any, *, file: Any = None, interval: float = 0.25, timeout: float | None = None
) -> str:
    """Draw the job's progress (rows, rate, ETA) until it ends; return its final status.

    On a terminal the bar redraws in place; otherwise a line is printed every few seconds.
    ``TimeoutError`` when ``timeout`` seconds pass first (the job goes on); None or a
    negative ``timeout`` waits without limit.
    """
    from squall.jobs.status import FINAL

    out = file or sys.stderr
    tty = interactive(out)
    deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
    last_line = ""
    last_print = 0.0
    while True:
        status = job.status
        p = job.progress
        width = 30
        filled = int(width * p.fraction)
        bar = "#" * filled + "-" * (width - filled)
        rate = f"{p.rows_per_second:,.0f} rows/s" if p.rows_per_second else "- rows/s"
        eta = f"ETA {p.eta_seconds:,.0f}s" if p.eta_seconds is not None else "ETA -"
        text = f"{job.name} {status:<10} [{bar}] {p.rows_done:,}/{p.rows_total:,} rows {rate} {eta}"
        now = time.monotonic()
        if tty:
            print("\r" + text.ljust(len(last_line)), end="", file=out, flush=True)
        elif text != last_line and (status in FINAL or not last_line or now - last_print >= 5):
            print(text, file=out, flush=True)
            last_print = now
        last_line = text
        if status in FINAL:
            if tty:
                print(file=out)
            return str(status)
        if deadline is not None and now >= deadline:
            if tty:
                print(file=out)
            raise TimeoutError(f"job {job.name} is still {status} after {timeout}s")
        time.sleep(interval)
