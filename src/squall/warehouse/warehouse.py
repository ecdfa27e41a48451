"""The warehouse: DuckDB tables of a workspace, in ``<home>/warehouse.duckdb``.

No connection outlives an operation (see :mod:`squall.warehouse.connection`), so a session
never keeps other processes out of the warehouse.
"""

from __future__ import annotations

import builtins
import contextlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from squall.errors import AlreadyExistsError, InvalidArgumentError, TableNotFoundError
from squall.names import resolve_name
from squall.sqltext import quote_identifier
from squall.stages.manager import StageManager
from squall.warehouse.connection import LOCK_WAIT_SECONDS, open_connection
from squall.warehouse.dataframe import DataFrame
from squall.warehouse.files import file_format, read_files
from squall.warehouse.sources import (
    in_memory_arrow,
    parquet_dataset,
    parquet_location,
    scan_options,
)
from squall.warehouse.stage_sql import StageFileSystems, resolve_stage_paths, shown_paths

__all__ = ["Warehouse"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_MODES = ("overwrite", "append", "error")
_MISSING_TABLE = re.compile(r"Table with name (\S+?) does not exist", re.IGNORECASE)
# Statements that only read: sql() keeps them lazy; anything else runs at once.
_LAZY_TYPES = frozenset({duckdb.StatementType.SELECT})
_INGEST_BATCH_ROWS = 65_536

_TABLES_SQL = """
SELECT table_name AS name FROM duckdb_tables()
 WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary
UNION ALL
SELECT view_name FROM duckdb_views()
 WHERE database_name = current_database() AND schema_name = 'main'
   AND NOT temporary AND NOT internal
ORDER BY 1
"""


class Warehouse:
    """SQL and tables over the workspace's DuckDB file, one short connection per operation."""

    def __init__(self, home: str | Path, stages: StageManager) -> None:
        self.home = Path(home)
        self.path = self.home / "warehouse.duckdb"
        self.stages = stages
        #: Seconds an operation waits for another process to release the warehouse.
        self.lock_wait = LOCK_WAIT_SECONDS
        self._shown: dict[str, str] = {}  # stage files read by SQL: local path -> stage path
        self._systems = StageFileSystems()  # external stages read by SQL

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    # --- connections -----------------------------------------------------------------------
    def open(self) -> duckdb.DuckDBPyConnection:
        """A new connection; the caller must close it (prefer :meth:`connect`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        con = open_connection(self.path, self.lock_wait)
        try:
            self._systems.register(con)
        except BaseException:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one operation, closed on exit; missing tables raise TableNotFoundError."""
        con = self.open()
        try:
            yield con
        except duckdb.Error as exc:
            translated = self.translate_error(con, exc)
            if translated is None:
                raise
            raise translated from exc
        finally:
            con.close()

    def translate_error(
        self, con: duckdb.DuckDBPyConnection, exc: BaseException
    ) -> Exception | None:
        """A squall error for a DuckDB error that has one (a missing table), else None.

        A DuckDB error that names files read through stage paths is raised again naming
        the stage paths.
        """
        if not isinstance(exc, duckdb.CatalogException):
            text = str(exc)
            if isinstance(exc, duckdb.Error) and self._shown:
                shown = shown_paths(text, self._shown)
                if shown != text:
                    return type(exc)(shown)
            return None
        match = _MISSING_TABLE.search(str(exc))
        if match is None:
            return None
        try:
            names = _table_names(con)
        except duckdb.Error:
            names = []
        return _table_not_found(match.group(1).strip("\"'"), names)

    def resolve(self, query: str) -> str:
        """``query`` with its ``'@stage/path'`` literals replaced by the files they name.

        Resolve before opening the connection that runs the query: the connection then
        knows the file systems of the external stages the query reads.
        """
        resolved, shown = resolve_stage_paths(self.stages, query, self._systems)
        self._shown.update(shown)
        return resolved

    # --- queries ---------------------------------------------------------------------------
    def sql(self, query: str) -> DataFrame:
        """A DataFrame over ``query``.

        A single read-only statement (``SELECT``, ``WITH``, ``FROM``, ``SHOW``...) stays lazy
        and runs again at each action. Anything else (``CREATE``, ``INSERT``, several
        statements) runs now, once, and the DataFrame holds what the last statement returned.
        """
        statements = _parse(query)
        if len(statements) == 1 and statements[0].type in _LAZY_TYPES:
            return DataFrame.from_sql(query, self)
        return self.execute(query)

    def execute(self, query: str) -> DataFrame:
        """Run every statement in ``query`` now; a DataFrame holding the last one's result."""
        statements = [self.resolve(statement.query) for statement in _parse(query)]
        result: pa.Table | None = None
        with self.connect() as con:
            for statement in statements:
                rel = con.sql(statement)
                result = rel.to_arrow_table() if rel is not None else None
        return DataFrame.from_arrow(result if result is not None else pa.table({}), self)

    def table(self, name: str) -> DataFrame:
        """A lazy DataFrame over a table (or view); TableNotFoundError lists the tables."""
        with self.connect() as con:
            found = _find_table(con, name)
        assert found is not None
        return DataFrame.from_sql(f"SELECT * FROM {_quote(found)}", self)

    def create_dataframe(self, data: Any) -> DataFrame:
        """An in-memory DataFrame from a pandas or polars DataFrame, an Arrow table, or columns."""
        if isinstance(data, DataFrame):
            return data
        return DataFrame.from_arrow(in_memory_arrow(data), self)

    def read_parquet(self, stage_path: str) -> DataFrame:
        """A lazy DataFrame over Parquet files on a stage: a file, a folder or a glob.

        A folder means every ``*.parquet`` under it, leaving out ``_SUCCESS`` and any file or
        folder whose name starts with ``_`` or ``.``.
        """
        dataset, n = parquet_dataset(self.stages, stage_path)
        return DataFrame.from_arrow(
            dataset,
            self,
            source=f"parquet: {stage_path} ({n} files)",
            stage_location=str(parquet_location(stage_path)),
        )

    def read_files(self, path: str, format: str | None = None, **options: Any) -> DataFrame:
        """A DataFrame over CSV, JSON or Parquet files, local or on a stage (read now)."""
        if file_format(path, format) == "parquet" and path.startswith("@"):
            return self.read_parquet(path)
        table = read_files(self.stages, path, format, **options)
        return DataFrame.from_arrow(table, self, source=f"{path} ({table.num_rows} rows)")

    # --- tables ----------------------------------------------------------------------------
    def create_table(
        self, name: str, data: Any, mode: str = "overwrite", *, format: str | None = None
    ) -> None:
        """Create (``overwrite``), extend (``append``) or create-only (``error``) a table.

        ``data``: a pandas, polars or squall DataFrame, a pyarrow Table, ``"@stage/path/*.parquet"``
        (streamed from the stage, never whole in memory), or a CSV, JSON or Parquet file
        (local or on a stage; the format from its extension, or ``format=``).
        ``append`` matches columns by name and creates the table when missing.
        """
        ident = _quote(resolve_name(name, "table name"))
        if mode not in _MODES:
            raise InvalidArgumentError(
                f"mode {mode!r} is not one of {', '.join(repr(m) for m in _MODES)}"
            )
        source = self._source(data, format)
        if isinstance(source, str):
            source = self.resolve(source)
        view = f"__squall_src_{uuid.uuid4().hex}"
        with self.connect() as con:
            existing = _find_table(con, name, missing_ok=True)
            if existing is not None and mode == "error":
                raise AlreadyExistsError(
                    f"table {existing!r} exists already; use mode='overwrite' or mode='append'"
                )
            if isinstance(source, str):
                select = f"SELECT * FROM (\n{source}\n) AS _squall_src"
            else:
                con.register(view, source)
                select = f"SELECT * FROM {_quote(view)}"
            try:
                if existing is not None and mode == "append":
                    con.execute(f"INSERT INTO {_quote(existing)} BY NAME {select}")
                else:
                    target = _quote(existing) if existing else ident
                    con.execute(f"CREATE OR REPLACE TABLE {target} AS {select}")
            finally:
                if not isinstance(source, str):
                    con.unregister(view)

    def list_tables(self) -> builtins.list[str]:
        """The names of the warehouse's tables and views, sorted, shown upper-case.

        DuckDB matches names case-insensitively, so upper case loses nothing; it is how
        squall shows every unquoted name (see :mod:`squall.names`).
        """
        with self.connect() as con:
            return sorted(name.upper() for name in _table_names(con))

    def drop_table(self, name: str, *, missing_ok: bool = False) -> None:
        """Drop a table (or view); TableNotFoundError unless ``missing_ok``."""
        resolve_name(name, "table name")
        with self.connect() as con:
            found = _find_table(con, name, missing_ok=missing_ok)
            if found is None:
                return
            is_view = con.execute(
                "SELECT count(*) FROM duckdb_views() WHERE database_name = current_database()"
                " AND schema_name = 'main' AND view_name = ?",
                [found],
            ).fetchone()
            kind = "VIEW" if is_view and is_view[0] else "TABLE"
            con.execute(f"DROP {kind} {_quote(found)}")

    # --- helpers ---------------------------------------------------------------------------
    def _source(
        self, data: Any, format: str | None = None
    ) -> str | pa.Table | pads.Dataset | pa.RecordBatchReader:
        """SQL text for a query on this warehouse, else an Arrow object DuckDB can scan."""
        if isinstance(data, Path):
            data = str(data)
        if isinstance(data, str):
            fmt = file_format(data, format)
            if fmt is None and not data.startswith("@"):
                raise InvalidArgumentError(
                    f"a string source must be a file (.csv, .json, .parquet, or format=...) "
                    f"or a stage path like '@stage/path/*.parquet', not {data!r}; "
                    "for a query, pass session.sql(...)"
                )
            if fmt not in (None, "parquet") or not data.startswith("@"):
                return read_files(self.stages, data, fmt)
            dataset, _ = parquet_dataset(self.stages, data, check_files=True)
            return dataset.scanner(**scan_options(_INGEST_BATCH_ROWS)).to_reader()
        if isinstance(data, DataFrame):
            if data.is_sql and data.warehouse is not None and data.warehouse.path == self.path:
                query = data.query
                assert query is not None
                return query
            if isinstance(data.arrow_source, pa.Table):
                return data.to_arrow()
            stream = data.iter_batches(_INGEST_BATCH_ROWS)
            return pa.RecordBatchReader.from_batches(stream.schema, stream)
        if isinstance(data, pa.RecordBatchReader | pads.Dataset):
            return data
        return in_memory_arrow(data)


def _parse(query: str) -> builtins.list[duckdb.Statement]:
    if not isinstance(query, str):
        raise InvalidArgumentError(f"a query must be a string, not {type(query).__name__}")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.ParserException as exc:
        raise InvalidArgumentError(f"cannot parse SQL {query!r}: {exc}") from exc
    if not statements:
        raise InvalidArgumentError(f"no SQL statement in {query!r}")
    return statements


def _quote(name: str) -> str:
    """``name`` double-quoted, after checking it is a plain identifier (no injection)."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or len(name) > 255:
        raise InvalidArgumentError(
            f"{name!r} is not a valid table name: use letters, digits, '_' and '$', "
            "starting with a letter or '_'"
        )
    return quote_identifier(name)


def _table_names(con: duckdb.DuckDBPyConnection) -> builtins.list[str]:
    return [row[0] for row in con.execute(_TABLES_SQL).fetchall()]


def _find_table(
    con: duckdb.DuckDBPyConnection, name: str, *, missing_ok: bool = False
) -> str | None:
    """The stored name of table ``name`` (matched case-insensitively, as DuckDB does)."""
    key = resolve_name(name, "table name")
    names = _table_names(con)
    for stored in names:
        if stored.lower() == key.lower():
            return stored
    if missing_ok:
        return None
    raise _table_not_found(name, names)


def _table_not_found(name: str, names: builtins.list[str]) -> TableNotFoundError:
    if names:
        shown = ", ".join(sorted(n.upper() for n in names))
        return TableNotFoundError(f"no table named {name!r}; tables: {shown}")
    return TableNotFoundError(f"no table named {name!r}; the warehouse has no tables yet")
