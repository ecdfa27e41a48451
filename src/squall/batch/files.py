"""File columns: replace stage paths with the files' contents, encoded as the model wants."""

from __future__ import annotations

import base64
import mimetypes
from typing import Any

import pandas as pd

__all__ = ["encode_file", "resolve_file_columns"]


def encode_file(data: bytes, path: str, encoding: str) -> Any:
    if encoding == "raw_bytes":
        return data
    text = base64.b64encode(data).decode("ascii")
    if encoding == "base64":
        return text
    if encoding == "base64_data_url":
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return f"data:{mime};base64,{text}"
    raise ValueError(f"unknown file encoding {encoding!r}")


def resolve_file_columns(
    frame: pd.DataFrame, file_columns: dict[str, list[str]], stages: Any
) -> pd.DataFrame:
    """A copy of ``frame`` whose file columns hold file contents in place of stage paths."""
    frame = frame.copy()
    for column, (_fmt, encoding) in file_columns.items():
        if column not in frame.columns:
            continue
        values: list[Any] = []
        for row, path in enumerate(frame[column]):
            if path is None:
                values.append(None)
                continue
            stage, rel = stages.resolve(str(path))
            try:
                data = stage.read_bytes(rel)
            except FileNotFoundError as exc:
                raise FileNotFoundError(
                    f"file {path} (column {column}, row {row} of the batch) was not found"
                ) from exc
            values.append(encode_file(data, str(path), encoding))
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame
