"""The worker's loop: read a shard in batches, resolve file columns, infer, write one part.

``ShardRunner`` knows nothing of processes or executors: an executor builds one per worker
(the model loads once, in ``__init__``) and calls ``run`` for each shard id it is handed.

Bad rows: with ``on_error="fail"`` the first batch that raises (or whose output breaks the
signature) fails the shard, the error naming the batch's input rows. With
``on_error="continue"`` a failing batch is split in halves, and the halves retried, until
each bad row stands alone; a bad row gets null outputs and its error in ``_ERROR``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from squall.batch.frames import to_frame
from squall.batch.output import ERROR_COLUMN, to_output_table
from squall.batch.parquet_shards import read_parquet_ref
from squall.batch.plan import JobPlan
from squall.batch.rebatch import rebatch
from squall.batch.results import ShardResult
from squall.batch.shards import ParquetRowGroups, ShardRef, ipc_source, parse_shard_ref
from squall.batch.sink import PartSink
from squall.errors import ModelOutputError
from squall.model.resources import Resources
from squall.stages.urls import fetch_folder, open_url

__all__ = ["ShardResult", "ShardRunner", "parse_kill_points", "read_shard_batches", "shard_schema"]

log = logging.getLogger("squall.worker")

# Rows whose errors a worker writes to its log, per shard (the _ERROR column has them all).
_LOGGED_ERRORS = 10
_ERROR_TEXT_LIMIT = 2000


# The fewest model calls the search for a failing batch's bad rows may make (see _isolate).
_MIN_SEARCH_CALLS = 1024


class ErrorRateExceeded(RuntimeError):
    """A shard's bad rows alone exceed the job's max_error_rate: the job cannot succeed."""


@dataclass
class _Search:
    budget: int
    calls: int = 0


def parse_kill_points(text: str) -> dict[tuple[int, int], str]:
    """``SHARD:ATTEMPT:POINT,...`` (see ``Settings.fault_kill_worker``) as a lookup."""
    points: dict[tuple[int, int], str] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        parts = item.split(":")
        if len(parts) != 3 or not (parts[2] in ("commit", "done") or parts[2].isdigit()):
            raise ValueError(
                f"SQUALL_FAULT_KILL_WORKER item {item!r} is not SHARD:ATTEMPT:POINT "
                "(POINT a number of batches, 'commit' or 'done')"
            )
        points[(int(parts[0]), int(parts[1]))] = parts[2]
    return points


def _die() -> None:
    # An injected fault: end like an out-of-memory kill would, with no cleanup at all.
    os.kill(os.getpid(), signal.SIGKILL)


def describe_error(exc: BaseException) -> str:
    """An exception as ``Type: message``, for ``_ERROR`` and job messages."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 3] + "..."


