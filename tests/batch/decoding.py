"""Helpers of the decoded-file tests: put bytes on a stage, decode a column of paths."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

import squall
from squall.batch.files import FileFetcher


def put(session: squall.Session, tmp_path: Path, name: str, data: bytes, stage: str) -> str:
    """``data`` uploaded as ``@stage/name``; returns that stage path."""
    local = tmp_path / "src" / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    session.put(str(local), f"@{stage}/{name}")
    return f"@{stage}/{name}"


def decode_all(
    session: squall.Session, paths: list[str | None], encoding: str, options: dict, **kw: object
) -> tuple[FileFetcher, list]:
    """Every file of ``paths`` (column ``P``) as the model receives it, in row order."""
    fetcher = FileFetcher(session.stages, {"P": ["full_stage_path", encoding, options]}, **kw)  # type: ignore[arg-type]
    table = pa.table({"P": pa.array(paths, pa.string())})
    out: list = []
    for _rows, values in fetcher.resolve(table.to_batches(max_chunksize=4)):
        out += values["P"]
    return fetcher, out
