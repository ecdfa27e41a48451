"""Typed references to a job's input shards, as the catalog records them and workers read them.

A shard is either an Arrow IPC file that staging wrote (``IpcShard``) or a run of row groups
of a Parquet file read in place (``ParquetRowGroups``, see ``batch/parquet_shards.py``). The
catalog keeps each as text (a path, or a JSON object); ``parse_shard_ref`` is the one place
that tells them apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IpcShard", "ParquetRowGroups", "ShardRef", "parse_shard_ref", "shard_record"]

_PARQUET_KEY = "parquet_ref"


@dataclass(frozen=True)
class IpcShard:
    """An Arrow IPC file of input rows, staged under the job's scratch folder."""

    path: str

    def exists(self) -> bool:
        return Path(self.path).exists()


@dataclass(frozen=True)
class ParquetRowGroups:
    """Row groups of a Parquet file read in place; its size and mtime as staging saw them."""

    path: str
    row_groups: tuple[int, ...]
    size: int
    mtime_ns: int

    def exists(self) -> bool:
        return Path(self.path).exists()


ShardRef = IpcShard | ParquetRowGroups


def parse_shard_ref(record: str) -> ShardRef:
    """The reference a shard's catalog record holds."""
    if record.startswith("{"):
        data = json.loads(record)
        if _PARQUET_KEY in data:
            return ParquetRowGroups(
                data[_PARQUET_KEY], tuple(data["row_groups"]), data["size"], data["mtime_ns"]
            )
    return IpcShard(record)


def shard_record(ref: ShardRef) -> str:
    """A reference as the catalog records it (the inverse of ``parse_shard_ref``)."""
    if isinstance(ref, ParquetRowGroups):
        return json.dumps(
            {
                _PARQUET_KEY: ref.path,
                "row_groups": list(ref.row_groups),
                "size": ref.size,
                "mtime_ns": ref.mtime_ns,
            }
        )
    return ref.path
