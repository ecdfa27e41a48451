"""Stage paths inside SQL: ``read_parquet('@lake/events/*.parquet')`` reads the stage's files.

Every single-quoted literal that is a stage path (``'@stage/...'``) is replaced, when the
query runs, by the files it names: one file, every file under a folder (names starting
with ``_`` or ``.`` left out, as ``session.read`` does), or the files a glob matches. The
files are found through the stage, so the same rules as the API apply (a path may not lead
out of its stage, through ``..`` or a link). Internal stages are read in place. An error
that DuckDB raises names the stage paths, never the workspace's folders.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from squall.errors import InvalidArgumentError
from squall.stages.paths import has_glob, parse_stage_path
from squall.warehouse.files import stage_files

if TYPE_CHECKING:
    from squall.stages.manager import StageManager

__all__ = ["resolve_stage_paths", "shown_paths"]

# '@name' or '@name/anything' as a whole SQL string literal ('' is a quote inside one).
_LITERAL = re.compile(r"'(@[A-Za-z_][A-Za-z0-9_$]*(?:/(?:[^']|'')*)?)'")


def resolve_stage_paths(stages: StageManager, query: str) -> tuple[str, dict[str, str]]:
    """``query`` with its stage-path literals replaced by lists of files; {file: stage path}."""
    shown: dict[str, str] = {}
    if "'@" not in query:
        return query, shown

    def files_of(match: re.Match[str]) -> str:
        text = match.group(1).replace("''", "'")
        sp = parse_stage_path(text)
        if not stages.exists(sp.stage):
            return match.group(0)  # a string that only looks like a stage path
        stage = stages.stage(sp.stage)
        if not stage.is_internal:
            raise InvalidArgumentError(
                f"{text} is on an external stage: SQL reads internal stages only; read it "
                f"with session.read.parquet({text!r}) (or .csv/.json) and query that"
            )
        _, _, rels = stage_files(stages, text)
        locals_ = []
        for rel in rels:
            local = stage.full_path(rel)
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
