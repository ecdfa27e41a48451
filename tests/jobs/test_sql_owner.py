"""Only the job store speaks SQL to the job tables (the catalog's schema aside)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import squall

SRC = Path(squall.__file__).parent
# The statements' modules: the store, and the catalog's schema and migrations.
OWNERS = {"jobs/store.py", "catalog/db.py"}
_SQL = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+[\"`]?(jobs|shards|workers|shard_attempts)\b"
)


def _statements(source: str) -> list[str]:
    """The SQL on the job tables in ``source``'s string literals (f-strings' text included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [m.group(0) for m in _SQL.finditer(node.value)]
    return found


def _offenders() -> dict[str, list[str]]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name not in OWNERS and (found := _statements(path.read_text(encoding="utf-8"))):
            out[name] = found
    return out


def test_no_module_but_the_store_has_sql_on_jobs_shards_or_workers():
    assert _offenders() == {}


def test_the_scan_finds_statements_where_they_are():
    store = _statements((SRC / "jobs/store.py").read_text(encoding="utf-8"))
    assert {"UPDATE jobs", "INTO shards", "FROM workers", "UPDATE shard_attempts"} <= set(store)
    snippet = 'q = f"SELECT * FROM jobs WHERE id = {x}"\n"""Jobs read from workers."""\n'
    assert _statements(snippet) == ["FROM jobs"]
