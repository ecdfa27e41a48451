"""StageManager: create, find and drop stages; move files between stages and the local disk.

The catalog's ``stages`` table is the truth about which stages exist; a stage's files live
wherever its kind keeps them. ``create`` validates and records, the kind's hooks do the rest
(an internal stage makes its folder).
"""

from __future__ import annotations

import builtins
import json
import os
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from squall.catalog.db import Catalog
from squall.errors import AlreadyExistsError, InvalidArgumentError, StageNotFoundError
from squall.stages.base import Stage, StageFile, StageInfo, missing_file
from squall.stages.paths import StagePath, normalize_stage_name, parse_stage_path
from squall.stages.registry import INTERNAL, kind_of_url, stage_class
from squall.stages.secrets import SecretStore, split_secrets
from squall.stages.transfer import expand_local

__all__ = ["StageManager"]

_UPLOAD_THREADS = 8


class StageManager:
    """The stages of one workspace (``home``), recorded in its catalog."""

    #: Stages looked up less than this many seconds ago are reused without asking the catalog,
    #: so resolving a path per row stays cheap; a drop in this process forgets at once.
    cache_seconds = 5.0

    def __init__(self, home: str | Path, catalog: Catalog) -> None:
        self.home = Path(home)
        self.catalog = catalog
        self._cache: dict[str, tuple[float, Stage]] = {}
        self.secrets = SecretStore(self.home)

    # --- stages ----------------------------------------------------------------------------
    def create(
        self,
        name: str,
        url: str | None = None,
        storage_options: dict[str, Any] | None = None,
        encryption: str | None = None,
        kms_key_id: str | None = None,
        *,
        exists_ok: bool = False,
    ) -> StageInfo:
        """Create a stage: internal when ``url`` is None, else external (``s3://`` only)."""
        key = normalize_stage_name(name)
        kind = INTERNAL if url is None else kind_of_url(url)
        if storage_options is not None and not isinstance(storage_options, dict):
            raise InvalidArgumentError(
                f"storage_options for stage {name!r} must be a dict, not {storage_options!r}"
            )
        info = StageInfo(
            name=key,
            kind=kind,
            url=url,
            encryption=encryption,
            kms_key_id=kms_key_id,
            created=datetime.now(UTC),
            storage_options=dict(storage_options or {}),
        )
        cls = stage_class(kind)
        info = cls.check(info) or info
        try:
            json.dumps(info.storage_options)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"storage_options for stage {name!r} must be JSON values (strings, numbers, ...)"
            ) from exc
        # Credentials go to the owner-only secret store; the catalog keeps them masked.
        public, secret = split_secrets(info.storage_options)
        info = replace(info, storage_options=public)
        options = json.dumps(public, sort_keys=True)
        with self.catalog.connect() as con:
            row = con.execute("SELECT * FROM stages WHERE name = ?", (key,)).fetchone()
            if row is None:
                con.execute(
                    "INSERT INTO stages (name, kind, url, options, encryption, kms_key_id, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        kind,
                        info.url,
                        options,
                        info.encryption,
                        info.kms_key_id,
                        info.created.timestamp(),
                    ),
                )
        if row is not None:
            existing = _info(row)
            if exists_ok:
                return existing
            where = existing.url or "internal"
            raise AlreadyExistsError(
                f"stage {key!r} exists already ({where}); drop it first, or pass exists_ok=True"
            )
        self._cache.pop(key, None)
        try:
            if secret:
                self.secrets.save(key, secret)
            else:
                self.secrets.delete(key)
            cls(info, self.home).on_create()
        except BaseException:
            self.catalog.execute("DELETE FROM stages WHERE name = ?", (key,))
            self.secrets.delete(key)
            raise
        return info

    def info(self, name: str) -> StageInfo:
        """What the catalog records about stage ``name``; StageNotFoundError listing the others."""
        key = _lookup_key(name)
        row = self.catalog.query_one("SELECT * FROM stages WHERE name = ?", (key,))
        if row is None:
            raise self._not_found(name)
        return _info(row)

    def stage(self, name: str) -> Stage:
        """The stage named ``name`` (case-insensitive), ready for file operations."""
        key = _lookup_key(name)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        info = self.info(key)
        stage = stage_class(info.kind)(info, self.home)
        self._cache[key] = (now, stage)
        return stage

    def exists(self, name: str) -> bool:
        try:
            key = normalize_stage_name(name)
        except InvalidArgumentError:
            return False
        return self.catalog.query_one("SELECT 1 FROM stages WHERE name = ?", (key,)) is not None

    def drop(self, name: str, *, missing_ok: bool = False) -> None:
        """Forget a stage; an internal stage's files are deleted, an external one's are kept."""
        key = _lookup_key(name)
        with self.catalog.connect() as con:
            row = con.execute("SELECT * FROM stages WHERE name = ?", (key,)).fetchone()
            if row is not None:
                con.execute("DELETE FROM stages WHERE name = ?", (key,))
        self._cache.pop(key, None)
        if row is None:
            if missing_ok:
                return
            raise self._not_found(name)
        self.secrets.delete(key)
        info = _info(row)
        stage_class(info.kind)(info, self.home).on_drop()

    def list(self) -> builtins.list[StageInfo]:
        """Every stage, sorted by name."""
        return [_info(r) for r in self.catalog.query("SELECT * FROM stages ORDER BY name")]

    def names(self) -> builtins.list[str]:
        return [r["name"] for r in self.catalog.query("SELECT name FROM stages ORDER BY name")]

    def resolve(self, path: str | StagePath) -> tuple[Stage, str]:
        """The stage a stage path names and the path inside it."""
        sp = parse_stage_path(path)
        return self.stage(sp.stage), sp.path

    # --- files -----------------------------------------------------------------------------
    def put(
        self, local: str | os.PathLike[str], stage_path: str | StagePath
    ) -> builtins.list[StageFile]:
        """Upload a local file, folder or glob; returns the uploaded files, sorted by path.

        A target ending in ``/``, the stage root, or an existing folder receives the files
        under their names (a folder's files keep their relative paths). One plain file and a
        target naming no folder: the target is the file's new name.
        """
        sp = parse_stage_path(stage_path)
        stage = self.stage(sp.stage)
        sources, single = expand_local(local)
        if single and sp.path and not sp.is_dir_like and not stage.is_dir(sp.path):
            plan = [(sources[0][0], sp.path)]
        else:
            plan = [(src, sp.join(rel).path) for src, rel in sources]
        if len(plan) <= 1:
            uploaded = [stage.put(src, rel) for src, rel in plan]
        else:
            with ThreadPoolExecutor(min(_UPLOAD_THREADS, len(plan))) as pool:
                uploaded = builtins.list(pool.map(lambda job: stage.put(*job), plan))
        return sorted(uploaded, key=lambda f: f.path)

    def get(
        self, stage_path: str | StagePath, local_dir: str | os.PathLike[str]
    ) -> builtins.list[str]:
        """Download a file, or every file under a folder, into ``local_dir``; returns local paths.

        Files under a folder keep their paths relative to it; a single file keeps its name.
        FileNotFoundError names the stage path when it names nothing.
        """
        sp = parse_stage_path(stage_path)
        stage = self.stage(sp.stage)
        rels = sorted(self._paths(stage, sp, None))
        if not rels:
            if sp.path and not stage.exists(sp.path):
                raise missing_file(str(sp))
            return []
        target = Path(local_dir)
        target.mkdir(parents=True, exist_ok=True)
        base = sp.path
        if rels == [base] and base:  # the path named one file
            plan = [(base, target / sp.name)]
        else:
            cut = len(base) + 1 if base else 0
            plan = [(rel, target.joinpath(*rel[cut:].split("/"))) for rel in rels]
        with ThreadPoolExecutor(min(_UPLOAD_THREADS, len(plan))) as pool:
            builtins.list(pool.map(lambda job: stage.get(*job), plan))
        return [str(dest) for _, dest in plan]

    def list_stage(
        self, stage_path: str | StagePath, pattern: str | None = None
    ) -> builtins.list[StageFile]:
        """Files at or under a stage path, sorted by path.

        ``pattern`` is a regular expression that must match the whole of a file's path
        relative to the stage root (``r".*\\.png"``, ``r"cats/.*"``), as Snowflake's PATTERN.
        """
        sp = parse_stage_path(stage_path)
        stage = self.stage(sp.stage)
        _check_pattern(pattern)
        files = (f for f in stage.list(sp.path, pattern) if not is_temporary(f.path))
        if sp.is_dir_like and sp.path:
            prefix = f"@{stage.name}/{sp.path}/"
            files = (f for f in files if f.path.startswith(prefix))
        return sorted(files, key=lambda f: f.path)

    def remove(self, stage_path: str | StagePath) -> builtins.list[str]:
        """Delete a file, or every file under a folder; returns the stage paths removed."""
        sp = parse_stage_path(stage_path)
        stage = self.stage(sp.stage)
        if sp.is_dir_like and sp.path and stage.is_file(sp.path):
            return []
        return stage.remove(sp.path)

    def list_stage_files(
        self,
        stage_path: str | StagePath,
        pattern: str | None = None,
        column_name: str = "FILE_PATH",
    ) -> pa.Table:
        """A one-column table of the full stage paths of the files under ``stage_path``, sorted."""
        if not isinstance(column_name, str) or not column_name:
            raise InvalidArgumentError(
                f"column_name must be a non-empty string, not {column_name!r}"
            )
        sp = parse_stage_path(stage_path)
        stage = self.stage(sp.stage)
        _check_pattern(pattern)
        prefix = f"@{stage.name}/"
        paths = sorted(prefix + rel for rel in self._paths(stage, sp, pattern))
        return pa.table({column_name: pa.array(paths, type=pa.string())})

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _paths(stage: Stage, sp: StagePath, pattern: str | None) -> builtins.list[str]:
        rels = stage.list_paths(sp.path, pattern)
        if sp.is_dir_like and sp.path:
            prefix = sp.path + "/"
            return [r for r in rels if r.startswith(prefix)]
        return builtins.list(rels)

    def _not_found(self, name: str) -> StageNotFoundError:
        names = self.names()
        if names:
            return StageNotFoundError(
                f"no stage named {name!r}; existing stages: {', '.join(names)}"
            )
        return StageNotFoundError(
            f"no stage named {name!r}, and no stage exists yet; "
            f"create one with session.create_stage({name!r})"
        )


_TEMPORARY = re.compile(r"\.[^/]+\.[0-9a-f]{12,32}\.tmp")


def is_temporary(path: str) -> bool:
    """True for a file being written (``.part-00000.parquet.<hex>.tmp``): never listed."""
    return _TEMPORARY.fullmatch(path.rpartition("/")[2]) is not None


def _lookup_key(name: str) -> str:
    try:
        return normalize_stage_name(name)
    except InvalidArgumentError:
        raise StageNotFoundError(f"no stage named {name!r}: it is not a valid stage name") from None


def _check_pattern(pattern: str | None) -> None:
    if pattern is None:
        return
    if not isinstance(pattern, str):
        raise InvalidArgumentError(f"pattern must be a regular expression string, not {pattern!r}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidArgumentError(
            f"pattern {pattern!r} is not a regular expression: {exc}"
        ) from exc


def _info(row: sqlite3.Row | dict[str, Any]) -> StageInfo:
    r = dict(row)
    return StageInfo(
        name=r["name"],
        kind=r["kind"],
        url=r["url"],
        encryption=r["encryption"],
        kms_key_id=r["kms_key_id"],
        created=datetime.fromtimestamp(float(r["created"]), UTC),
        storage_options=json.loads(r["options"] or "{}"),
    )
