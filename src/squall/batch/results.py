"""What running one shard produced, as a worker reports it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShardResult"]


@dataclass
class ShardResult:
    shard: int
    rows: int
    error_rows: int
    seconds: float
    # input row number and text of the shard's first bad row (on_error="continue")
    first_error: tuple[int, str] | None = None
    # True when an earlier attempt had committed the part and this one kept it
    kept: bool = False
