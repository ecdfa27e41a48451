"""Shards for model kinds that take a whole shard as a stream of Arrow batches.

Engines that schedule their own batches (vLLM, ...) want every row of a shard at once, as
a stream, not a pandas call per ``max_batch_rows``. Their function is called once per
shard with an iterator of record batches (the model's columns, named as in its signature)
and yields outputs with one row per input row, in order; each output is matched here to the
input rows it answers and written with them. A failure fails the shard (there is no bad-row
isolation: the engine owns the batching; with ``on_error="continue"`` the part still has
its ``_ERROR`` column, all null).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from squall.batch.output import PartWriter
from squall.batch.results import ShardResult
from squall.batch.shards import ShardRef
from squall.errors import ModelOutputError

if TYPE_CHECKING:
    from squall.batch.worker import ShardRunner

__all__ = ["run_stream_shard"]


def run_stream_shard(
    runner: ShardRunner,
    writer: PartWriter,
    shard: int,
    ref: ShardRef,
    progress: Callable[[int, int], None] | None = None,
    *,
    first_row: int = 0,
) -> ShardResult:
    """Stream one shard through the model and commit its part."""
    started = time.monotonic()
    plan = runner.plan
    names = [s.name for s in runner.function.signature.inputs]
    # Input rows handed to the model and not yet answered, oldest first.
    pending: collections.deque[pa.RecordBatch] = collections.deque()
    schema: list[pa.Schema] = []

    def inputs() -> Iterator[pa.RecordBatch]:
        for batch, files in runner.batches(ref, first_row):
            pending.append(batch)
            schema[:] = [batch.schema]
            model_batch = batch.select(plan.model_columns)
            for column, values in files.items():
                at = model_batch.schema.get_field_index(column)
                model_batch = model_batch.set_column(at, column, pa.array(values))
            if len(names) == model_batch.num_columns:
                model_batch = model_batch.rename_columns(names)
            yield model_batch

    try:
        for out in runner.call_stream(inputs()):
            table = runner.typed_outputs(out)
            if runner.keep_going:
                table = table.append_column(
                    runner.error_field, pa.nulls(table.num_rows, pa.string())
                )
            done = 0
            while done < table.num_rows:
                if not pending:
                    raise ModelOutputError(
                        f"function {plan.function!r} returned more rows than its input"
                    )
                head = pending.popleft()
                take = min(head.num_rows, table.num_rows - done)
                if take < head.num_rows:
                    pending.appendleft(head.slice(take))
                combined = pa.Table.from_batches([head.slice(0, take)])
                for field, column in zip(table.schema, table.columns):
                    combined = combined.append_column(field, column.slice(done, take))
                writer.write(combined)
                done += take
                if progress is not None:
                    progress(take, 0)
        missing = sum(b.num_rows for b in pending)
        if missing:
            raise ModelOutputError(
                f"function {plan.function!r} returned {missing} row(s) fewer than its input; "
                "it must return one row per input row"
            )
        empty = None
        if writer.rows == 0 and schema:
            empty = pa.schema(list(schema[0]) + runner.part_fields)
        committed = writer.commit(empty)
    except BaseException:
        writer.abort()
        raise
    seconds = time.monotonic() - started
    if not committed:
        rows, bad = runner.sink.counts(shard)
        return ShardResult(shard, rows, bad, seconds, kept=True)
    return ShardResult(shard, writer.rows, 0, seconds)
