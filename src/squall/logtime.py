"""The one timestamp format of job log lines: local time to the millisecond.

``2026-01-31 12:00:00.250 shard 0 done`` -- the supervisor and every worker start their lines
this way, so ``jobs logs`` can order lines by time across files.
"""

from __future__ import annotations

import datetime as dt
import re
import time

__all__ = ["line_time", "log_stamp"]

_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?) ")


def log_stamp(when: float | None = None) -> str:
    """``when`` (seconds since the epoch; default now) as a log line's timestamp."""
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when)
    return moment.isoformat(sep=" ", timespec="milliseconds")


def line_time(line: str) -> float | None:
    """Seconds since the epoch of a log line that starts with a timestamp, else None."""
    match = _STAMP.match(line)
    if match is None:
        return None
    return dt.datetime.fromisoformat(match.group(1)).timestamp()
