"""A job's resource requests (``JobSpec.cpu_requests``, ...), read into numbers for its plan.

The strings follow Kubernetes quantities, as Snowflake's do: ``cpu_requests`` "2", "0.5" or
"500m" (milli-CPUs); ``memory_requests`` "4Gi", "512Mi", "2G" or a number of bytes;
``gpu_requests`` a whole number of GPUs per worker.
"""

from __future__ import annotations

import re
from typing import Any

from squall.errors import InvalidSpecError

__all__ = ["parse_cpu", "parse_gpus", "parse_memory"]

_MEMORY_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
_CPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m?)\s*$")


def parse_cpu(value: Any) -> float | None:
    """CPUs per worker: ``2``, ``"0.5"``, ``"500m"``; None when not asked."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _CPU.match(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise InvalidSpecError(
            f"cpu_requests {value!r} is not a number of CPUs like 2, '0.5' or '500m'"
        )
    number = float(match.group(1))
    return number / 1000 if match.group(2) else number


def parse_memory(value: Any) -> int | None:
    """Bytes per worker: ``"4Gi"``, ``"512Mi"``, ``"2G"``, a number of bytes; None if not asked."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise InvalidSpecError(
            f"memory_requests {value!r} is not an amount like '4Gi', '512Mi' or '2G'"
        )
    return int(float(match.group(1)) * _MEMORY_UNITS[(match.group(2) or "").lower()])


def parse_gpus(value: Any) -> int:
    """GPUs per worker: a whole number (0 when not asked)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidSpecError(f"gpu_requests {value!r} is not a whole number of GPUs")