def read_shard_batches(ref: ShardRef | str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A shard's rows in batches of at most ``batch_rows``; the file is memory-mapped."""
    if isinstance(ref, str):
        ref = parse_shard_ref(ref)
    if isinstance(ref, ParquetRowGroups):
        yield from read_parquet_ref(ref, batch_rows)
        return
    with ipc_source(ref.path) as source:
        reader = pa.ipc.open_file(source)
        runs = ((reader.get_batch(i), False) for i in range(reader.num_record_batches))
        yield from rebatch(runs, batch_rows)


def shard_schema(ref: ShardRef | str) -> pa.Schema:
    """The schema of a shard's rows, read without its rows."""
    if isinstance(ref, str):
        ref = parse_shard_ref(ref)
    if isinstance(ref, ParquetRowGroups):
        import pyarrow.parquet as pq

        with open_url(ref.path) as f:
            return pq.read_schema(f)
    with ipc_source(ref.path) as source:
        return pa.ipc.open_file(source).schema.remove_metadata()


def _output_field(spec: Any) -> pa.Field:
    """The Arrow field of one output of a signature; nested outputs are JSON strings."""
    shape = getattr(spec, "shape", None)
    if shape or hasattr(spec, "specs"):
        return pa.field(spec.name, pa.string())
    return pa.field(spec.name, spec.dtype.to_arrow())


class ShardRunner:
    """Runs shards of one job in this process; built once per worker."""

    def __init__(self, plan: JobPlan, stages: Any, resources: Resources | None = None) -> None:
        from squall.model.packaging import load_model

        self.plan = plan
        self.stages = stages
        if plan.engine_args is not None:  # the engine, not the handler, holds the weights
            resources = replace(resources or Resources(), engine_args=tuple(plan.engine_args))
        # The model's address: its folder, or a URL whose folder is fetched once.
        self.model = load_model(fetch_folder(plan.model_path), resources)
        self.function = self.model.manifest.functions[plan.function]
        # The function, bound once to its params: per batch, only the call remains.
        self.stream = self.model.call_mode == "stream"
        if self.stream:
            self.call_stream = self.model.bind_stream(plan.function, plan.params)
        else:
            self.call = self.model.bind(plan.function, plan.params)
        self.output_fields = [_output_field(s) for s in self.function.signature.outputs]
        self.output_dir = Path(plan.output_dir)
        self.sink = PartSink.of_plan(plan, stages)
        self.keep_going = plan.on_error == "continue"
        self.shard_error_rows = 0
        # the columns each part adds to the input's: outputs, then _ERROR with "continue"
        self.error_field = pa.field(ERROR_COLUMN, pa.string())
        self.part_fields = self.output_fields + ([self.error_field] if self.keep_going else [])
        from squall.config import settings

        self.kill_points = parse_kill_points(settings().fault_kill_worker)
        # A model that reads files its rows name (a chat message's image_url) reads them
        # through the worker's stages, each within the file byte budget.
        use_stages = getattr(self.model.model, "use_stages", None)
        if callable(use_stages):
            use_stages(stages, settings().file_fetch_bytes)
        if plan.engine_args is not None:  # the vLLM engine, started once per worker
            self.model.model.use_vllm(plan.engine_args)
        self.files = None
        if plan.file_columns:
            from squall.batch.files import FileFetcher

            self.files = FileFetcher(
                stages,
                plan.file_columns,
                row_column=plan.row_column,
                keep_going=self.keep_going,
                cores=resources.threads if resources is not None else None,
            )

    def batches(
        self, ref: ShardRef, first_row: int
    ) -> Iterator[tuple[pa.RecordBatch, dict[str, list[Any]]]]:
        """The shard's batches, each with its file columns' contents (read ahead of the model).

        With a partition column, each batch holds one partition only.
        """
        batches: Iterator[pa.RecordBatch] = read_shard_batches(ref, self.plan.max_batch_rows)
        if self.plan.partition_column is not None:
            from squall.batch.partitioned import split_at_partitions

            batches = split_at_partitions(
                batches, self.plan.partition_column, self.plan.max_batch_rows
            )
        if self.files is None:
            return ((batch, {}) for batch in batches)
        return self.files.resolve(batches, first_row=first_row)

    def _infer(self, batch: pa.RecordBatch, files: dict[str, list[Any]] | None = None) -> pa.Table:
        """The model's output for one batch, as Arrow typed per the signature."""
        model_input = to_frame(batch.select(self.plan.model_columns))
        if files:
            from squall.batch.files import first_failure, with_file_contents

            failed = first_failure(files)  # only with on_error="continue"
            if failed is not None:
                raise failed
            model_input = with_file_contents(model_input, files)
        out = self.call(model_input)
        if len(out) != batch.num_rows:
            raise ModelOutputError(
                f"function {self.plan.function!r} returned {len(out)} rows for a batch of "
                f"{batch.num_rows}; it must return one row per input row"
            )
        return self.typed_outputs(out)

    def typed_outputs(self, out: Any) -> pa.Table:
        """A model's output frame as Arrow, typed per the signature's outputs."""
        table = to_output_table(out)
        schema = pa.schema(self.output_fields)
        try:
            return table.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ModelOutputError(
                f"function {self.plan.function!r} returned {table.schema} which does not cast "
                f"to its signature's outputs {schema}: {exc}"
            ) from exc

    def _outputs(
        self, batch: pa.RecordBatch, first_row: int, files: dict[str, list[Any]]
    ) -> tuple[pa.Table, list[Any]]:
        """Outputs of one batch and its bad rows as ``(input row, error)``, per ``on_error``."""
        if self.keep_going:
            return self._isolate(batch, first_row, files)
        try:
            return self._infer(batch, files), []
        except Exception as exc:
            span = (first_row, first_row + batch.num_rows - 1)
            exc.add_note(f"in the batch of input rows {span[0]}..{span[1]}")
            exc.squall_rows = span  # type: ignore[attr-defined]
            raise

    def _isolate(
        self, batch: pa.RecordBatch, first_row: int, files: dict[str, list[Any]]
    ) -> tuple[pa.Table, list[Any]]:
        """Split a failing batch until its bad rows stand alone; good rows keep their outputs.

        The search is bounded: past ``n // 2 + 1024`` model calls for a batch of ``n`` rows
        (a model failing every row would otherwise be called ``2n`` times), each slice still
        to try is called once more and, if it fails, its rows all get its error, marked as
        not isolated. With a
        ``max_error_rate`` and a known input size, the shard fails as soon as its bad rows
        alone exceed the rate.
        """
        search = _Search(budget=batch.num_rows // 2 + _MIN_SEARCH_CALLS)
        return self._bisect(batch, first_row, files, search)

    def _bisect(
        self, batch: pa.RecordBatch, first_row: int, files: dict[str, list[Any]], search: _Search
    ) -> tuple[pa.Table, list[Any]]:
        search.calls += 1
        try:
            out = self._infer(batch, files)
        except Exception as exc:
            n = batch.num_rows
            if n <= 1 or search.calls >= search.budget:
                text = describe_error(exc)
                if n > 1:
                    text += (
                        f" (input rows {first_row}..{first_row + n - 1} not isolated: the search "
                        f"for bad rows in their batch stopped after {search.calls} model calls)"
                    )
                nulls = [pa.nulls(n, f.type) for f in self.output_fields]
                errors = pa.array([text] * n, pa.string())
                table = pa.Table.from_arrays([*nulls, errors], schema=pa.schema(self.part_fields))
                self._count_errors(n)
                return table, [(first_row + i, text) for i in range(n)]
            half = n // 2
            head_files = {c: v[:half] for c, v in files.items()}
            tail_files = {c: v[half:] for c, v in files.items()}
            head, head_errors = self._bisect(batch.slice(0, half), first_row, head_files, search)
            tail, tail_errors = self._bisect(
                batch.slice(half), first_row + half, tail_files, search
            )
            return pa.concat_tables([head, tail]), head_errors + tail_errors
        return out.append_column(self.error_field, pa.nulls(batch.num_rows, pa.string())), []

    def _count_errors(self, n: int) -> None:
        """Count bad rows of the shard; fail it once they alone exceed ``max_error_rate``."""
        self.shard_error_rows += n
        rate, total = self.plan.max_error_rate, self.plan.rows_total
        if rate is not None and total and self.shard_error_rows > rate * total:
            raise ErrorRateExceeded(
                f"{self.shard_error_rows} rows of this shard failed, more than "
                f"max_error_rate={rate} of the job's {total} rows; stopped early"
            )

    def close(self) -> None:
        """Free the loaded model (its handler's ``close()``); the worker is about to exit."""
        self.model.close()

    def run(
        self,
        shard: int,
        ref: ShardRef | str,
        progress: Callable[[int, int], None] | None = None,
        *,
        attempt: int = 1,
        first_row: int = 0,
    ) -> ShardResult:
        """Infer every row of one shard and commit its output part.

        ``first_row`` is the shard's first row in the job's input, for error messages.
        """
        if isinstance(ref, str):
            ref = parse_shard_ref(ref)
        if self.plan.function_kind == "partitioned":
            from squall.batch.partitioned import run_partitioned_shard

            return run_partitioned_shard(self, shard, ref.path, progress)
        started = time.monotonic()
        kill = self.kill_points.get((shard, attempt))
        if self.sink.committed(shard):
            # An earlier attempt committed the part and died before it could say so.
            rows, bad = self.sink.counts(shard)
            log.info("shard %s: its part was committed by an earlier attempt; kept", shard)
            return ShardResult(shard, rows, bad, time.monotonic() - started, kept=True)
        writer = self.sink.open_part(shard)
        if self.stream:
            from squall.batch.stream import run_stream_shard

            return run_stream_shard(self, writer, shard, ref, progress, first_row=first_row)
        input_schema: pa.Schema | None = None
        error_rows, first_error, row, batches = 0, None, first_row, 0
        self.shard_error_rows = 0
        try:
            for batch, files in self.batches(ref, first_row):
                if kill == str(batches):
                    _die()
                if self.plan.row_column is not None:  # input row numbers, not an input column
                    batch = batch.drop_columns([self.plan.row_column])
                input_schema = batch.schema
                out, errors = self._outputs(batch, row, files)
                combined = pa.Table.from_batches([batch])
                for field, column in zip(out.schema, out.columns):
                    combined = combined.append_column(field, column)
                writer.write(combined)
                for at, text in errors[: max(0, _LOGGED_ERRORS - error_rows)]:
                    log.warning("shard %s: input row %s failed: %s", shard, at, text)
                if errors and first_error is None:
                    first_error = errors[0]
                error_rows += len(errors)
                row += batch.num_rows
                batches += 1
                if progress is not None:
                    progress(batch.num_rows, len(errors))
            if kill is not None and kill.isdigit() and int(kill) >= batches:
                _die()
            empty_schema = None
            if writer.rows == 0:
                # An empty part still has every column, so readers of the output work.
                if input_schema is None:
                    input_schema = shard_schema(ref)
                    if self.plan.row_column in input_schema.names:
                        input_schema = input_schema.remove(
                            input_schema.get_field_index(self.plan.row_column)
                        )
                empty_schema = pa.schema(list(input_schema) + self.part_fields)
            committed = writer.commit(empty_schema)
        except BaseException:
            writer.abort()
            raise
        if kill == "commit":
            _die()
        if not committed:
            # Another attempt of this shard committed first; its part stands, this one is dropped.
            rows, bad = self.sink.counts(shard)
            log.info("shard %s: another attempt committed its part first; kept", shard)
            return ShardResult(shard, rows, bad, time.monotonic() - started, kept=True)
        if error_rows > _LOGGED_ERRORS:
            log.warning("shard %s: %s rows failed in all", shard, error_rows)
        return ShardResult(shard, writer.rows, error_rows, time.monotonic() - started, first_error)
