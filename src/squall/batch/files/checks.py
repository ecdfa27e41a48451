"""Checks of file columns before a job runs: at planning (types) and while X is staged (paths).

Staging reads every row of X anyway, so each file path is checked there, before any shard
is handed to a worker: a value that is not a stage path, names an unknown stage, escapes its
stage or names a folder fails ``run_batch`` itself, naming the row and the value. The check
is vectorised: only paths that are not already clean (``@stage/a/b.png``) are parsed one by
one, and each stage name is looked up once. A path inside the job's output location is
refused too: a job may not write where it reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from squall.errors import InvalidSpecError, StageNotFoundError, StagePathError
from squall.stages.paths import parse_stage_path, stage_paths_overlap

__all__ = ["PathChecker", "check_file_columns"]

# A stage path that needs no normalising: @name/ then components free of '/', '\' and
# control characters. Components '.' and '..' are caught by _DOTS.
_CLEAN = r"^@[A-Za-z_][A-Za-z0-9_$]*(/[^/\\\x00-\x1f\x7f]+)+$"
_DOTS = r"(^|/)\.\.?(/|$)"
_STAGE = r"^@(?P<stage>[A-Za-z_][A-Za-z0-9_$]*)"


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def check_file_columns(
    file_columns: dict[str, list[Any]],
    schema: pa.Schema,
    model_columns: list[str],
    function: str,
) -> None:
    """Refuse column_handling columns that cannot hold stage paths or that the model never reads."""
    for column in file_columns:
        t = schema.field(column).type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if not (_is_text(t) or pa.types.is_null(t)):
            raise InvalidSpecError(
                f"column_handling column {column!r} holds {schema.field(column).type}, not stage "
                "paths: it must be a column of strings like '@stage/path/file.png'"
            )
        if column not in model_columns:
            raise InvalidSpecError(
                f"column_handling column {column!r} is not an input of function {function!r} "
                f"(its inputs are {model_columns}): the model would never see the files"
            )


class PathChecker:
    """Checks the file paths of X batch by batch as it is staged; counts rows across batches."""

    def __init__(
        self, file_columns: dict[str, list[Any]], stages: Any, output: str | None = None
    ) -> None:
        self.columns = list(file_columns)
        self.stages = stages
        self.known: set[str] = set()
        self.row = 0  # the input row number of the next batch's first row
        self.output = output
        self.inside_output: str | None = None
        if output is not None:
            out = parse_stage_path(output)
            folder = "/" + re.escape(out.path) + "(/|$)" if out.path else "(/|$)"
            # clean paths only (no '.', '..' or '//'): the rest are parsed one by one
            self.inside_output = f"^@(?i:{re.escape(out.stage)}){folder}"

    def check(self, batch: pa.RecordBatch) -> None:
        for column in self.columns:
            self._check_column(column, batch.column(column))
        self.row += batch.num_rows

    def wrap(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches`` unchanged, each checked before it is passed on."""
        for batch in batches:
            self.check(batch)
            yield batch

    def _where(self, column: str, index: int, value: Any) -> str:
        return f"column_handling column {column!r}, input row {self.row + index}: {value!r}"

    def _check_column(self, column: str, values: pa.Array) -> None:
        if pa.types.is_null(values.type):
            return
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        clean = pc.and_(
            pc.match_substring_regex(values, _CLEAN),
            pc.invert(pc.match_substring_regex(values, _DOTS)),
        )
        # Nulls stay null (the model gets None); anything else not clean is parsed alone.
        suspect = pc.invert(pc.fill_null(clean, True))
        for index in pc.indices_nonzero(suspect).to_pylist():
            self._check_one(column, index, values[index].as_py())
        if self.inside_output is not None:
            match = pc.match_substring_regex(values, self.inside_output)
            inside = pc.fill_null(pc.and_(clean, match), False)
            if pc.any(inside).as_py():
                index = pc.index(inside, True).as_py()
                self._refuse_overlap(column, index, values[index].as_py())
        names = pc.struct_field(pc.extract_regex(values, _STAGE), "stage")
        lowered = pc.utf8_lower(names)
        for name in pc.unique(lowered.drop_null()).to_pylist():
            if name in self.known:
                continue
            try:
                self.stages.stage(name)
            except StageNotFoundError:
                index = pc.index(lowered, name).as_py()
                existing = ", ".join("@" + n for n in self.stages.names()) or "none"
                raise StageNotFoundError(
                    f"{self._where(column, index, values[index].as_py())} names stage @{name}, "
                    f"which does not exist (existing stages: {existing})"
                ) from None
            self.known.add(name)

    def _check_one(self, column: str, index: int, value: str) -> None:
        try:
            sp = parse_stage_path(value)
        except StagePathError as exc:
            raise StagePathError(f"{self._where(column, index, value)} is refused: {exc}") from None
        if self.output is not None and stage_paths_overlap(sp, self.output):
            self._refuse_overlap(column, index, value)
        if sp.is_root or sp.is_dir_like:
            raise StagePathError(
                f"{self._where(column, index, value)} names a folder, not a file; "
                "file columns hold paths of files like '@stage/path/file.png'"
            )

    def _refuse_overlap(self, column: str, index: int, value: str) -> None:
        from squall.batch.locations import overlap_error

        assert self.output is not None
        raise overlap_error(
            self.output, self._where(column, index, value), "the file lies in the output"
        )
