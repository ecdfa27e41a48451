"""Where a job reads its input from, checked against where it writes, before anything is written.

A job may never write where it reads: with ``SaveMode.OVERWRITE`` clearing the output would
delete the input before it is read, and even without it the parts would be mixed with the
input files. An output location that overlaps an input location (the same folder, a folder
holding the other, or a file inside it) is refused when the job is planned. The input
locations known before the rows are read are those of Parquet files read from a stage; the
folders of file columns are known only row by row and are checked as the input is staged
(:class:`squall.batch.files.PathChecker`).
"""

from __future__ import annotations

import os
from typing import Any

from squall.errors import InvalidSpecError
from squall.stages.paths import local_overlap, parse_stage_path, stage_paths_overlap

__all__ = ["check_input_files", "check_overlap", "input_files", "overlap_error"]


def input_files(X: Any) -> tuple[str | None, list[str]]:
    """The stage location X reads Parquet from, and its local files; ``(None, [])`` if none."""
    from squall.warehouse import DataFrame

    if not isinstance(X, DataFrame):
        return None, []
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    dataset = X.arrow_source
    files: list[str] = []
    if isinstance(dataset, pads.FileSystemDataset) and isinstance(
        dataset.filesystem, pafs.LocalFileSystem
    ):
        files = list(dataset.files)
    return X.stage_location, files


def overlap_error(output: str, input_location: str, how: str) -> InvalidSpecError:
    return InvalidSpecError(
        f"output location {output} overlaps the job's input {input_location} ({how}): a job "
        "may not write where it reads; choose an output location outside its input"
    )


def check_overlap(stages: Any, X: Any, location: str) -> None:
    """Refuse an output ``location`` that overlaps the Parquet files X reads from a stage."""
    from squall.batch.output import output_dir

    where, files = input_files(X)
    if where is not None and stage_paths_overlap(location, where):
        raise overlap_error(location, where, "one holds the other")
    if not files:
        return
    hit = local_overlap(output_dir(stages, location), files)
    if hit is not None:
        raise overlap_error(location, _shown(stages, where, hit), "the output would hold it")


def check_input_files(stages: Any, X: Any) -> None:
    """Refuse X when one of the local Parquet files it reads is not Parquet (truncated, say)."""
    import pyarrow.fs as pafs

    from squall.warehouse.sources import check_parquet_files

    where, files = input_files(X)
    if files:
        shown = [_shown(stages, where, f) for f in files]
        check_parquet_files(pafs.LocalFileSystem(), files, shown)


def _shown(stages: Any, where: str | None, path: str) -> str:
    """A local input file as the stage path the user knows it by (never the local path)."""
    if where is not None:
        sp = parse_stage_path(where)
        root = stages.stage(sp.stage).full_path("")
        rel = os.path.relpath(path, root)
        if not rel.startswith(".."):
            return f"@{sp.stage}/{rel}"
    return f"{where or 'an input file'}/{os.path.basename(path)}"
