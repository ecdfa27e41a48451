"""What a stage path may reach: the one place that says whether a path belongs to its stage.

Every operation on a stage (listing, reading, writing, removing, file columns,
``read.parquet``, a job's output location) goes through these checks:

- **Characters.** No NUL, no other control character (C0 ``U+0000-U+001F``, ``U+007F`` and
  C1 ``U+0080-U+009F``), no backslash.
- **Lengths.** A component (folder or file name) holds at most :data:`MAX_COMPONENT_BYTES`
  bytes of UTF-8, which leaves room under every file system's 255-byte limit for the
  temporary names squall writes next to a file; a whole path inside a stage holds at most
  :data:`MAX_PATH_BYTES` bytes (S3's limit for a whole key is 1,024).
- **Symbolic links** (internal stages). Links are followed, then checked: a path must still
  lie inside the stage's folder once every link in it is resolved. A path leading out
  through a link is refused with StagePathError; a listing leaves such a link out, so it is
  never read, copied or handed to a model; removing a folder unlinks the link itself and
  never touches what it points to. Links to folders are not descended while listing.
- **Folders under files.** A location that must be a folder (a job's output) may not lie
  under an existing file.

Messages name the stage path the user wrote, never the file-system path behind it.
"""

from __future__ import annotations

import os
import re
import stat

from squall.errors import StagePathError

__all__ = [
    "MAX_COMPONENT_BYTES",
    "MAX_PATH_BYTES",
    "check_characters",
    "check_lengths",
    "contain",
    "file_above",
    "leads_out",
    "shorten",
]

MAX_COMPONENT_BYTES = 200
MAX_PATH_BYTES = 1024

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def shorten(text: str, limit: int = 120) -> str:
    """``repr(text)``, cut in the middle when long, so a message stays readable."""
    shown = repr(text)
    if len(shown) <= limit:
        return shown
    return f"{shown[: limit - 30]}...{shown[-20:]} ({len(text)} characters)"


def check_characters(text: str, shown: str) -> None:
    """Refuse NUL, control characters (C0 and C1) and backslashes in a stage path."""
    if "\x00" in text:
        raise StagePathError(f"stage path {shorten(shown)} holds a NUL byte")
    if "\\" in text:
        raise StagePathError(
            f"stage path {shorten(shown)} holds a backslash; separate folders with '/'"
        )
    found = _CONTROL.search(text)
    if found:
        raise StagePathError(
            f"stage path {shorten(shown)} holds a control character (U+{ord(found.group()):04X})"
        )


def check_lengths(rel: str, shown: str) -> None:
    """Refuse a normalised relative path with a component or a total length over the limits."""
    size = len(rel.encode("utf-8", "surrogatepass"))
    if size > MAX_PATH_BYTES:
        raise StagePathError(
            f"stage path {shorten(shown)} is too long: {size} bytes inside the stage, "
            f"at most {MAX_PATH_BYTES}"
        )
    for part in rel.split("/"):
        n = len(part.encode("utf-8", "surrogatepass"))
        if n > MAX_COMPONENT_BYTES:
            raise StagePathError(
                f"stage path {shorten(shown)} has a name of {n} bytes ({shorten(part, 40)}); "
                f"a folder or file name holds at most {MAX_COMPONENT_BYTES}"
            )


def leads_out(real_root: str, local: str) -> bool:
    """True when ``local``, with every symbolic link resolved, lies outside ``real_root``."""
    return _outside(real_root, os.path.realpath(local))


def _outside(real_root: str, real: str) -> bool:
    return real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep)


def contain(real_root: str, local: str, shown: str) -> str:
    """``local`` with its links resolved; StagePathError when that leaves ``real_root``.

    ``real_root`` is the stage's folder, itself resolved (``os.path.realpath``).
    """
    plain = _below_without_links(real_root, local)
    if plain is not None:
        return plain
    real = os.path.realpath(local)
    if _outside(real_root, real):
        raise StagePathError(
            f"stage path {shorten(shown)} leads outside its stage through a symbolic link; "
            "squall only reads and writes inside a stage"
        )
    return real


def _below_without_links(real_root: str, local: str) -> str | None:
    """``local`` itself when it lies under ``real_root`` and no component below the root is
    a link (then it is its own real path); None when that takes ``os.path.realpath``.

    A file column reads thousands of files per shard: realpath's check of every component
    from ``/`` cost several times the read; the root is resolved already, so only the
    components below it need a look (one ``lstat`` each).
    """
    prefix = real_root.rstrip(os.sep) + os.sep
    if not local.startswith(prefix):
        return None
    path = real_root.rstrip(os.sep)
    for part in local[len(prefix) :].split(os.sep):
        if part in ("", ".", ".."):
            return None
        path = f"{path}{os.sep}{part}"
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            # Missing (or unreadable): nothing below it exists, so no link either.
            return local if not os.path.lexists(path) else None
        if stat.S_ISLNK(mode):
            return None
    return local


def file_above(real_root: str, rel: str) -> str | None:
    """The relative path of an existing file that ``rel`` (or a parent of it) runs through.

    A folder cannot be made there: ``rel`` = ``a.txt/x`` with ``a.txt`` a file gives
    ``"a.txt"``; None when every existing component is a folder.
    """
    parts = [p for p in rel.split("/") if p]
    for i in range(1, len(parts) + 1):
        local = os.path.join(real_root, *parts[:i])
        if os.path.lexists(local) and not os.path.isdir(local):
            return "/".join(parts[:i])
        if not os.path.exists(local):
            return None
    return None
