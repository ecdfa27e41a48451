"""How the CLI prints: tables as aligned text, JSON for scripts, a live progress bar."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["print_json", "print_table", "progress_bar"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    try:
        import pandas as pd

        if value is pd.NaT or (isinstance(value, float) and value != value):
            return ""
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, file: Any = None
) -> None:
    out = file or sys.stdout
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    widths = [min(w, 60) for w in widths]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v[:w].ljust(w) for v, w in zip(values, widths)).rstrip()

    print(line([c.upper() for c in columns]), file=out)
    for row in cells:
        print(line(row), file=out)
    if not rows:
        print("(none)", file=out)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=_cell))


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
    tty = getattr(out, "isatty", lambda: False)()
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
