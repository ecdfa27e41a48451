"""Which local files an upload means, and where each lands relative to the target folder."""

from __future__ import annotations

import errno
import glob
import os
from collections.abc import Iterator

__all__ = ["expand_local"]

_MAGIC = frozenset("*?[")


def expand_local(local: str | os.PathLike[str]) -> tuple[list[tuple[str, str]], bool]:
    """(local file, path relative to the target folder) for every file ``local`` names.

    ``local`` is a file, a folder (its files, recursively, keeping their relative paths) or a
    glob (matches keep their paths relative to the glob's fixed leading folders, so
    ``data/*.png`` gives ``a.png`` and ``data/**/*.png`` gives ``x/a.png``). A ``file://``
    prefix is accepted. The flag is True when ``local`` is one plain file: only then may the
    target name a file instead of a folder. FileNotFoundError names ``local`` when nothing
    matches.
    """
    text = os.fspath(local)
    if text.startswith("file://"):
        text = text[len("file://") :]
    text = os.path.expanduser(text)
    if any(c in _MAGIC for c in text):
        return _expand_glob(text), False
    if os.path.isdir(text):
        return sorted(_walk_local(text, "")), False
    if os.path.isfile(text):
        return [(text, os.path.basename(text))], True
    raise FileNotFoundError(errno.ENOENT, "no such local file or folder", text)


def _expand_glob(pattern: str) -> list[tuple[str, str]]:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise FileNotFoundError(errno.ENOENT, "no local file matches the pattern", pattern)
    base = _fixed_base(pattern)
    out: dict[str, str] = {}
    for match in matches:
        rel = os.path.relpath(match, base) if base else match
        rel = rel.replace(os.sep, "/")
        if os.path.isdir(match):
            out.update((f, r) for f, r in _walk_local(match, rel))
        elif os.path.isfile(match):
            out[match] = rel
    return sorted(out.items(), key=lambda item: item[1])


def _fixed_base(pattern: str) -> str:
    """The leading folders of a glob that hold no wildcard (``data`` for ``data/**/*.png``)."""
    parts = pattern.split(os.sep)
    fixed: list[str] = []
    for part in parts[:-1]:
        if any(c in _MAGIC for c in part):
            break
        fixed.append(part)
    if fixed == [""]:  # an absolute pattern like /*.png
        return os.sep
    return os.sep.join(fixed)


def _walk_local(folder: str, rel: str) -> Iterator[tuple[str, str]]:
    for dirpath, _dirs, files in os.walk(folder):
        sub = os.path.relpath(dirpath, folder)
        sub = "" if sub == "." else sub.replace(os.sep, "/")
        for name in files:
            parts = [p for p in (rel, sub, name) if p]
            yield os.path.join(dirpath, name), "/".join(parts)
