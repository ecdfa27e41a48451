"""The output sink of a job: prepare the location, write parts, commit, write ``_SUCCESS``.

Lifecycle, in the order the job drives it:

1. ``prepare`` (client, before anything is written): apply the save mode.
2. ``PartWriter`` (worker, per shard): stream batches into a temporary file (a dot-file
   ending ``.tmp``, which readers skip), then ``commit`` publishes it as
   ``part-<shard>.parquet`` through the stage (``batch/sink.py``). The name depends only on
   the shard, so a retried shard can never leave two copies; and the first commit wins: the
   stage publishes a name only once (a hard link that fails when the part exists, on S3 a
   conditional write), so a worker of an earlier attempt that is still running (a zombie)
   can never replace a committed part.
3. ``write_success`` (supervisor, once every shard is committed and checked): ``_SUCCESS``
   is last. Temporary files of killed attempts are removed before it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from squall.errors import InvalidSpecError, OutputNotEmptyError

if TYPE_CHECKING:
    import pandas as pd

    from squall.stages import StageManager, StagePath

# numpy, pandas and the stages load where they are used: the supervisor imports this
# module for part names and _SUCCESS only, and starts faster without them.

__all__ = [
    "ERROR_COLUMN",
    "SUCCESS_FILE",
    "PartWriter",
    "output_dir",
    "part_counts",
    "part_name",
    "prepare_output",
    "remove_temp_parts",
    "temp_part_name",
    "to_output_table",
    "write_success",
]

SUCCESS_FILE = "_SUCCESS"
# With on_error="continue", every output part has this column: the exception type and
# message of a row whose inference failed, null on the rows that succeeded.
ERROR_COLUMN = "_ERROR"


def part_name(shard: int) -> str:
    return f"part-{shard:06d}.parquet"


def temp_part_name(shard: int) -> str:
    """A unique name for one attempt's unfinished part: a dot-file ending ``.tmp``."""
    return f".{part_name(shard)}.{uuid.uuid4().hex}.tmp"


def output_dir(stages: StageManager, location: str) -> Path:
    """The local folder of an output location; refuses anything but an internal stage."""
    stage, rel = stages.resolve(location)
    if not stage.is_internal:
        raise InvalidSpecError(
            f"output location {location} is on external stage @{stage.name} ({stage.url}): "
            "job output must go to an internal stage; create one with "
            "session.create_stage('results') and write to '@results/...'"
        )
    return Path(stage.folder_path(rel))


def _visible_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return [folder] if folder.exists() else []
    found: list[Path] = []
    for root, _dirs, files in os.walk(folder):
        found.extend(Path(root) / f for f in files)
    return sorted(found)


def prepare_output(stages: StageManager, location: str, mode: Any, *, dry_run: bool = False) -> str:
    """Apply the save mode to ``location``; return the location normalised as ``@stage/path/``.

    With ``dry_run`` nothing is deleted: only the checks run (used while validating).
    """
    from squall.batch.specs import SaveMode
    from squall.stages import parse_stage_path

    sp: StagePath = parse_stage_path(location)
    normalised = str(sp).rstrip("/") + "/"
    folder = output_dir(stages, normalised)
    files = _visible_files(folder)
    if files and mode == SaveMode.ERROR:
        base = str(sp).rstrip("/")
        shown = [base + "/" + str(f.relative_to(folder)) if f != folder else base for f in files]
        raise OutputNotEmptyError(normalised, shown)
    if files and mode == SaveMode.OVERWRITE and not dry_run:
        # upstream's wording, so that callers filtering this warning keep working
        warnings.warn(
            f"Output stage location '{normalised}' is not empty. Found {len(files)} existing "
            "files. OVERWRITE mode will remove all existing files in the output location "
            "before running the batch inference job.",
            stacklevel=_caller_level(),
        )
        stages.remove(normalised)
    if not dry_run:
        folder.mkdir(parents=True, exist_ok=True)
    return normalised


