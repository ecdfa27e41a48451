"""Partitioned input: check a partition column, find partitions, stage them whole into shards.

With ``InputSpec(partition_column=...)`` (or a ``partitioned_api`` function, whose whole
input is one partition when no column is given) the input is staged so that

- every partition lands whole in one shard, its rows contiguous and in input order;
- shards hold whole partitions of about ``shard_rows`` rows, the largest partitions first,
  so that the workers, which take shards as they come free, start the long work first and
  the small partitions fill the gaps (a longest-first schedule).

DuckDB orders the rows: X is streamed into a private in-memory DuckDB database, which
sorts it out of core (spilling to the job's scratch folder), and the sorted rows are
streamed into shards. Memory in the client stays bounded by DuckDB's memory limit plus one
batch, whatever the size of X or of its largest partition.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from squall.batch.staging import _SHARD_BYTES, STAGE_BATCH_ROWS, ShardInfo, shard_file_name
from squall.errors import InvalidSpecError
from squall.sqltext import quote_identifier, quote_literal

__all__ = [
    "SORT_MEMORY_LIMIT",
    "check_partitioning",
    "is_partitioned",
    "partition_starts",
    "row_number_column",
    "same_key",
    "stage_partitions",
]

#: The most memory DuckDB may use to order the input by partition; beyond it, it spills.
SORT_MEMORY_LIMIT = "1GB"


def is_partitioned(plan: Any) -> bool:
    """Whether a job's input must be staged in whole partitions."""
    return plan.partition_column is not None or plan.function_kind == "partitioned"


