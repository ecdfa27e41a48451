"""Stream a job's input X into shards: Arrow IPC files under the job's scratch folder.

Memory stays bounded by one batch plus one shard writer, whatever the size of X: a SQL
query is read with DuckDB's streaming fetch, an Arrow table batch by batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from squall.errors import InvalidArgumentError

__all__ = [
    "ShardInfo",
    "empty_shard",
    "input_batches",
    "input_schema",
    "shard_first_row",
    "stage_batches",
]

# Staging reads X in batches of this many rows; a shard is closed once it holds at least
# shard_rows rows or _SHARD_BYTES bytes, whichever comes first.
STAGE_BATCH_ROWS = 65_536
_SHARD_BYTES = 256 * 1024 * 1024
# Schema metadata of a shard file: the input row number of its first row.
FIRST_ROW_KEY = b"squall.first_row"


@dataclass(frozen=True)
class ShardInfo:
    shard: int
    path: str
    rows: int
    first_row: int


def _as_arrow(X: Any) -> pa.Table | None:
    """X as an Arrow table when it is an in-memory frame; None for a squall DataFrame."""
    if isinstance(X, pa.Table):
        return X
    if isinstance(X, pa.RecordBatch):
        return pa.Table.from_batches([X])
    try:
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            from squall.warehouse.sources import pandas_to_arrow

            return pandas_to_arrow(X)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    module = type(X).__module__
    if module.startswith("polars"):
        return X.to_arrow()
    return None


def _check_input_type(X: Any) -> None:
    from squall.warehouse import DataFrame

    if isinstance(X, DataFrame) or _as_arrow(X) is not None:
        return
    raise InvalidArgumentError(
        f"X must be a squall DataFrame, a pandas DataFrame, a pyarrow Table or a polars "
        f"DataFrame, not {type(X).__module__}.{type(X).__name__}"
    )


def input_schema(X: Any) -> pa.Schema:
    """The Arrow schema of X without reading its rows."""
    from squall.warehouse import DataFrame

    _check_input_type(X)
    if isinstance(X, DataFrame):
        return X.schema
    table = _as_arrow(X)
    assert table is not None
    return table.schema


def input_batches(X: Any, batch_rows: int = STAGE_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """X's rows as a stream of record batches."""
    from squall.warehouse import DataFrame

    _check_input_type(X)
    if isinstance(X, DataFrame):
        yield from X.iter_batches(batch_rows)
        return
    table = _as_arrow(X)
    assert table is not None
    yield from table.to_batches(max_chunksize=batch_rows)


def stage_batches(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    folder: Path,
    shard_rows: int,
    on_shard: Callable[[ShardInfo], None] | None = None,
    max_shard_rows: int | None = None,
) -> list[ShardInfo]:
    """Write the batches into shards of about ``shard_rows`` rows; return the shards.

    ``on_shard`` is called with each shard as soon as its file is complete. With
    ``max_shard_rows``, each shard holds twice the rows of the one before, up to that.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shards: list[ShardInfo] = []
    writer: pa.ipc.RecordBatchFileWriter | None = None
    path = ""
    rows = nbytes = first_row = 0

    def close() -> None:
        nonlocal writer, rows, nbytes, first_row, shard_rows
        if writer is None:
            return
        writer.close()
        info = ShardInfo(len(shards), path, rows, first_row)
        shards.append(info)
        if on_shard is not None:
            on_shard(info)
        first_row += rows
        writer, rows, nbytes = None, 0, 0
        if max_shard_rows is not None:
            shard_rows = max(shard_rows, min(max_shard_rows, shard_rows * 2))

    for batch in batches:
        if batch.num_rows == 0:
            continue
        if batch.schema != schema:
            batch = pa.RecordBatch.from_arrays(
                [batch.column(i).cast(f.type) for i, f in enumerate(schema)], schema=schema
            )
        offset = 0
        while offset < batch.num_rows:
            if writer is None:
                path = str(folder / shard_file_name(len(shards)))
                meta = {**(schema.metadata or {}), FIRST_ROW_KEY: str(first_row).encode()}
                writer = pa.ipc.new_file(path, schema.with_metadata(meta))
            take = min(batch.num_rows - offset, shard_rows - rows)
            piece = batch.slice(offset, take)
            writer.write_batch(piece)
            rows += take
            nbytes += piece.nbytes
            offset += take
            if rows >= shard_rows or nbytes >= _SHARD_BYTES:
                close()
    close()
    return shards


def empty_shard(folder: Path, schema: pa.Schema) -> ShardInfo:
    """A shard of no rows, for an empty input: its job still writes one (empty) part."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / shard_file_name(0)
    with pa.ipc.new_file(str(path), schema) as writer:
        writer.write_table(schema.empty_table())
    return ShardInfo(0, str(path), 0, 0)


def shard_first_row(path: str) -> int:
    """The input row number of a shard's first row (0 for a shard that does not record it)."""
    with pa.memory_map(path, "r") as source:
        meta = pa.ipc.open_file(source).schema.metadata or {}
    return int(meta.get(FIRST_ROW_KEY, b"0"))


def shard_file_name(shard: int) -> str:
    return f"shard-{shard:06d}.arrow"


def _is_shard_file(name: str) -> bool:
    return name.startswith("shard-") and name.endswith(".arrow")


def staged_file(folder: Path, path: str) -> Path | None:
    """``path`` when it is a file of staged rows in ``folder`` (a job's staged input), else
    None (a shard that references its input where it lies)."""
    found = Path(path)
    return found if found.parent == folder and _is_shard_file(found.name) else None


def remove_shards(folder: Path) -> None:
    """Delete a job's staged input (after it is DONE)."""
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        if _is_shard_file(entry.name):
            os.unlink(entry.path)