def _caller_level() -> int:
    """The stack level of the first frame outside squall, so the warning points at the caller."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("squall."):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def write_success(folder: Path, summary: dict[str, Any]) -> None:
    tmp = folder / f".{SUCCESS_FILE}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    os.replace(tmp, folder / SUCCESS_FILE)


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _is_nested(value: Any) -> bool:
    import numpy as np

    return isinstance(value, list | tuple | dict | np.ndarray)


def to_output_table(out: pd.DataFrame) -> pa.Table:
    """A model's output frame as Arrow; nested values (lists, dicts, arrays) as JSON strings."""
    import numpy as np

    columns: dict[str, pa.Array] = {}
    for name in out.columns:
        series = out[name]
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
            # Numbers straight from their array; NaN becomes null, as in Array.from_pandas
            # (whose scan for NaN costs 20 times a plain isnan check on a column without any).
            values = series.to_numpy()
            nan = values.dtype.kind == "f" and bool(np.isnan(values).any())
            columns[str(name)] = pa.array(values, from_pandas=nan)
            continue
        if series.dtype == object:
            sample = next((v for v in series if v is not None), None)
            if _is_nested(sample):
                texts = [None if v is None else json.dumps(_jsonable(v)) for v in series]
                columns[str(name)] = pa.array(texts, type=pa.string())
                continue
        columns[str(name)] = pa.Array.from_pandas(series)
    return pa.table(columns)


class PartWriter:
    """Writes one shard's output to a temporary file, then commits it under its final name.

    Small batches (files, a GPU's few dozen rows) are gathered into row groups of up to
    ``group_rows`` rows or ``group_bytes`` bytes: a row group per batch made the part slow
    to write and to read back.
    """

    def __init__(
        self,
        folder: Path,
        shard: int,
        group_rows: int = 65_536,
        group_bytes: int = 32 << 20,
        *,
        publish: Callable[[Path], bool] | None = None,
    ) -> None:
        # ``folder`` holds the temporary file; ``publish`` gives it its final name through
        # the stage (by default the local stage over ``folder``: a link-if-absent).
        self.folder = folder
        self.final = folder / part_name(shard)
        self.tmp = folder / temp_part_name(shard)
        self._publish = publish if publish is not None else _publish_in_folder(folder, shard)
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._held: list[pa.Table] = []
        self._held_rows = self._held_bytes = 0
        self.group_rows, self.group_bytes = group_rows, group_bytes
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._open(table.schema)
        elif self._schema is not None and table.schema != self._schema:
            table = _conform(table, self._schema)
        self.rows += table.num_rows
        if not self._held and table.num_rows >= self.group_rows:
            assert self._writer is not None
            self._writer.write_table(table)
            return
        self._held.append(table)
        self._held_rows += table.num_rows
        self._held_bytes += table.nbytes
        if self._held_rows >= self.group_rows or self._held_bytes >= self.group_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._held and self._writer is not None:
            held = self._held[0] if len(self._held) == 1 else pa.concat_tables(self._held)
            self._writer.write_table(held, row_group_size=max(held.num_rows, 1))
        self._held, self._held_rows, self._held_bytes = [], 0, 0

    def _open(self, schema: pa.Schema) -> None:
        self._schema = schema
        dictionary = [
            f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ]
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self.tmp, schema, use_dictionary=dictionary or False)

    def commit(self, empty_schema: pa.Schema | None = None) -> bool:
        """Publish the part; False when another attempt had committed it first (kept as is)."""
        if self._writer is None:
            # A shard whose batches all came out empty still commits a valid, empty part.
            schema = empty_schema if empty_schema is not None else pa.schema([])
            self.folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(schema.empty_table(), self.tmp)
        else:
            self._flush()
            self._writer.close()
            self._writer = None
        try:
            return self._publish(self.tmp)
        finally:
            self.tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        self._held = []
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self.tmp.unlink(missing_ok=True)


def _publish_in_folder(folder: Path, shard: int) -> Callable[[Path], bool]:
    """Publish a temporary file of ``folder`` as the shard's part, first commit winning."""

    def publish(tmp: Path) -> bool:
        from squall.stages.internal import InternalStage

        return InternalStage.for_folder(folder).commit_part(tmp.name, part_name(shard))

    return publish


def part_counts(path: Path | IO[bytes]) -> tuple[int, int]:
    """A committed part's rows and error rows (non-null ``_ERROR``), read from the file."""
    meta = pq.read_metadata(path)
    rows = meta.num_rows
    if ERROR_COLUMN not in meta.schema.names:
        return rows, 0
    column = pq.read_table(path, columns=[ERROR_COLUMN]).column(0)
    return rows, rows - column.null_count


def remove_temp_parts(folder: Path, shard: int | None = None) -> list[str]:
    """Delete the temporary files of unfinished attempts (of one shard, or of all); return them.

    Only call it when no worker can be writing them: a dead worker's, or between runs.
    """
    prefix = f".{part_name(shard)}." if shard is not None else ".part-"
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for entry in os.scandir(folder):
        if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a later batch to the part's schema (a column typed null in the first batch, say)."""
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError) as exc:
        raise TypeError(
            f"a batch's output schema {table.schema} does not match the earlier batches' {schema}"
        ) from exc
