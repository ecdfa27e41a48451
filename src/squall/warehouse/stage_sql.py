"""Stage paths inside SQL: ``read_parquet('@lake/events/*.parquet')`` reads the stage's files.

Every single-quoted literal that is a stage path (``'@stage/...'``) is replaced, when the
query runs, by the files it names: one file, every file under a folder (names starting
with ``_`` or ``.`` left out, as ``session.read`` does), or the files a glob matches. The
files are found through the stage, so the same rules as the API apply (a path may not lead
out of its stage, through ``..`` or a link). Internal stages are read in place. S3 stages
are read through the stage's own connection (its credentials and encryption, never shown in
the query), which is handed to DuckDB as a file system of its own: no DuckDB extension is
needed. An error that DuckDB raises names the stage paths, never the workspace's folders.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from squall.errors import InvalidArgumentError
from squall.stages.paths import has_glob, parse_stage_path
from squall.warehouse.files import stage_files

if TYPE_CHECKING:
    import duckdb

    from squall.stages.base import Stage
    from squall.stages.manager import StageManager

__all__ = ["StageFileSystems", "resolve_stage_paths", "shown_paths"]

# '@name' or '@name/anything' as a whole SQL string literal ('' is a quote inside one).
_LITERAL = re.compile(r"'(@[A-Za-z_][A-Za-z0-9_$]*(?:/(?:[^']|'')*)?)'")


class StageFileSystems:
    """The file systems of the external stages that SQL has read, each under its own protocol.

    DuckDB reads ``<protocol>://<file>`` through the stage's fsspec file system (rooted at
    the stage) once it is registered on a connection (:meth:`register`). The protocol is
    derived from the stage's definition, so a stage dropped and created again differently
    never reuses a file system registered for the old one.
    """

    def __init__(self) -> None:
        self._systems: dict[str, Any] = {}

    def url(self, stage: Stage, rel: str) -> str:
        """The URL DuckDB reads the stage's file ``rel`` at."""
        definition = f"{stage.home}\0{stage.info!r}".encode()
        protocol = "squallstage" + hashlib.sha256(definition).hexdigest()[:16]
        if protocol not in self._systems:
            self._systems[protocol] = _rooted(protocol, stage)
        return f"{protocol}://{rel}"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make every file system known on ``con`` (once per DuckDB instance)."""
        if not self._systems:
            return
        known = set(con.list_filesystems())
        for protocol, fs in list(self._systems.items()):
            if protocol not in known:
                con.register_filesystem(fs)


def _rooted(protocol: str, stage: Stage) -> Any:
    """``stage``'s file system with paths relative to the stage's root, under ``protocol``."""
    from fsspec.implementations.dirfs import DirFileSystem

    cls = type("StageFileSystem", (DirFileSystem,), {"protocol": protocol})
    return cls(path=stage.root, fs=stage.fs, skip_instance_cache=True)


def resolve_stage_paths(
    stages: StageManager, query: str, systems: StageFileSystems | None = None
) -> tuple[str, dict[str, str]]:
    """``query`` with its stage-path literals replaced by lists of files; {file: stage path}.

    Files on external stages become URLs of ``systems`` (refused when it is None).
    """
    shown: dict[str, str] = {}
    if "'@" not in query:
        return query, shown

    def files_of(match: re.Match[str]) -> str:
        text = match.group(1).replace("''", "'")
        sp = parse_stage_path(text)
        if not stages.exists(sp.stage):
            return match.group(0)  # a string that only looks like a stage path
        stage = stages.stage(sp.stage)
        if not stage.is_internal and systems is None:
            raise InvalidArgumentError(
                f"{text} is on an external stage, which this query cannot read; read it "
                f"with session.read.parquet({text!r}) (or .csv/.json) and query that"
            )
        _, _, rels = stage_files(stages, text)
        locals_ = []
        for rel in rels:
            if stage.is_internal:
                local = stage.full_path(rel)
            else:
                assert systems is not None
                local = systems.url(stage, rel)
            shown[local] = stage.stage_path(rel)
            locals_.append("'" + local.replace("'", "''") + "'")
        # One file stays one string (``FROM '@s/a.parquet'`` works); several make a list.
        one = len(locals_) == 1 and not has_glob(sp.path)
        return locals_[0] if one else "[" + ", ".join(locals_) + "]"

    return _LITERAL.sub(files_of, query), shown


def shown_paths(text: str, shown: dict[str, str]) -> str:
    """``text`` (an error message) with local file paths put back as stage paths."""
    for local in sorted(shown, key=len, reverse=True):
        text = text.replace(local, shown[local])
    return text
