"""File columns: rows of X name files on stages; the model receives their contents.

- ``checks``: before a job runs, the columns' types (at planning) and every path (while X
  is staged).
- ``fetch``: in each worker, the files read ahead of the model by a thread pool, within a
  byte budget.
- ``encoding``: raw bytes, base64, or a ``data:`` URL with the file's MIME type.
- ``decode``: images decoded to ``H x W x C`` uint8 arrays and audio to float32 samples,
  in the fetch threads.
"""

from typing import Any

import pandas as pd

from squall.batch.files.checks import PathChecker, check_file_columns
from squall.batch.files.decode import AudioDecoder, ImageDecoder
from squall.batch.files.encoding import encode_file, mime_type
from squall.batch.files.fetch import ByteBudget, FileFailure, FileFetcher, first_failure

__all__ = [
    "AudioDecoder",
    "ByteBudget",
    "FileFailure",
    "FileFetcher",
    "ImageDecoder",
    "PathChecker",
    "check_file_columns",
    "encode_file",
    "first_failure",
    "mime_type",
    "with_file_contents",
]


def with_file_contents(frame: pd.DataFrame, contents: dict[str, list[Any]]) -> pd.DataFrame:
    """``frame`` with each file column's stage paths replaced by the files' contents."""
    for column, values in contents.items():
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame
