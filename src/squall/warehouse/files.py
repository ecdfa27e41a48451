"""CSV, JSON and Parquet files, local or on a stage, read through DuckDB's own readers.

``session.read.csv/json`` and ``create_table(name, "data.csv")`` land here. A file's format
comes from its extension (``.csv``, ``.tsv``, ``.json``, ``.jsonl``, ``.ndjson``,
``.parquet``, each optionally ``.gz`` or ``.zst``) unless ``format=`` names it. Options go to
DuckDB's ``read_csv`` / ``read_json`` as they are (``header``, ``delim``, ``columns``, ...).
Files on an internal stage are read in place; files on an S3 stage are copied to a
temporary folder first. Messages name stage paths, never the workspace's folders.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from squall.errors import InvalidArgumentError
from squall.stages.base import missing_file
from squall.stages.paths import StagePath, parse_stage_path, split_glob

if TYPE_CHECKING:
    from squall.stages.base import Stage
    from squall.stages.manager import StageManager

__all__ = ["FORMATS", "file_format", "read_files", "stage_files"]

FORMATS = ("csv", "json", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COMPRESSED = (".gz", ".zst")
_READERS = {"csv": "read_csv", "json": "read_json", "parquet": "read_parquet"}


def file_format(path: str, format: str | None = None) -> str | None:
    """``format`` checked, else the format of ``path``'s extension, else None."""
    if format is not None:
        if not isinstance(format, str) or format.lower() not in FORMATS:
            raise InvalidArgumentError(
                f"format {format!r} is not one of {', '.join(repr(f) for f in FORMATS)}"
            )
        return format.lower()
    name = path.lower().rstrip("/")
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    return _EXTENSIONS.get(os.path.splitext(name)[1])


def read_files(
    stages: StageManager, path: str, format: str | None = None, **options: Any
) -> pa.Table:
    """The rows of the CSV, JSON or Parquet files at ``path`` (a local path or glob, or a stage path)."""
    fmt = file_format(path, format)
    if fmt is None:
        raise InvalidArgumentError(
            f"cannot tell the format of {path!r} from its extension: pass format='csv', "
            "'json' or 'parquet'"
        )
    with _local_files(stages, path, fmt) as (files, shown):
        return _read(files, shown, fmt, options)


def _read(files: dict[str, str], shown: str, fmt: str, options: dict[str, Any]) -> pa.Table:
    names = list(options)
    for name in names:
        if not name.isidentifier():
            raise InvalidArgumentError(f"{name!r} is not an option of DuckDB's {_READERS[fmt]}")
    args = "".join(f", {name} := ?" for name in names)
    query = f"SELECT * FROM {_READERS[fmt]}(?{args})"
    con = duckdb.connect()
    try:
        params = [list(files), *(options[n] for n in names)]
        return con.sql(query, params=params).to_arrow_table()  # type: ignore[no-any-return]
    except duckdb.Error as exc:
        text = str(exc)
        for local, stage_path in files.items():
            text = text.replace(local, stage_path)
        raise InvalidArgumentError(f"cannot read {fmt.upper()} at {shown}: {text}") from None
    finally:
        con.close()


@contextlib.contextmanager
def _local_files(stages: StageManager, path: str, fmt: str) -> Iterator[tuple[dict[str, str], str]]:
    """Local copies (or the files themselves) as {local path: path shown}, and ``path`` shown."""
    if not path.startswith("@"):
        local = os.path.expanduser(path)
        found = sorted(glob.glob(local, recursive=True)) if glob.has_magic(local) else [local]
        found = [f for f in found if os.path.isfile(f)]
        if not found:
            raise FileNotFoundError(f"no file at {path!r}")
        yield {f: f for f in found}, path
        return
    stage, sp, rels = stage_files(stages, path, fmt)
    if stage.is_internal:
        yield {stage.full_path(r): stage.stage_path(r) for r in rels}, str(sp)
        return
    with tempfile.TemporaryDirectory(prefix="squall-read-") as tmp:
        files: dict[str, str] = {}
        for i, rel in enumerate(rels):
            local = os.path.join(tmp, f"{i:06d}-{os.path.basename(rel)}")
            stage.get(rel, local)
            files[local] = stage.stage_path(rel)
        yield files, str(sp)


def stage_files(
    stages: StageManager, path: str, fmt: str | None = None
) -> tuple[Stage, StagePath, list[str]]:
    """The stage, the parsed path and the sorted files (relative paths) a stage path names.

    A file; a glob; or a folder: its files of format ``fmt`` (any file when None), leaving
    out names starting with ``_`` or ``.``. FileNotFoundError names the path when none is.
    """
    sp = parse_stage_path(path)
    stage = stages.stage(sp.stage)
    base, regex = split_glob(sp.path)
    if regex is not None:
        rels = list(stage.list_paths(base, regex))
    elif sp.path and not sp.is_dir_like and stage.is_file(sp.path):
        rels = [sp.path]
    else:
        prefix = sp.path + "/" if sp.path else ""
        rels = [
            r
            for r in stage.list_paths(sp.path)
            if r.startswith(prefix)
            and (fmt is None or file_format(r) == fmt)
            and not _hidden(r[len(prefix) :])
        ]
    if not rels:
        raise missing_file(str(sp))
    return stage, sp, sorted(rels)


def _hidden(tail: str) -> bool:
    return any(part.startswith(("_", ".")) for part in tail.split("/"))
