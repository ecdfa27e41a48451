"""The contract every stage kind implements, with generic fsspec code for all of it.

A stage kind (internal, s3, ...) is a subclass of :class:`Stage` registered by name in
``squall.stages.registry.STAGE_KINDS``. A subclass provides ``fs`` (an fsspec filesystem),
``root`` (the stage's root in that filesystem's path terms) and ``url``; every file operation
below then works through fsspec, and a subclass overrides only what it can do better (the
internal stage walks folders with ``os.scandir`` and commits with ``os.replace``).

Paths given to these methods are relative to the stage root (``"cats/a.png"``); they are
normalised and refused when they would escape. Errors name the *stage path* the user wrote
(``@images/cats/a.png``), never the filesystem path behind it.
"""

from __future__ import annotations

import builtins
import errno
import posixpath
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar

from squall.stages.paths import normalize_relative

__all__ = ["Stage", "StageFile", "StageInfo", "missing_file"]


@dataclass(frozen=True)
class StageFile:
    """One file on a stage: its full stage path, size in bytes and modification time (UTC)."""

    path: str
    size: int
    last_modified: datetime

    @property
    def stage(self) -> str:
        """The (lower-case) name of the stage holding the file."""
        return self.path[1:].partition("/")[0]

    @property
    def relative_path(self) -> str:
        """The path inside the stage (``"cats/a.png"`` for ``@images/cats/a.png``)."""
        return self.path.partition("/")[2]

    @property
    def name(self) -> str:
        """The file's base name."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StageInfo:
    """What the catalog records about a stage. ``url`` is None for internal stages.

    ``storage_options`` may hold credentials, so it is left out of ``repr``.
    """

    name: str
    kind: str
    url: str | None = None
    encryption: str | None = None
    kms_key_id: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_internal(self) -> bool:
        return self.kind == "internal"


def missing_file(stage_path: str, cause: BaseException | None = None) -> FileNotFoundError:
    """A FileNotFoundError naming a stage path (``.filename`` is the stage path)."""
    exc = FileNotFoundError(errno.ENOENT, "no such file on the stage", stage_path)
    exc.__cause__ = cause
    return exc


class Stage(ABC):
    """A named storage location. Build one with ``StageManager.stage(name)``.

    Subclasses are constructed as ``cls(info, home)``, may validate a new stage's settings in
    :meth:`check` before it is recorded, and get :meth:`on_create` / :meth:`on_drop` hooks.
    """

    kind: ClassVar[str]

    def __init__(self, info: StageInfo, home: Path) -> None:
        self.info = info
        self.home = Path(home)

    # --- what a kind provides ----------------------------------------------------------
    @property
    @abstractmethod
    def fs(self) -> Any:
        """The fsspec filesystem holding the stage's files."""

    @property
    @abstractmethod
    def root(self) -> str:
        """The stage's root folder in ``fs`` path terms, without a trailing slash."""

    @property
    @abstractmethod
    def url(self) -> str:
        """Where the stage lives (``file:///...`` for internal stages, ``s3://...`` for S3)."""

    @classmethod
    def check(cls, info: StageInfo) -> StageInfo | None:
        """Refuse (InvalidArgumentError) settings this kind cannot honour; runs before recording.

        May return a normalised copy of ``info`` (the URL without a trailing slash, the
        encryption kind in upper case), which is then what the catalog records.
        """
        return None

    def on_create(self) -> None:  # noqa: B027 - an optional hook
        """Called once the stage is recorded (an internal stage makes its folder)."""

    def on_drop(self) -> None:  # noqa: B027 - an optional hook
        """Called once the stage's record is gone (an internal stage deletes its folder)."""

    def arrow_filesystem(self) -> Any:
        """A ``pyarrow.fs.FileSystem`` over ``fs``, for pyarrow readers and writers."""
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return PyFileSystem(FSSpecHandler(self.fs))

    # --- identity ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def is_internal(self) -> bool:
        return self.info.is_internal

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    def stage_path(self, rel: str) -> str:
        """The full stage path (``@name/rel``) of a relative path."""
        rel = normalize_relative(rel)
        return f"@{self.name}/{rel}" if rel else f"@{self.name}/"

    def full_path(self, rel: str) -> str:
        """The path of ``rel`` in ``fs`` terms; raises StagePathError when ``rel`` escapes."""
        rel = normalize_relative(rel, what=f"@{self.name}/{rel}")
        return f"{self.root}/{rel}" if rel else self.root

    def folder_path(self, rel: str) -> str:
        """The path of a folder to write files into (an object store needs no check)."""
        return self.full_path(rel)

    # --- listing -------------------------------------------------------------------------
    def list(self, rel: str = "", pattern: str | None = None) -> Iterator[StageFile]:
        """Every file at or under ``rel`` (a file, or a folder listed recursively), unordered.

        ``pattern`` is a regular expression that must match (``re.fullmatch``) a file's path
        relative to the stage root, e.g. ``r".*\\.png"`` or ``r"cats/.*"``. A path naming
        nothing lists nothing.
        """
        rel = normalize_relative(rel, what=f"@{self.name}/{rel}")
        regex = re.compile(pattern) if pattern is not None else None
        for file_rel, info in self._find(rel):
            if regex is None or regex.fullmatch(file_rel):
                yield self._stage_file(file_rel, info)

    def list_paths(self, rel: str = "", pattern: str | None = None) -> Iterator[str]:
        """Like :meth:`list`, but only the paths relative to the stage root (faster)."""
        for f in self.list(rel, pattern):
            yield f.relative_path

    def _find(self, rel: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path relative to the root, fsspec info) of every file at or under ``rel``."""
        full = self.full_path(rel)
        try:
            found = self.fs.find(full, detail=True)
        except FileNotFoundError:
            return
        prefix = self.root + "/"
        for path, info in found.items():
            path = self.fs._strip_protocol(path)
            if info.get("type", "file") != "file" or not path.startswith(prefix):
                continue
            if "size" not in info:  # fsspec's find on a file gives no details
                info = self.fs.info(path)
            yield path[len(prefix) :], info

    def _stage_file(self, rel: str, info: dict[str, Any]) -> StageFile:
        return StageFile(self.stage_path(rel), int(info.get("size") or 0), _modified(info))

    def info_of(self, rel: str) -> StageFile:
        """The StageFile for one file; FileNotFoundError naming the stage path if missing."""
        try:
            info = self.fs.info(self.full_path(rel))
        except FileNotFoundError as exc:
            raise missing_file(self.stage_path(rel), exc) from exc
        if info.get("type") != "file":
            raise missing_file(self.stage_path(rel))
        return self._stage_file(normalize_relative(rel), info)

    def exists(self, rel: str) -> bool:
        """True when ``rel`` is a file or a non-empty folder on the stage."""
        return bool(self.fs.exists(self.full_path(rel)))

    def is_file(self, rel: str) -> bool:
        return bool(self.fs.isfile(self.full_path(rel)))

    def is_dir(self, rel: str) -> bool:
        return bool(self.fs.isdir(self.full_path(rel)))

    # --- reading and writing -----------------------------------------------------------
    def open(self, rel: str, mode: str = "rb") -> IO[Any]:
        """Open a file on the stage; writing creates missing parent folders."""
        full = self.full_path(rel)
        try:
            return self.fs.open(full, mode)  # type: ignore[no-any-return]
        except FileNotFoundError as exc:
            raise missing_file(self.stage_path(rel), exc) from exc
        except IsADirectoryError as exc:
            raise IsADirectoryError(
                errno.EISDIR, "a folder, not a file", self.stage_path(rel)
            ) from exc

    def read_bytes(self, rel: str) -> bytes:
        with self.open(rel, "rb") as f:
            return f.read()  # type: ignore[no-any-return]

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.open(rel, "wb") as f:
            f.write(data)

    def put(self, local_path: str | Path, rel: str) -> StageFile:
        """Upload one local file to ``rel``; returns the file as stored."""
        full = self.full_path(rel)
        self.fs.put_file(str(local_path), full)
        return self.info_of(rel)

    def get(self, rel: str, local_path: str | Path) -> None:
        """Download one file to ``local_path`` (its parent folder is created)."""
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fs.get_file(self.full_path(rel), str(local_path))
        except FileNotFoundError as exc:
            raise missing_file(self.stage_path(rel), exc) from exc

    def remove(self, rel: str) -> builtins.list[str]:
        """Delete a file, or every file under a folder; returns the stage paths removed, sorted."""
        rels = sorted(self.list_paths(rel))
        if rels:
            self.fs.rm([self.full_path(r) for r in rels])
        return [self.stage_path(r) for r in rels]

    def commit(self, tmp_rel: str, final_rel: str) -> None:
        """Move a finished file from its temporary name to its final one (atomic where possible)."""
        try:
            self.fs.mv(self.full_path(tmp_rel), self.full_path(final_rel))
        except FileNotFoundError as exc:
            raise missing_file(self.stage_path(tmp_rel), exc) from exc

    # --- publishing a file once ----------------------------------------------------------
    # Output parts are published with these: the first file to take a name keeps it, a
    # later one (a retried or zombie attempt's) is refused and leaves it intact. A kind
    # that can do it atomically overrides them (internal: a hard link; S3: a conditional
    # write); the generic versions check, then write, and are best-effort: two writers
    # racing between the check and the write may both succeed, the later one's file kept.

    def commit_part(self, tmp_rel: str, final_rel: str) -> bool:
        """Give the file ``tmp_rel`` the name ``final_rel`` unless a file has it already;
        True when this call published it. The temporary file is gone either way."""
        if self.is_file(final_rel):
            self.fs.rm(self.full_path(tmp_rel))
            return False
        self.commit(tmp_rel, final_rel)
        return True

    def put_if_absent(self, local_path: str | Path, rel: str) -> bool:
        """Upload a local file to ``rel`` unless a file is there already; True when this
        call stored it (the local file is left as it is)."""
        if self.is_file(rel):
            return False
        self.put(local_path, rel)
        return True


def _modified(info: dict[str, Any]) -> datetime:
    """The modification time in an fsspec info dict, whatever the filesystem calls it."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


def join_rel(base: str, name: str) -> str:
    """Join two relative stage paths (either may be empty)."""
    return posixpath.join(base, name) if base else name
