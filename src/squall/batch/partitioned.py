"""The worker's side of partitioning: batches that never mix partitions, whole-partition calls.

Staging (``squall.batch.partition``) puts each partition whole and contiguous in one shard.
Here, for an ``inference_api`` function, a shard's batches are cut at partition boundaries;
for a ``partitioned_api`` function, the function is called once per whole partition, whose
rows are the only ones converted to pandas at a time: a worker's memory is bounded by the
largest partition (the shard itself is memory-mapped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa

from squall.batch.frames import to_frame
from squall.batch.partition import partition_spans, same_key
from squall.batch.plan import JobPlan
from squall.batch.rebatch import rebatch
from squall.batch.results import ShardResult
from squall.batch.shards import ipc_source
from squall.batch.sink import PartSink


class ShardCaller(Protocol):
    """What running a shard needs of a worker's runner (``batch.worker.ShardRunner``)."""

    plan: JobPlan
    files: Any
    output_dir: Any
    sink: PartSink
    output_fields: list[pa.Field]
    call: Callable[[pd.DataFrame], Any]

    def typed_outputs(self, out: Any) -> pa.Table: ...


__all__ = ["ShardCaller", "run_in_process", "run_partitioned_shard", "split_at_partitions"]


def split_at_partitions(
    batches: Iterator[pa.RecordBatch], column: str, max_rows: int
) -> Iterator[pa.RecordBatch]:
    """Re-cut batches so each holds rows of one partition only, at most ``max_rows`` of them.

    A partition's rows that arrive in consecutive batches are joined again, up to
    ``max_rows``, so small partitions are not split needlessly.
    """

    def runs() -> Iterator[tuple[pa.RecordBatch, bool]]:
        seen, previous = False, None
        for batch in batches:
            keys = batch.column(column)
            for start, end in partition_spans(keys):
                key = keys[start].as_py()
                yield batch.slice(start, end - start), seen and not same_key(previous, key)
                seen, previous = True, key

    return rebatch(runs(), max_rows)


def _call_partition(runner: ShardCaller, rows: pa.Table) -> pa.Table:
    """The function's output for one whole partition, as Arrow typed per the signature."""
    plan = runner.plan
    model_input = to_frame(rows.select(plan.model_columns))
    if runner.files is not None:
        from squall.batch.files import with_file_contents

        # The whole partition goes to the model at once, so all its files are read first.
        contents: dict[str, list[Any]] = {}
        for _rows, files in runner.files.resolve(rows.to_batches()):
            for column, values in files.items():
                contents.setdefault(column, []).extend(values)
        model_input = with_file_contents(model_input, contents)
    return runner.typed_outputs(runner.call(model_input))


def run_partitioned_shard(
    runner: ShardCaller, shard: int, path: str, progress: Callable[[int, int], None] | None = None
) -> ShardResult:
    """Call a partitioned function once per partition of one shard; commit its output part.

    The part holds the partition column (when there is one) and the function's outputs.
    The result counts input rows, as progress does.
    """
    started = time.monotonic()
    column = runner.plan.partition_column
    writer = runner.sink.open_part(shard)
    try:
        with ipc_source(path) as source:
            table = pa.ipc.open_file(source).read_all()
            key_field = [table.schema.field(column)] if column is not None else []
            spans = (
                partition_spans(table.column(column))
                if column is not None
                else [(0, table.num_rows)]
            )
            for start, end in spans:
                if end == start:
                    continue
                rows = table.slice(start, end - start)
                out = _call_partition(runner, rows)
                if column is not None:
                    key = rows.column(column).slice(0, 1).combine_chunks()
                    keys = key.take(pa.array([0] * out.num_rows, type=pa.int64()))
                    out = out.add_column(0, key_field[0], keys)
                writer.write(out)
                if progress is not None:
                    progress(rows.num_rows, 0)
            writer.commit(pa.schema(key_field + runner.output_fields))
            input_rows = table.num_rows
    except BaseException:
        writer.abort()
        raise
    return ShardResult(shard, input_rows, 0, time.monotonic() - started)


def run_in_process(
    model: Any, function: Any, options: dict[str, Any], X: pd.DataFrame, params: Any, column: str
) -> pd.DataFrame:
    """``ModelVersion.run`` with a partition column: the same rules as a batch job, in memory.

    An inference function gets one call per partition and its outputs come back in input
    row order; a partitioned function's output is the partition column plus its outputs.
    """
    from squall.batch.partition import check_partitioning
    from squall.batch.validate import match_column

    column = match_column(column, [str(c) for c in X.columns], "partition_column")
    schema = pa.Schema.from_pandas(X[[column]], preserve_index=False)
    check_partitioning(function, options, schema, column, "fail")
    call = model.bind(function.name, params)
    pieces = []
    for _key, rows in X.groupby(column, sort=True, dropna=False):
        out = call(rows.reset_index(drop=True))
        if function.kind == "partitioned":
            out.insert(0, column, [rows[column].iloc[0]] * len(out))
        else:
            out.index = rows.index
        pieces.append(out)
    if not pieces:
        return call(X)
    result = pd.concat(pieces)
    if function.kind == "partitioned":
        return result.reset_index(drop=True)
    return result.loc[X.index].reset_index(drop=True)
