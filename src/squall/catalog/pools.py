"""Compute pools in the catalog: where a job's workers run.

``local`` (worker processes on this machine) is built in and the default. A user's pool
names an engine (``ray``) and an address; the supervisor of a job on that pool hands the
address to the engine's executor, which never reads the catalog itself.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from squall.errors import (
    AlreadyExistsError,
    ComputePoolNotFoundError,
    InvalidArgumentError,
)

if TYPE_CHECKING:
    from squall.catalog.db import Catalog

__all__ = ["ENGINES", "LOCAL", "ComputePool", "create_pool", "drop_pool", "get_pool", "list_pools"]

LOCAL = "local"
ENGINES = ("ray",)  # engines a user's pool may name; "local" is built in
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")


@dataclass(frozen=True)
class ComputePool:
    """A compute pool: its name, engine (``local`` or ``ray``) and the engine's address."""

    name: str
    engine: str
    address: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    created: float | None = None


_BUILT_IN = ComputePool(LOCAL, LOCAL, "", {}, None)


def _key(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"invalid compute pool name {name!r}: use letters, digits, '_' or '-' "
            "(at most 63, starting with a letter or '_')"
        )
    return name.lower()


def create_pool(
    catalog: Catalog,
    name: str,
    engine: str = "ray",
    address: str = "auto",
    *,
    shared_fs: bool = False,
    keep_warm_s: float = 0.0,
    options: dict[str, Any] | None = None,
    exists_ok: bool = False,
) -> ComputePool:
    """Record a compute pool; ``address`` is the engine's (``ray://host:10001``, ``host:6379``,
    ``auto``). ``shared_fs``: its workers see the workspace folder at the same path (they
    read input and write output there directly); otherwise data travels through Ray.
    ``keep_warm_s``: how long a job's workers stay up after it, holding their resources,
    for the pool's next job (0: they end with their job).
    Nothing is contacted here: ``run_batch`` checks the pool before a job starts."""
    key = _key(name)
    if key == LOCAL:
        raise AlreadyExistsError("compute pool 'local' is built in")
    engine = str(engine).lower()
    if engine not in ENGINES:
        raise InvalidArgumentError(
            f"unknown compute pool engine {engine!r}; choose one of {', '.join(ENGINES)}"
        )
    if not isinstance(address, str) or not address.strip():
        raise InvalidArgumentError(f"invalid compute pool address {address!r}")
    try:
        keep = float(keep_warm_s)
    except (TypeError, ValueError):
        keep = -1.0
    if not keep >= 0 or keep == float("inf"):
        raise InvalidArgumentError(
            f"invalid keep_warm_s {keep_warm_s!r}: give the seconds workers wait for the "
            "pool's next job (0: they end with their job)"
        )
    options = {**(options or {}), "shared_fs": bool(shared_fs)}
    if keep:
        options["keep_warm_s"] = keep
    pool = ComputePool(key, engine, address.strip(), options, time.time())
    with catalog.connect() as con:
        found = con.execute("SELECT 1 FROM compute_pools WHERE name = ?", (key,)).fetchone()
        if found is not None:
            if exists_ok:
                return get_pool(catalog, key)
            raise AlreadyExistsError(f"compute pool {name!r} already exists")
        con.execute(
            "INSERT INTO compute_pools (name, engine, address, options, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, pool.engine, pool.address, json.dumps(pool.options), pool.created),
        )
    return pool


def _row(row: Any) -> ComputePool:
    return ComputePool(
        row["name"], row["engine"], row["address"], json.loads(row["options"]), row["created"]
    )


def get_pool(catalog: Catalog, name: str | None) -> ComputePool:
    """The pool named ``name`` (None: ``local``); ComputePoolNotFoundError if there is none."""
    if name is None or (isinstance(name, str) and name.lower() == LOCAL):
        return _BUILT_IN
    key = _key(name)
    row = catalog.query_one("SELECT * FROM compute_pools WHERE name = ?", (key,))
    if row is None:
        known = ", ".join(p.name for p in list_pools(catalog))
        raise ComputePoolNotFoundError(f"unknown compute_pool {name!r}; choose one of {known}")
    return _row(row)


def list_pools(catalog: Catalog) -> list[ComputePool]:
    """``local`` first, then the user's pools by name."""
    rows = catalog.query("SELECT * FROM compute_pools ORDER BY name")
    return [_BUILT_IN, *(_row(r) for r in rows)]


def drop_pool(catalog: Catalog, name: str, *, missing_ok: bool = False) -> None:
    key = _key(name)
    if key == LOCAL:
        raise InvalidArgumentError("compute pool 'local' is built in and cannot be dropped")
    with catalog.connect() as con:
        gone = con.execute("DELETE FROM compute_pools WHERE name = ?", (key,)).rowcount
    if not gone and not missing_ok:
        raise ComputePoolNotFoundError(f"no compute pool {name!r}")
