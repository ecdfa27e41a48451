"""Internal stages: a folder of the workspace, ``<home>/stages/<name>/``.

Everything goes through fsspec's LocalFileSystem for callers that want fsspec, but the hot
paths use the OS directly: listing walks with ``os.scandir`` (no ``stat`` unless sizes are
asked for, so 100,000 files list in well under a second), and every write lands under a
temporary name first and is committed with ``os.replace``, so readers never see half a file.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from fsspec.implementations.local import LocalFileSystem

from squall.errors import InvalidArgumentError, StagePathError
from squall.stages.base import Stage, StageFile, StageInfo, missing_file
from squall.stages.containment import contain, file_above, leads_out, shorten
from squall.stages.paths import normalize_relative

__all__ = ["InternalStage"]


class InternalStage(Stage):
    """A stage stored in the workspace folder."""

    kind = "internal"

    def __init__(self, info: StageInfo, home: Path) -> None:
        super().__init__(info, home)
        self._folder = os.path.abspath(self.home / "stages" / info.name)
        # Resolved once: every path is checked against the real folder (see containment).
        self._root = os.path.realpath(self._folder)
        self._fs = LocalFileSystem(auto_mkdir=True)

    @property
    def fs(self) -> Any:
        return self._fs

    @property
    def root(self) -> str:
        return self._root

    @property
    def url(self) -> str:
        return Path(self._root).as_uri()

    @classmethod
    def check(cls, info: StageInfo) -> StageInfo | None:
        given = {
            "url": info.url,
            "storage_options": info.storage_options or None,
            "encryption": info.encryption,
            "kms_key_id": info.kms_key_id,
        }
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise InvalidArgumentError(
                f"internal stage {info.name!r} takes no {', '.join(extra)}: these settings "
                "are for external (s3://) stages"
            )
        return None

    @classmethod
    def for_folder(cls, folder: str | Path) -> InternalStage:
        """A nameless stage over a plain local folder (a worker's own output folder, say),
        for code that addresses files through a stage."""
        stage = cls(StageInfo("folder", cls.kind), Path(folder))
        stage._folder = os.path.abspath(folder)
        stage._root = os.path.realpath(stage._folder)
        return stage

    def on_create(self) -> None:
        os.makedirs(self._root, exist_ok=True)

    def on_drop(self) -> None:
        # The stage's own folder goes; if it is a link, only the link (never its target).
        if os.path.islink(self._folder):
            _unlink_quietly(self._folder)
        else:
            shutil.rmtree(self._folder, ignore_errors=True)

    def arrow_filesystem(self) -> Any:
        from pyarrow.fs import LocalFileSystem as ArrowLocalFileSystem

        return ArrowLocalFileSystem()

    def local_path(self, rel: str) -> str:
        """The OS path of ``rel``; raises StagePathError when ``rel`` escapes."""
        return self.full_path(rel)

    def full_path(self, rel: str) -> str:
        """The OS path of ``rel``, links resolved; StagePathError when it leads out of the stage."""
        local = super().full_path(rel)
        return contain(self._root, local, f"@{self.name}/{rel}")

    def folder_path(self, rel: str) -> str:
        """The OS path of a folder to write into; StagePathError when a file is in the way."""
        local = self.full_path(rel)
        inner = os.path.relpath(local, self._root).replace(os.sep, "/")
        blocker = file_above(self._root, inner)
        # A file at the location itself is the save mode's business (ERROR lists it).
        if blocker is not None and blocker != inner:
            raise StagePathError(
                f"stage path {shorten(self.stage_path(rel))} lies under the file "
                f"{shorten(self.stage_path(blocker))}: no folder can be made there"
            )
        return local

    # --- listing -------------------------------------------------------------------------
    def list(self, rel: str = "", pattern: str | None = None) -> Iterator[StageFile]:
        regex = re.compile(pattern) if pattern is not None else None
        for file_rel, local in self._walk(rel):
            if regex is not None and not regex.fullmatch(file_rel):
                continue
            try:
                st = os.stat(local)
            except FileNotFoundError:  # removed while we listed
                continue
            yield StageFile(
                self.stage_path(file_rel), st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)
            )

    def list_paths(self, rel: str = "", pattern: str | None = None) -> Iterator[str]:
        regex = re.compile(pattern) if pattern is not None else None
        for file_rel, _ in self._walk(rel):
            if regex is None or regex.fullmatch(file_rel):
                yield file_rel

    def _walk(self, rel: str, *, links: bool = False) -> Iterator[tuple[str, str]]:
        """(path relative to the root, OS path) of every file at or under ``rel``.

        A symbolic link leading out of the stage is left out, unless ``links`` (for removal,
        which unlinks the link itself and never what it points to).
        """
        rel = normalize_relative(rel, what=f"@{self.name}/{rel}")
        top = self.full_path(rel)
        if rel and os.path.isfile(top):
            yield rel, top
            return
        # An explicit stack, not recursion: deep trees cannot overflow it. Symlinked folders
        # are not followed, so a link cycle cannot loop and no listing leaves the stage.
        stack = [(top, rel)]
        while stack:
            folder, folder_rel = stack.pop()
            try:
                it = os.scandir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with it:
                for entry in it:
                    child = f"{folder_rel}/{entry.name}" if folder_rel else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, child))
                    elif entry.is_symlink():
                        if links or (entry.is_file() and not leads_out(self._root, entry.path)):
                            yield child, entry.path
                    elif entry.is_file():
                        yield child, entry.path

    def info_of(self, rel: str) -> StageFile:
        local = self.full_path(rel)
        try:
            st = os.stat(local)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise missing_file(self.stage_path(rel), exc) from exc
        if not os.path.isfile(local):
            raise missing_file(self.stage_path(rel))
        return StageFile(self.stage_path(rel), st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.full_path(rel))

    def is_file(self, rel: str) -> bool:
        return os.path.isfile(self.full_path(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self.full_path(rel))

    # --- reading and writing -----------------------------------------------------------
    def open(self, rel: str, mode: str = "rb") -> IO[Any]:
        local = self.full_path(rel)
        if any(c in mode for c in "wax+"):
            os.makedirs(os.path.dirname(local), exist_ok=True)
        try:
            return builtins.open(local, mode)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise missing_file(self.stage_path(rel), exc) from exc
        except IsADirectoryError as exc:
            raise IsADirectoryError(
                errno.EISDIR, "a folder, not a file", self.stage_path(rel)
            ) from exc

    def write_bytes(self, rel: str, data: bytes) -> None:
        final = self.full_path(rel)
        tmp = self._tmp_name(final)
        try:
            with builtins.open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, final)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    def put(self, local_path: str | Path, rel: str) -> StageFile:
        final = self.full_path(rel)
        tmp = self._tmp_name(final)
        try:
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, final)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return self.info_of(rel)

    def get(self, rel: str, local_path: str | Path) -> None:
        src = self.full_path(rel)
        if not os.path.isfile(src):
            raise missing_file(self.stage_path(rel))
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local_path)

    def remove(self, rel: str) -> builtins.list[str]:
        rel = normalize_relative(rel, what=f"@{self.name}/{rel}")
        removed: builtins.list[str] = []
        for file_rel, local in self._walk(rel, links=True):
            try:
                os.unlink(local)
            except FileNotFoundError:
                continue
            removed.append(file_rel)
        top = self.full_path(rel)
        if os.path.isdir(top):
            _prune_empty_dirs(top, keep_top=not rel)
        if rel:
            _prune_empty_parents(os.path.dirname(top), self._root)
        return [self.stage_path(r) for r in sorted(removed)]

    def commit(self, tmp_rel: str, final_rel: str) -> None:
        tmp, final = self.full_path(tmp_rel), self.full_path(final_rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        try:
            os.replace(tmp, final)
        except FileNotFoundError as exc:
            raise missing_file(self.stage_path(tmp_rel), exc) from exc

    def commit_part(self, tmp_rel: str, final_rel: str) -> bool:
        tmp, final = self.full_path(tmp_rel), self.full_path(final_rel)
        try:
            return link_if_absent(tmp, final)
        except FileNotFoundError as exc:
            if not os.path.exists(tmp):
                raise missing_file(self.stage_path(tmp_rel), exc) from exc
            raise
        finally:
            _unlink_quietly(tmp)

    def put_if_absent(self, local_path: str | Path, rel: str) -> bool:
        final = self.full_path(rel)
        if os.path.exists(final):
            return False
        tmp = self._tmp_name(final)
        try:
            shutil.copyfile(local_path, tmp)
            return link_if_absent(tmp, final)
        finally:
            _unlink_quietly(tmp)

    def _tmp_name(self, final: str) -> str:
        folder, base = os.path.split(final)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.tmp")


def link_if_absent(tmp: str, final: str) -> bool:
    """Give the file ``tmp`` the name ``final`` too, unless ``final`` exists: a hard link,
    which is atomic (the first of two racing calls wins). On a file system without hard
    links: check, then rename (a narrow race, not atomic)."""
    os.makedirs(os.path.dirname(final), exist_ok=True)
    try:
        os.link(tmp, final)
        return True
    except FileExistsError:
        return False
    except OSError:
        if not os.path.exists(tmp):
            raise
        if os.path.exists(final):
            return False
        os.replace(tmp, final)
        return True


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _prune_empty_dirs(top: str, *, keep_top: bool) -> None:
    """Remove folders under ``top`` (and ``top`` unless ``keep_top``) left empty."""
    for folder, _dirs, _files in os.walk(top, topdown=False):
        if keep_top and folder == top:
            continue
        with contextlib.suppress(OSError):  # not empty, or gone
            os.rmdir(folder)


def _prune_empty_parents(folder: str, root: str) -> None:
    """Remove ``folder`` and its parents while empty, stopping at the stage root."""
    while os.path.abspath(folder) != os.path.abspath(root) and folder.startswith(root):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)
