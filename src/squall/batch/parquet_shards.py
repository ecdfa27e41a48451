"""Shards that reference row groups of Parquet files in place, instead of copies of the rows.

When ``X`` is Parquet on a local stage (``session.read.parquet("@stage/path/")``), staging
would decode every row in the client and write it again as Arrow IPC, which costs about as
much as the inference itself. Instead, a shard is a reference: one file, a run of its row
groups, and the file's size and modification time. A worker reads those row groups itself;
a file that changed after ``run_batch`` fails its shard with ``InputChangedError``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from squall.batch.shards import ParquetRowGroups, parse_shard_ref, shard_record
from squall.batch.staging import ShardInfo
from squall.errors import InputChangedError
from squall.stages.urls import local_path, open_url, url_stat

__all__ = ["parquet_in_place", "read_parquet_ref", "reference_shards"]


def parquet_in_place(X: Any) -> pads.FileSystemDataset | None:
    """The dataset behind ``X`` when its shards can reference its files; else None.

    That is: a squall DataFrame over local Parquet files, with no row limit, whose files all
    have exactly the dataset's schema (so a worker can read each one as it is).
    """
    from squall.warehouse import DataFrame

    if not isinstance(X, DataFrame) or X.row_limit is not None:
        return None
    dataset = X.arrow_source
    if not isinstance(dataset, pads.FileSystemDataset):
        return None
    if not isinstance(dataset.format, pads.ParquetFileFormat):
        return None
    if not isinstance(dataset.filesystem, pafs.LocalFileSystem):
        return None
    for path in dataset.files:
        if not pq.read_schema(path).equals(dataset.schema, check_metadata=False):
            return None
    return dataset


def reference_shards(
    dataset: pads.FileSystemDataset,
    shard_rows: int,
    on_shard: Callable[[ShardInfo], None] | None = None,
) -> list[ShardInfo]:
    """Shards of whole row groups, at least ``shard_rows`` rows each unless a file ends first."""
    shards: list[ShardInfo] = []
    first_row = 0

    def close(path: str, stat: os.stat_result, groups: list[int], rows: int) -> None:
        nonlocal first_row
        ref = ParquetRowGroups(path, tuple(groups), stat.st_size, stat.st_mtime_ns)
        info = ShardInfo(len(shards), shard_record(ref), rows, first_row)
        shards.append(info)
        if on_shard is not None:
            on_shard(info)
        first_row += rows

    for path in dataset.files:
        stat = os.stat(path)
        metadata = pq.ParquetFile(path).metadata
        groups: list[int] = []
        rows = 0
        for i in range(metadata.num_row_groups):
            n = metadata.row_group(i).num_rows
            if n == 0:
                continue
            groups.append(i)
            rows += n
            if rows >= shard_rows:
                close(path, stat, groups, rows)
                groups, rows = [], 0
        if groups:
            close(path, stat, groups, rows)
    return shards


def read_parquet_ref(ref: ParquetRowGroups | str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows a reference (or its catalog record) names, in batches of at most ``batch_rows``."""
    if isinstance(ref, str):
        parsed = parse_shard_ref(ref)
        if not isinstance(parsed, ParquetRowGroups):
            raise ValueError(f"shard {ref!r} does not reference Parquet row groups")
        ref = parsed
    path = ref.path
    try:
        size, mtime_ns = url_stat(path)
    except FileNotFoundError as exc:
        raise InputChangedError(f"input file {path} was removed after the job started") from exc
    if size != ref.size or mtime_ns != ref.mtime_ns:
        raise InputChangedError(
            f"input file {path} changed after the job started (size {ref.size} -> "
            f"{size}); run the job again to read its new contents"
        )
    local = local_path(path)
    with contextlib.ExitStack() as stack:
        source = local if local is not None else stack.enter_context(open_url(path))
        reader = stack.enter_context(pq.ParquetFile(source))
        yield from reader.iter_batches(
            batch_size=batch_rows, row_groups=list(ref.row_groups), use_threads=False
        )