def check_partitioning(
    function: Any,
    options: dict[str, Any],
    schema: pa.Schema,
    column: str | None,
    on_error: str,
) -> None:
    """Refuse, before any work, a run that cannot be partitioned as asked.

    ``column`` is the partition column as named in X, or None. Raises InvalidSpecError,
    naming the values, for a partition column on a function of a model not logged as a
    table function, or whose type cannot be compared; a partitioned function that outputs
    the partition column itself; and ``on_error="continue"`` with a partitioned function.
    """
    name = function.name
    if function.kind == "partitioned" and on_error != "fail":
        raise InvalidSpecError(
            f"on_error={on_error!r} does not apply to partitioned function {name!r}: it is "
            "called once per whole partition, so an error fails the job; use on_error='fail'"
        )
    if column is None:
        return
    if options.get("function_type") != "TABLE_FUNCTION":
        raise InvalidSpecError(
            f"partition_column={column!r} cannot be used with function {name!r}: its model "
            "was logged as a plain function; partitioned runs need the model logged with "
            "options={'function_type': 'TABLE_FUNCTION'}"
        )
    kind = schema.field(column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_nested(kind) or pa.types.is_null(kind):
        raise InvalidSpecError(
            f"partition_column {column!r} has type {kind}; partition by a column of plain "
            "values (numbers, strings, dates, booleans, bytes)"
        )
    if function.kind == "partitioned":
        clash = [o.name for o in function.signature.outputs if o.name.lower() == column.lower()]
        if clash:
            raise InvalidSpecError(
                f"partitioned function {name!r} outputs a column {clash[0]!r}, which is also "
                f"the partition column {column!r}: its output is the partition column plus "
                "the function's outputs; rename that output"
            )


# --- partition boundaries ---------------------------------------------------------------


def _plain(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_dictionary(values.type):
        return values.cast(values.type.value_type)
    return values


def partition_starts(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The offsets where a new partition starts in a column sorted by partition.

    Nulls make one partition, and so do NaNs, as when DuckDB grouped them.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    values = _plain(values)
    head, tail = values.slice(0, n - 1), values.slice(1)
    same = pc.fill_null(pc.equal(head, tail), False)
    same = pc.or_(same, pc.and_(pc.is_null(head), pc.is_null(tail)))
    if pa.types.is_floating(values.type):
        both_nan = pc.and_(pc.is_nan(head), pc.is_nan(tail))
        same = pc.or_(same, pc.fill_null(both_nan, False))
    if isinstance(same, pa.ChunkedArray):
        same = same.combine_chunks()
    changed = np.flatnonzero(~same.to_numpy(zero_copy_only=False)) + 1
    return np.concatenate([np.zeros(1, dtype=np.int64), changed.astype(np.int64)])


def partition_spans(values: pa.Array | pa.ChunkedArray) -> list[tuple[int, int]]:
    """``(start, end)`` of each partition of a column sorted by partition."""
    starts = partition_starts(values).tolist()
    if not starts:
        return []
    ends = [*starts[1:], len(values)]
    return list(zip(starts, ends, strict=True))


def same_key(a: Any, b: Any) -> bool:
    """Whether two partition keys (Python values) name the same partition."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


# --- staging ----------------------------------------------------------------------------


def _free_name(schema: pa.Schema, base: str) -> str:
    name = base
    while name in schema.names:
        name += "_"
    return name


def row_number_column(schema: pa.Schema) -> str:
    """The name of the column of input row numbers that sorting adds to X's columns."""
    return _free_name(schema, "__squall_row")


def _with_row_number(schema: pa.Schema, row: str) -> pa.Schema:
    return pa.schema([*schema, pa.field(row, pa.int64())])


def _numbered(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, row: str
) -> Iterator[pa.RecordBatch]:
    """The batches with a column of input row numbers, so sorting keeps the input order."""
    offset = 0
    out_schema = _with_row_number(schema, row)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        columns = [batch.column(i).cast(f.type) for i, f in enumerate(schema)]
        numbers = pa.array(np.arange(offset, offset + batch.num_rows, dtype=np.int64))
        offset += batch.num_rows
        yield pa.RecordBatch.from_arrays([*columns, numbers], schema=out_schema)


def _sorted_by_partition(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    column: str,
    spill: Path,
    keep_row: bool = False,
) -> Iterator[pa.RecordBatch]:
    """X's rows grouped by partition: largest partitions first, input order within one.

    With ``keep_row``, the rows keep their input row number (:func:`row_number_column`).
    """
    import duckdb

    row = row_number_column(schema)
    size = _free_name(schema, "__squall_partition_rows")
    source = pa.RecordBatchReader.from_batches(
        _with_row_number(schema, row), _numbered(batches, schema, row)
    )
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"SET temp_directory = {quote_literal(spill.as_posix())}")
        con.execute(f"SET memory_limit = {quote_literal(SORT_MEMORY_LIMIT)}")
        con.execute("SET enable_progress_bar = false")
        con.register("squall_input", source)
        key = quote_identifier(column)
        dropped = ", ".join(quote_identifier(c) for c in ([size] if keep_row else [row, size]))
        query = (
            f"SELECT * EXCLUDE ({dropped}) FROM ("
            f"SELECT *, count(*) OVER (PARTITION BY {key}) AS {quote_identifier(size)} FROM squall_input"
            f") ORDER BY {quote_identifier(size)} DESC, {key} NULLS LAST, {quote_identifier(row)}"
        )
        yield from con.sql(query).to_arrow_reader(STAGE_BATCH_ROWS)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


class _ShardFiles:
    """Writes shards one after another; ``close`` ends the current one."""

    def __init__(
        self, folder: Path, schema: pa.Schema, on_shard: Callable[[ShardInfo], None] | None
    ) -> None:
        self.folder, self.schema, self.on_shard = folder, schema, on_shard
        self.shards: list[ShardInfo] = []
        self.writer: pa.ipc.RecordBatchFileWriter | None = None
        self.path = ""
        self.rows = self.nbytes = self.first_row = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            self.path = str(self.folder / shard_file_name(len(self.shards)))
            self.writer = pa.ipc.new_file(self.path, self.schema)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows
        self.nbytes += batch.nbytes

    def close(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        info = ShardInfo(len(self.shards), self.path, self.rows, self.first_row)
        self.shards.append(info)
        if self.on_shard is not None:
            self.on_shard(info)
        self.first_row += self.rows
        self.writer, self.rows, self.nbytes = None, 0, 0


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    return pa.RecordBatch.from_arrays(
        [batch.column(f.name).cast(f.type) for f in schema], schema=schema
    )


def stage_partitions(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    folder: Path,
    shard_rows: int,
    partition_column: str | None,
    on_shard: Callable[[ShardInfo], None] | None = None,
    row_column: str | None = None,
) -> list[ShardInfo]:
    """Write X into shards of whole partitions; return the shards.

    A shard is closed at a partition boundary once it holds ``shard_rows`` rows (or its
    byte limit); a partition larger than that makes a shard of its own. Without a
    partition column, the whole input is one partition, in one shard. With ``row_column``
    (see :func:`row_number_column`), the shards keep each row's input row number.
    """
    folder.mkdir(parents=True, exist_ok=True)
    keep_row = row_column is not None and partition_column is not None
    if keep_row:
        schema = _with_row_number(schema, row_number_column(schema))
    files = _ShardFiles(folder, schema, on_shard)
    if partition_column is None:
        for batch in batches:
            if batch.num_rows:
                files.write(_conform(batch, schema))
        files.close()
        return files.shards
    last: Any = _NO_KEY
    source = schema.remove(len(schema) - 1) if keep_row else schema
    sort = folder / ".sort"
    for batch in _sorted_by_partition(batches, source, partition_column, sort, keep_row):
        batch = _conform(batch, schema)
        keys = batch.column(partition_column)
        for start, end in partition_spans(keys):
            key = keys[start].as_py()
            new_partition = last is _NO_KEY or not same_key(last, key)
            full = files.rows >= shard_rows or files.nbytes >= _SHARD_BYTES
            if new_partition and full:
                files.close()
            files.write(batch.slice(start, end - start))
            last = key
    files.close()
    return files.shards


_NO_KEY = object()
