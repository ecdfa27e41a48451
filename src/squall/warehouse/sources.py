"""Turning user data into Arrow: in-memory frames, and Parquet files on a stage (streamed)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from squall.errors import InvalidArgumentError
from squall.stages.base import missing_file
from squall.stages.paths import StagePath, parse_stage_path, split_glob

if TYPE_CHECKING:
    from squall.stages.manager import StageManager

__all__ = [
    "ArrowSource",
    "check_parquet_files",
    "in_memory_arrow",
    "parquet_dataset",
    "parquet_location",
    "scan_options",
]

ArrowSource = pa.Table | pads.Dataset


def scan_options(batch_rows: int) -> dict[str, Any]:
    """Scanner options that keep memory bounded: a small read-ahead, decoding on one thread.

    pyarrow's defaults read ahead many batches over several files at once, which holds a
    large part of a dataset in memory when the consumer is slower than the reader.
    """
    return {
        "batch_size": batch_rows,
        "batch_readahead": 2,
        "fragment_readahead": 1,
        "use_threads": False,
    }


def in_memory_arrow(data: Any) -> pa.Table:
    """An Arrow table from a pandas or polars DataFrame, an Arrow table or batch, or columns.

    Accepts ``dict`` of columns and a ``list`` of row dicts too. InvalidArgumentError names
    the type of anything else.
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.partition(".")[0]
    if module == "pandas":
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        import polars as pl

        if isinstance(data, pl.LazyFrame):
            data = data.collect()
        if isinstance(data, pl.DataFrame):
            return data.to_arrow()
    if isinstance(data, dict):
        return pa.table(data)
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return pa.Table.from_pylist(data)
    raise InvalidArgumentError(
        f"cannot make a table from a {type(data).__module__}.{type(data).__qualname__}: "
        "pass a pandas, polars or squall DataFrame, a pyarrow Table, or "
        "'@stage/path/*.parquet'"
    )


def parquet_dataset(
    stages: StageManager, stage_path: str, *, check_files: bool = False
) -> tuple[pads.Dataset, int]:
    """A lazy pyarrow dataset over Parquet files on a stage, and how many files it holds.

    ``stage_path`` is a file, a folder (every ``*.parquet`` under it), or a glob
    (``@s/out/*.parquet``, ``@s/out/**/*.parquet``). Files and folders whose names start
    with ``_`` or ``.`` (``_SUCCESS``, temporary parts) are left out of folders and globs.
    FileNotFoundError names ``stage_path`` when it holds no Parquet file. With
    ``check_files``, every local file's footer is read now: a file that is not Parquet is
    refused naming its stage path (otherwise files are opened when they are read).
    """
    sp = parse_stage_path(stage_path)
    stage = stages.stage(sp.stage)
    base, regex = split_glob(sp.path)
    if regex is not None:
        rels = [r for r in stage.list_paths(base, regex) if not _hidden(r, base)]
        if not rels:
            raise missing_file(str(sp))
    elif sp.path and not sp.is_dir_like and stage.is_file(sp.path):
        rels = [sp.path]
    else:
        rels = [
            r
            for r in stage.list_paths(sp.path)
            if r.lower().endswith(".parquet") and not _hidden(r, sp.path)
        ]
        if sp.is_dir_like and sp.path:
            rels = [r for r in rels if r.startswith(sp.path + "/")]
        if not rels:
            if sp.path and not stage.exists(sp.path):
                raise missing_file(str(sp))
            raise FileNotFoundError(errno.ENOENT, "no Parquet files under the stage path", str(sp))
    rels.sort()
    filesystem = stage.arrow_filesystem()
    paths = [stage.full_path(r) for r in rels]
    shown = [f"@{sp.stage}/{r}" for r in rels]
    if check_files:
        check_parquet_files(filesystem, paths, shown)
    try:
        dataset = pads.dataset(paths, format="parquet", filesystem=filesystem)
    except pa.ArrowInvalid as exc:
        why = _without_paths(str(exc), paths, shown)
        raise InvalidArgumentError(f"cannot read Parquet files at {sp}: {why}") from None
    return dataset, len(rels)


def parquet_location(stage_path: str) -> StagePath:
    """The stage folder or file that ``read.parquet(stage_path)`` reads (a glob's plain folder)."""
    sp = parse_stage_path(stage_path)
    base, regex = split_glob(sp.path)
    if regex is None:
        return sp
    return StagePath(sp.stage, base, is_dir_like=True)


def check_parquet_files(filesystem: Any, paths: list[str], shown: list[str]) -> None:
    """Refuse a file that is not Parquet (truncated, or another format), naming its stage path.

    Only the footers are read (local files only: on object storage a footer is a request
    per file, and a bad file there fails its job naming the file when it is read).
    """
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    if not isinstance(filesystem, pafs.LocalFileSystem):
        return
    for path, name in zip(paths, shown, strict=True):
        try:
            pq.read_metadata(path)
        except (pa.ArrowInvalid, OSError) as exc:
            why = _without_paths(str(exc), [path], [name])
            raise InvalidArgumentError(
                f"{name} is not a readable Parquet file ({why}); replace or remove it"
            ) from None


def _without_paths(text: str, paths: list[str], shown: list[str]) -> str:
    """``text`` with each local path replaced by the stage path it stands for."""
    for path, name in sorted(zip(paths, shown, strict=True), key=lambda p: -len(p[0])):
        text = text.replace(path, name)
    return text


def _hidden(rel: str, base: str) -> bool:
    """True when a component of ``rel`` below ``base`` starts with ``_`` or ``.``."""
    tail = rel[len(base) + 1 :] if base else rel
    return any(part.startswith(("_", ".")) for part in tail.split("/"))
