"""Typed references to a job's input shards, as the catalog records them and workers read them.

A shard is either an Arrow IPC file that staging wrote (``IpcShard``) or a run of row groups
of a Parquet file read in place (``ParquetRowGroups``, see ``batch/parquet_shards.py``). The
catalog keeps each as text (an address, or a JSON object); ``parse_shard_ref`` is the one
place that tells them apart.

A reference's ``path`` is an address (``squall.stages.urls``): a local path, read through a
memory map or as a plain file, or an fsspec URL (``s3://bucket/key``), read through fsspec,
so a worker that does not see the workspace can read a shard that lies where it can reach.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from squall.stages.urls import local_path, open_url, url_stat

__all__ = [
    "IpcShard",
    "ParquetRowGroups",
    "ShardRef",
    "ipc_source",
    "parse_shard_ref",
    "shard_record",
]


def _exists(address: str) -> bool:
    try:
        url_stat(address)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


@contextlib.contextmanager
def ipc_source(address: str) -> Iterator[Any]:
    """A random-access source over an Arrow IPC file: memory-mapped when local."""
    import pyarrow as pa

    path = local_path(address)
    if path is not None:
        with pa.memory_map(path, "r") as source:
            yield source
    else:
        with open_url(address) as f:
            yield f


_PARQUET_KEY = "parquet_ref"


@dataclass(frozen=True)
class IpcShard:
    """An Arrow IPC file of input rows, staged under the job's scratch folder."""

    path: str

    def exists(self) -> bool:
        return _exists(self.path)


@dataclass(frozen=True)
class ParquetRowGroups:
    """Row groups of a Parquet file read in place; its size and mtime as staging saw them."""

    path: str
    row_groups: tuple[int, ...]
    size: int
    mtime_ns: int

    def exists(self) -> bool:
        return _exists(self.path)


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
