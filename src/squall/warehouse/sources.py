"""Turning user data into Arrow: in-memory frames, and Parquet files on a stage (streamed)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from squall.errors import InvalidArgumentError
from squall.stages.base import missing_file
from squall.stages.paths import parse_stage_path, split_glob

if TYPE_CHECKING:
    from squall.stages.manager import StageManager

__all__ = [
    "ArrowSource",
    "in_memory_arrow",
    "pandas_to_arrow",
    "parquet_dataset",
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


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"{type(value).__name__} is not JSON")


def pandas_to_arrow(frame: Any) -> pa.Table:
    """A pandas DataFrame as Arrow, index left out.

    An object column of records that Arrow cannot give one type (a chat message's content:
    a string in one row, a list of parts in the next) becomes JSON text, one value per row.
    """
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    import json

    fixed = frame.copy(deep=False)
    for name in frame.columns:
        if frame[name].dtype != object:
            continue
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fixed[name] = [
                None if v is None else json.dumps(v, default=_json_default) for v in frame[name]
            ]
    return pa.Table.from_pandas(fixed, preserve_index=False)


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
            return pandas_to_arrow(data)
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


def parquet_dataset(stages: StageManager, stage_path: str) -> tuple[pads.Dataset, int]:
    """A lazy pyarrow dataset over Parquet files on a stage, and how many files it holds.

    ``stage_path`` is a file, a folder (every ``*.parquet`` under it), or a glob
    (``@s/out/*.parquet``, ``@s/out/**/*.parquet``). Files and folders whose names start
    with ``_`` or ``.`` (``_SUCCESS``, temporary parts) are left out of folders and globs.
    FileNotFoundError names ``stage_path`` when it holds no Parquet file.
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
    try:
        dataset = pads.dataset(
            [stage.full_path(r) for r in rels],
            format="parquet",
            filesystem=stage.arrow_filesystem(),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidArgumentError(f"cannot read Parquet files at {sp}: {exc}") from exc
    return dataset, len(rels)


def _hidden(rel: str, base: str) -> bool:
    """True when a component of ``rel`` below ``base`` starts with ``_`` or ``.``."""
    tail = rel[len(base) + 1 :] if base else rel
    return any(part.startswith(("_", ".")) for part in tail.split("/"))
