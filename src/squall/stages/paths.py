"""Stage paths: ``@name/sub/path``, parsed once, normalised, and refused when they escape.

A stage path names a stage (a case-insensitive SQL-style identifier, kept lower-case) and a
path inside it (case-sensitive, relative, ``/``-separated, ``""`` for the stage's root)::

    >>> p = parse_stage_path("@Images/cats//./a.png")
    >>> p.stage, p.path, str(p)
    ('images', 'cats/a.png', '@images/cats/a.png')

Every string that reaches a filesystem goes through :func:`normalize_relative`, so nothing
built from user input can point outside its stage.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from squall.errors import InvalidArgumentError, StagePathError
from squall.names import check_name
from squall.stages.containment import MAX_COMPONENT_BYTES, check_characters, check_lengths

__all__ = [
    "StagePath",
    "glob_to_regex",
    "has_glob",
    "local_overlap",
    "normalize_relative",
    "normalize_stage_name",
    "parse_stage_path",
    "split_glob",
    "stage_paths_overlap",
]

_GLOB_CHARS = frozenset("*?[")
# A relative path that needs no normalising: no empty, "." or ".." component, no trailing
# "/". Short ones (a character is at most 4 bytes of UTF-8) are within every length limit.
_UNCLEAN = re.compile(r"(?:^|/)\.{1,2}(?:/|$)|//|/$")
_SHORT = MAX_COMPONENT_BYTES // 4


@dataclass(frozen=True)
class StagePath:
    """A parsed stage path: ``stage`` (lower-case name) and ``path`` (relative, ``""`` = root).

    ``is_dir_like`` records that the path was written with a trailing slash (``@s/out/``):
    it names a folder, never a file.
    """

    stage: str
    path: str = ""
    is_dir_like: bool = False

    def __str__(self) -> str:
        if not self.path:
            return f"@{self.stage}/" if self.is_dir_like else f"@{self.stage}"
        return f"@{self.stage}/{self.path}" + ("/" if self.is_dir_like else "")

    @property
    def is_root(self) -> bool:
        """True for the stage's root (``@s`` or ``@s/``)."""
        return not self.path

    @property
    def name(self) -> str:
        """The last component of the path (``""`` for the root)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> StagePath:
        """The folder holding this path (the root is its own parent)."""
        return StagePath(self.stage, self.path.rpartition("/")[0], is_dir_like=True)

    def join(self, name: str) -> StagePath:
        """This path with ``name`` appended; ``name`` may hold ``/`` but may not escape the stage."""
        if not isinstance(name, str):
            raise StagePathError(f"cannot join {name!r} to stage path {self}: not a string")
        _check_characters(name, f"{self} + {name!r}")
        if name.startswith("/"):
            raise StagePathError(f"cannot join {name!r} to stage path {self}: it is absolute")
        joined = f"{self.path}/{name}" if self.path else name
        rel = normalize_relative(joined, what=f"{self} + {name!r}")
        return StagePath(self.stage, rel, is_dir_like=_ends_like_dir(name) or (not rel))

    def with_path(self, path: str, *, is_dir_like: bool = False) -> StagePath:
        """A path on the same stage."""
        return StagePath(self.stage, normalize_relative(path), is_dir_like=is_dir_like)


def parse_stage_path(text: str | StagePath) -> StagePath:
    """Parse ``"@name"``, ``"@name/"`` or ``"@name/a/b.png"``; raise StagePathError naming ``text``.

    Refused: a missing ``@``, a name that is not an identifier, a path that is absolute
    (``@s//etc``), climbs out of the stage (``@s/../x``), or holds a NUL byte, another control
    character or a backslash. ``a//b``, ``./`` and ``a/../b`` are normalised.
    """
    if isinstance(text, StagePath):
        return text
    if not isinstance(text, str):
        raise StagePathError(f"a stage path must be a string like '@stage/path', not {text!r}")
    if not text.startswith("@"):
        raise StagePathError(f"stage path {text!r} must start with '@' (like '@stage/path')")
    name, slash, rest = text[1:].partition("/")
    try:
        stage = normalize_stage_name(name)
    except InvalidArgumentError:
        raise StagePathError(
            f"stage path {text!r}: {name!r} is not a stage name "
            "(letters, digits, '_' and '$', not starting with a digit)"
        ) from None
    _check_characters(rest, text)
    if rest.startswith("/"):
        raise StagePathError(f"stage path {text!r}: the path after the stage name is absolute")
    rel = normalize_relative(rest, what=text)
    return StagePath(stage, rel, is_dir_like=bool(slash) and (_ends_like_dir(rest) or not rel))


@functools.lru_cache(maxsize=256)
def normalize_stage_name(name: str) -> str:
    """The lower-case form of a stage name; InvalidArgumentError when it is not an identifier.

    Stage names follow squall's one name rule (:mod:`squall.names`), unquoted only; they are
    kept lower-case in stage paths, as Snowflake's ``LIST`` shows them.
    """
    return check_name(name, "stage name").lower()


def normalize_relative(path: str, *, what: str | None = None) -> str:
    """``path`` as a clean relative posix path inside a stage (``""`` for the root).

    Drops empty and ``.`` components, resolves ``..`` against earlier components, and raises
    StagePathError (naming ``what``, else ``path``) when the result would leave the stage.
    """
    shown = what if what is not None else path
    if not isinstance(path, str):
        raise StagePathError(f"a path inside a stage must be a string, not {path!r}")
    _check_characters(path, shown)
    if path.startswith("/"):
        raise StagePathError(f"path {shown!r} is absolute; paths inside a stage are relative")
    if len(path) <= _SHORT and not _UNCLEAN.search(path):
        return path  # clean already, and too short for any length limit (4 bytes a character)
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise StagePathError(f"path {shown!r} escapes its stage ('..' above the root)")
            parts.pop()
        else:
            parts.append(part)
    rel = "/".join(parts)
    check_lengths(rel, shown)
    return rel


def stage_paths_overlap(a: str | StagePath, b: str | StagePath) -> bool:
    """Whether two stage paths share files: the same path, or one is a folder holding the other.

    >>> stage_paths_overlap("@data/in/", "@DATA/in/x.parquet"), stage_paths_overlap("@d/a", "@d/ab")
    (True, False)
    """
    pa, pb = parse_stage_path(a), parse_stage_path(b)
    if pa.stage != pb.stage:
        return False
    return _contains(pa.path, pb.path) or _contains(pb.path, pa.path)


def _contains(folder: str, path: str) -> bool:
    return not folder or path == folder or path.startswith(folder + "/")


def local_overlap(
    folder: str | os.PathLike[str], paths: Iterable[str | os.PathLike[str]]
) -> str | None:
    """The first of ``paths`` that shares files with ``folder`` once links are resolved, or None.

    A path overlaps when it lies inside ``folder``, or when ``folder`` lies inside it.
    """
    root = os.path.realpath(folder)
    for path in paths:
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) in (root, real):
            return os.fspath(path)
    return None


def has_glob(path: str) -> bool:
    """True when ``path`` holds a glob character (``*``, ``?`` or ``[``)."""
    return any(c in _GLOB_CHARS for c in path)


def split_glob(path: str) -> tuple[str, str | None]:
    """Split ``a/b/*.parquet`` into the plain folder to list (``a/b``) and a regex for the rest.

    The regex matches paths relative to the stage root (the same convention as ``pattern``
    in listings). Without glob characters, returns ``(path, None)``.
    """
    parts = path.split("/") if path else []
    for i, part in enumerate(parts):
        if has_glob(part):
            return "/".join(parts[:i]), glob_to_regex(path)
    return path, None


def glob_to_regex(pattern: str) -> str:
    """A regex (for ``re.fullmatch``) equivalent to a glob over ``/``-separated paths.

    ``*`` and ``?`` stay within one component, ``**`` crosses components (``a/**/b`` also
    matches ``a/b``), ``[...]`` is a character class.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern.startswith("[!", i) else i + 1)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


_check_characters = check_characters


def _ends_like_dir(path: str) -> bool:
    return path.endswith("/") or path.endswith("/.") or path in (".", "..") or path.endswith("/..")
