"""Data a worker is handed by address: a local path, or an fsspec URL (``s3://``, ``file://``).

A worker reads its shards and loads its model from these addresses, so one that runs on
another machine needs only access to the storage they name, not the workspace. A plain path
or a ``file://`` URL takes the fast path (memory maps, plain files); anything else goes
through fsspec, whose filesystem for the URL's protocol must be installed (``s3fs`` for
``s3://``: the ``s3`` extra).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

__all__ = ["fetch_folder", "local_path", "open_url", "url_stat"]

_FETCHED: dict[str, Path] = {}


def local_path(address: str) -> str | None:
    """The OS path of a plain path or ``file://`` URL; None for any other URL."""
    if "://" not in address:
        return address
    parts = urlsplit(address)
    if parts.scheme in ("file", "local"):
        return unquote(parts.path)
    return None


def _fs(address: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(address)  # type: ignore[no-any-return]


def open_url(address: str, mode: str = "rb") -> IO[Any]:
    """Open the file at ``address`` (a path or an fsspec URL)."""
    path = local_path(address)
    if path is not None:
        return open(path, mode)
    fs, inner = _fs(address)
    return fs.open(inner, mode)  # type: ignore[no-any-return]


def url_stat(address: str) -> tuple[int, int]:
    """The size and modification time (ns, 0 when the storage keeps none) of a file;
    FileNotFoundError when it is gone."""
    path = local_path(address)
    if path is not None:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    fs, inner = _fs(address)
    info = fs.info(inner)
    mtime = 0
    with contextlib.suppress(NotImplementedError, KeyError, OSError):
        mtime = int(fs.modified(inner).timestamp() * 1e9)
    return int(info.get("size") or 0), mtime


def fetch_folder(address: str) -> Path:
    """A local folder holding the folder at ``address``: the folder itself when local,
    else a copy made once per process (a model is read many times, fetched once)."""
    path = local_path(address)
    if path is not None:
        return Path(path)
    if address not in _FETCHED:
        fs, inner = _fs(address)
        target = Path(tempfile.mkdtemp(prefix="squall-fetched-"))
        atexit.register(shutil.rmtree, target, ignore_errors=True)
        fs.get(inner.rstrip("/") + "/", str(target) + "/", recursive=True)
        _FETCHED[address] = target
    return _FETCHED[address]
