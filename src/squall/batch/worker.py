"""The worker's loop: read a shard in batches, resolve file columns, infer, write one part.

``ShardRunner`` knows nothing of processes or executors: an executor builds one per worker
(the model loads once, in ``__init__``) and calls ``run`` for each shard id it is handed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from squall.batch.output import PartWriter, to_output_table
from squall.batch.parquet_shards import is_parquet_ref, read_parquet_ref
from squall.batch.plan import JobPlan
from squall.batch.staging import shard_first_row
from squall.errors import ModelOutputError

__all__ = ["ShardResult", "ShardRunner", "read_shard_batches"]


@dataclass
class ShardResult:
    shard: int
    rows: int
    error_rows: int
    seconds: float


def read_shard_batches(path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A shard's rows in batches of at most ``batch_rows``; the file is memory-mapped."""
    if is_parquet_ref(path):
        yield from read_parquet_ref(path, batch_rows)
        return
    with pa.memory_map(path, "r") as source:
        reader = pa.ipc.open_file(source)
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            offset = 0
            while offset < batch.num_rows:
                take = min(batch.num_rows - offset, batch_rows - pending_rows)
                pending.append(batch.slice(offset, take))
                pending_rows += take
                offset += take
                if pending_rows == batch_rows:
                    yield _combine(pending)
                    pending, pending_rows = [], 0
        if pending:
            yield _combine(pending)


def _combine(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _output_field(spec: Any) -> pa.Field:
    """The Arrow field of one output of a signature; nested outputs are JSON strings."""
    shape = getattr(spec, "shape", None)
    if shape or hasattr(spec, "specs"):
        return pa.field(spec.name, pa.string())
    return pa.field(spec.name, spec.dtype.to_arrow())


class ShardRunner:
    """Runs shards of one job in this process; built once per worker."""

    def __init__(self, plan: JobPlan, stages: Any) -> None:
        from squall.model.packaging import load_model

        self.plan = plan
        self.stages = stages
        self.model = load_model(Path(plan.model_path))
        self.function = self.model.manifest.functions[plan.function]
        self.output_fields = [_output_field(s) for s in self.function.signature.outputs]
        self.output_dir = Path(plan.output_dir)
        self.files = None
        if plan.file_columns:
            from squall.batch.files import FileFetcher

            self.files = FileFetcher(stages, plan.file_columns)

    def _batches(self, path: str) -> Iterator[tuple[pa.RecordBatch, dict[str, list[Any]]]]:
        """The shard's batches, each with its file columns' contents (read ahead of the model).

        With a partition column, each batch holds one partition only.
        """
        batches: Iterator[pa.RecordBatch] = read_shard_batches(path, self.plan.max_batch_rows)
        if self.plan.partition_column is not None:
            from squall.batch.partitioned import split_at_partitions

            batches = split_at_partitions(
                batches, self.plan.partition_column, self.plan.max_batch_rows
            )
        if self.files is None:
            return ((batch, {}) for batch in batches)
        return self.files.resolve(batches, first_row=shard_first_row(path))

    def _infer(self, batch: pa.RecordBatch, files: dict[str, list[Any]] | None = None) -> pa.Table:
        """The model's output for one batch, as Arrow typed per the signature."""
        model_input = batch.select(self.plan.model_columns).to_pandas()
        if files:
            from squall.batch.files import with_file_contents

            model_input = with_file_contents(model_input, files)
        out = self.model.call(self.plan.function, model_input, self.plan.params)
        if len(out) != batch.num_rows:
            raise ModelOutputError(
                f"function {self.plan.function!r} returned {len(out)} rows for a batch of "
                f"{batch.num_rows}; it must return one row per input row"
            )
        table = to_output_table(out)
        schema = pa.schema(self.output_fields)
        try:
            return table.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ModelOutputError(
                f"function {self.plan.function!r} returned {table.schema} which does not cast "
                f"to its signature's outputs {schema}: {exc}"
            ) from exc

    def run(
        self, shard: int, path: str, progress: Callable[[int], None] | None = None
    ) -> ShardResult:
        """Infer every row of one shard and commit its output part."""
        if self.plan.function_kind == "partitioned":
            from squall.batch.partitioned import run_partitioned_shard

            return run_partitioned_shard(self, shard, path, progress)
        started = time.monotonic()
        writer = PartWriter(self.output_dir, shard)
        input_schema: pa.Schema | None = None
        try:
            for batch, files in self._batches(path):
                input_schema = batch.schema
                out = self._infer(batch, files)
                combined = pa.Table.from_batches([batch])
                for field, column in zip(out.schema, out.columns):
                    combined = combined.append_column(field, column)
                writer.write(combined)
                if progress is not None:
                    progress(batch.num_rows)
            empty_schema = None
            if writer.rows == 0 and input_schema is not None:
                empty_schema = pa.schema(list(input_schema) + self.output_fields)
            writer.commit(empty_schema)
        except BaseException:
            writer.abort()
            raise
        return ShardResult(shard, writer.rows, 0, time.monotonic() - started)
