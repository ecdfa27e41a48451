"""Schedules of DAGs: ``Cron`` expressions and fixed intervals, and the clock they run on."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.config import settings
from squall.errors import InvalidArgumentError, MissingExtraError

__all__ = ["Cron", "Schedule", "next_tick", "now", "parse_schedule", "schedule_to_json"]

_MIN_INTERVAL = dt.timedelta(minutes=1)
_MAX_INTERVAL = dt.timedelta(days=8)


@dataclass(frozen=True)
class Cron:
    """A cron schedule: ``Cron("0 2 * * *", "Europe/Berlin")`` runs at 02:00 Berlin time.

    The expression has five fields (minute hour day-of-month month day-of-week); the time
    zone is an IANA name. Both are checked when the DAG is deployed.
    """

    expr: str
    timezone: str = "UTC"

    def __str__(self) -> str:
        return f"USING CRON {self.expr} {self.timezone}"


Schedule = Cron | dt.timedelta


def now() -> float:
    """Seconds since the epoch: the system clock, or the test clock of SQUALL_CLOCK_FILE."""
    clock_file = settings().clock_file
    if not clock_file:
        return time.time()
    text = Path(clock_file).read_text().strip()
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError(f"the clock file holds {text!r}, not a number") from None


def _zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"Cron timezone {name!r} is not a time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgumentError(
            f"Cron timezone {name!r} is not a known time zone (use an IANA name like 'Europe/Berlin')"
        ) from None


def _croniter() -> Any:
    try:
        import croniter
    except ImportError:
        raise MissingExtraError("croniter", "schedule", "a Cron schedule") from None
    return croniter.croniter


def check_schedule(schedule: Any) -> None:
    """Raise InvalidArgumentError naming the problem when ``schedule`` cannot be run."""
    if schedule is None:
        return
    if isinstance(schedule, dt.timedelta):
        minutes = schedule.total_seconds() / 60
        if minutes != int(minutes) or not _MIN_INTERVAL <= schedule <= _MAX_INTERVAL:
            raise InvalidArgumentError(
                f"schedule {schedule!r} must be a whole number of minutes, from 1 minute to 8 days"
            )
        return
    if not isinstance(schedule, Cron):
        raise InvalidArgumentError(
            f"schedule must be a Cron or a timedelta, not {type(schedule).__name__} ({schedule!r})"
        )
    _zone(schedule.timezone)
    cron = _croniter()
    if not isinstance(schedule.expr, str) or len(schedule.expr.split()) != 5:
        raise InvalidArgumentError(
            f"Cron expression {schedule.expr!r} must have five fields: "
            "minute hour day-of-month month day-of-week"
        )
    if not cron.is_valid(schedule.expr):
        raise InvalidArgumentError(f"Cron expression {schedule.expr!r} cannot be parsed")


def schedule_to_json(schedule: Schedule | None) -> str | None:
    if schedule is None:
        return None
    if isinstance(schedule, Cron):
        return json.dumps({"cron": schedule.expr, "timezone": schedule.timezone})
    return json.dumps({"minutes": int(schedule.total_seconds() // 60)})


def parse_schedule(text: str | None) -> Schedule | None:
    if not text:
        return None
    data = json.loads(text)
    if "cron" in data:
        return Cron(data["cron"], data["timezone"])
    return dt.timedelta(minutes=data["minutes"])


def describe(schedule: Schedule | None) -> str:
    if schedule is None:
        return ""
    if isinstance(schedule, Cron):
        return str(schedule)
    return f"{int(schedule.total_seconds() // 60)} MINUTE"


def next_tick(schedule: Schedule, after: float, anchor: float) -> float:
    """The first time of ``schedule`` strictly after ``after``.

    An interval schedule ticks at ``anchor + k * interval`` (the anchor is when the DAG was
    deployed or resumed); a cron schedule at the expression's times in its time zone.
    """
    if isinstance(schedule, dt.timedelta):
        step = schedule.total_seconds()
        k = max(0, int((after - anchor) // step) + 1)
        tick = anchor + k * step
        return tick if tick > after else tick + step
    zone = _zone(schedule.timezone)
    start = dt.datetime.fromtimestamp(after, zone)
    it = _croniter()(schedule.expr, start)
    return float(it.get_next(dt.datetime).timestamp())


def ticks_between(schedule: Schedule, first: float, until: float, anchor: float) -> list[float]:
    """Every tick from ``first`` (a tick) up to ``until`` included; at most 10,000 of them."""
    ticks = [first]
    while len(ticks) < 10_000:
        nxt = next_tick(schedule, ticks[-1], anchor)
        if nxt > until:
            break
        ticks.append(nxt)
    return ticks


def to_datetime(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)
