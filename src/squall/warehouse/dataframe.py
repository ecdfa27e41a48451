"""The squall DataFrame: a lazy, replayable description of rows.

A DataFrame holds either a SQL query, run against the warehouse again at every action (so it
sees the tables as they are now), or an Arrow source: an in-memory table or a pyarrow
dataset (Parquet files on a stage, read lazily). Nothing is computed until an action
(``to_arrow``, ``to_pandas``, ``count``, ``show``, ``iter_batches``), and ``iter_batches``
streams: a query of any size is read a batch at a time, never whole.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from squall.errors import InvalidArgumentError
from squall.warehouse.format import format_table
from squall.warehouse.sources import ArrowSource, scan_options

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from squall.warehouse.warehouse import Warehouse

__all__ = ["DEFAULT_BATCH_ROWS", "BatchStream", "DataFrame"]

DEFAULT_BATCH_ROWS = 65_536

_REPR_ROWS = 5
_TRAILING_SEMICOLON = re.compile(r";(\s|--[^\n]*)*$")


def clean_query(query: str) -> str:
    """``query`` without surrounding blanks and a trailing ``;`` (so it can be nested)."""
    return _TRAILING_SEMICOLON.sub("", query.strip()).strip()


def nest(query: str, outer: str) -> str:
    """``outer`` applied to ``query`` as a subquery; newlines keep a trailing ``--`` comment shut."""
    return f"SELECT {outer} FROM (\n{query}\n) AS _squall_q"


class DataFrame:
    """Rows from a SQL query or an Arrow source; lazy and replayable.

    Build one with ``session.sql``, ``session.table``, ``session.create_dataframe``,
    ``session.read.parquet`` or :meth:`from_arrow`.
    """

    def __init__(
        self,
        *,
        query: str | None = None,
        arrow: ArrowSource | None = None,
        warehouse: Warehouse | None = None,
        source: str | None = None,
        limit: int | None = None,
        stage_location: str | None = None,
    ) -> None:
        if (query is None) == (arrow is None):
            raise InvalidArgumentError(
                "a DataFrame holds exactly one of a query or an Arrow source"
            )
        if query is not None and warehouse is None:
            raise InvalidArgumentError("a DataFrame over a SQL query needs a warehouse")
        self._query = clean_query(query) if query is not None else None
        self._arrow = arrow
        self._warehouse = warehouse
        self._source = source
        self._limit = limit
        self._stage_location = stage_location

    @classmethod
    def from_sql(cls, query: str, warehouse: Warehouse) -> DataFrame:
        """A DataFrame that runs ``query`` on ``warehouse`` at each action."""
        return cls(query=query, warehouse=warehouse)

    @classmethod
    def from_arrow(
        cls,
        data: pa.Table | pa.RecordBatch | pads.Dataset,
        warehouse: Warehouse | None = None,
        *,
        source: str | None = None,
        stage_location: str | None = None,
    ) -> DataFrame:
        """A DataFrame over an Arrow table (or batch) or a pyarrow dataset.

        ``stage_location`` is the stage folder or file the dataset was read from, if any.
        """
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if not isinstance(data, pa.Table | pads.Dataset):
            raise InvalidArgumentError(
                f"from_arrow takes a pyarrow Table or Dataset, not {type(data).__name__}"
            )
        return cls(arrow=data, warehouse=warehouse, source=source, stage_location=stage_location)

    # --- what it is ----------------------------------------------------------------------
    @property
    def query(self) -> str | None:
        """The SQL text this DataFrame runs (with any limit applied), or None for Arrow data."""
        if self._query is None:
            return None
        if self._limit is None:
            return self._query
        return nest(self._query, "*") + f" LIMIT {self._limit}"

    @property
    def is_sql(self) -> bool:
        return self._query is not None

    @property
    def arrow_source(self) -> ArrowSource | None:
        """The Arrow table or dataset behind an Arrow-backed DataFrame (before any limit)."""
        return self._arrow

    @property
    def stage_location(self) -> str | None:
        """The stage path (``@stage/folder``) whose Parquet files this DataFrame reads, or None."""
        return self._stage_location

    @property
    def row_limit(self) -> int | None:
        """The row limit set with :meth:`limit`, or None."""
        return self._limit

    @property
    def warehouse(self) -> Warehouse | None:
        return self._warehouse

    def __repr__(self) -> str:
        """What it is, then its first rows and its schema (as pandas and DuckDB show them)."""
        return self.describe_text(_REPR_ROWS)

    def describe_text(self, n: int = 10) -> str:
        """The DataFrame's description, its first ``n`` rows and its columns with their types."""
        title = self._title()
        try:
            rows = self.limit(n + 1).to_arrow()
        except Exception:  # a repr never raises: a query that fails now shows what it is
            return title
        columns = ", ".join(f"{f.name} {f.type}" for f in rows.schema)
        table = format_table(rows.slice(0, n), more=rows.num_rows > n)
        return f"{title}\n{table}\nschema: {columns}"

    def _repr_html_(self) -> str:
        """The first rows as an HTML table, for notebooks."""
        import html

        title = html.escape(self._title())
        try:
            rows = self.limit(_REPR_ROWS + 1).to_arrow()
        except Exception:
            return f"<pre>{title}</pre>"
        frame = rows.slice(0, _REPR_ROWS).to_pandas()
        more = "<p>(showing the first rows)</p>" if rows.num_rows > _REPR_ROWS else ""
        types = ", ".join(html.escape(f"{f.name} {f.type}") for f in rows.schema)
        return (
            f"<div><p><code>{title}</code></p>{frame.to_html(index=False)}{more}"
            f"<p>schema: {types}</p></div>"
        )

    def head(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` rows as a pandas DataFrame (as ``pandas.DataFrame.head``)."""
        return self.limit(n).to_pandas()

    def _title(self) -> str:
        limit = f", limit={self._limit}" if self._limit is not None else ""
        if self._query is not None:
            return f"DataFrame(sql={self._query!r}{limit})"
        if self._source is not None:
            return f"DataFrame({self._source}{limit})"
        if isinstance(self._arrow, pa.Table):
            t = self._arrow
            return f"DataFrame(arrow table: {t.num_rows} rows x {t.num_columns} columns{limit})"
        return f"DataFrame(arrow dataset{limit})"

    # --- schema --------------------------------------------------------------------------
    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema, found without reading the rows."""
        if self._arrow is not None:
            return self._arrow.schema
        query = nest(self._sql(), "*") + " LIMIT 0"
        with self._connect() as con:
            table = con.sql(query).to_arrow_table()
        return table.schema  # type: ignore[no-any-return]

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    # --- actions -------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        """Every row, as one Arrow table."""
        if isinstance(self._arrow, pa.Table):
            return self._arrow if self._limit is None else self._arrow.slice(0, self._limit)
        if self._arrow is not None:
            if self._limit is not None:
                return self._arrow.head(self._limit)
            return self._arrow.to_table()
        query = self._sql()
        with self._connect() as con:
            return con.sql(query).to_arrow_table()  # type: ignore[no-any-return]

    def to_pandas(self) -> pd.DataFrame:
        """Every row, as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def count(self) -> int:
        """The number of rows (the query is run to count them)."""
        if isinstance(self._arrow, pa.Table):
            n = self._arrow.num_rows
        elif self._arrow is not None:
            n = self._arrow.count_rows()
        else:
            query = nest(self._sql(), "count(*)")
            with self._connect() as con:
                rows = con.sql(query).fetchall()
            return int(rows[0][0]) if rows else 0
        return n if self._limit is None else min(n, self._limit)

    def limit(self, n: int) -> DataFrame:
        """At most ``n`` rows (still lazy)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidArgumentError(f"limit must be a non-negative integer, not {n!r}")
        limit = n if self._limit is None else min(n, self._limit)
        return DataFrame(
            query=self._query,
            arrow=self._arrow,
            warehouse=self._warehouse,
            source=self._source,
            limit=limit,
            stage_location=self._stage_location,
        )

    def show(self, n: int = 10) -> None:
        """Print the first ``n`` rows as a table."""
        rows = self.limit(n + 1).to_arrow()
        print(format_table(rows.slice(0, n), more=rows.num_rows > n))

    def iter_batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> BatchStream:
        """Stream the rows as Arrow record batches of at most ``batch_rows`` rows.

        Memory stays bounded whatever the size of the result. A SQL DataFrame keeps a
        warehouse connection open until the stream is exhausted or closed, so use it in a
        ``with`` block or read it to the end.
        """
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise InvalidArgumentError(f"batch_rows must be a positive integer, not {batch_rows!r}")
        if self._query is not None:
            assert self._warehouse is not None
            query = self._sql()
            con = self._warehouse.open()
            try:
                reader = con.sql(query).to_arrow_reader(batch_rows)
            except BaseException as exc:
                translated = self._warehouse.translate_error(con, exc)
                con.close()
                if translated is not None:
                    raise translated from exc
                raise
            return BatchStream(reader.schema, iter(reader), batch_rows, self._limit, con)
        if isinstance(self._arrow, pa.Table):
            table = self._arrow
            return BatchStream(
                table.schema,
                iter(table.to_batches(max_chunksize=batch_rows)),
                batch_rows,
                self._limit,
            )
        assert self._arrow is not None
        scanner = self._arrow.scanner(**scan_options(batch_rows))
        return BatchStream(scanner.projected_schema, scanner.to_batches(), batch_rows, self._limit)

    # --- helpers -------------------------------------------------------------------------
    def _sql(self) -> str:
        """The query to run: stage paths in it resolved to the files they name.

        Call it before opening the connection that runs it (see ``Warehouse.resolve``).
        """
        query = self.query
        assert query is not None and self._warehouse is not None
        return self._warehouse.resolve(query)

    def _connect(self) -> Any:
        assert self._warehouse is not None
        return self._warehouse.connect()


class BatchStream(Iterator[pa.RecordBatch]):
    """Record batches of at most ``batch_rows`` rows; ``schema`` is known before the first.

    Closing it (or reaching its end) releases the warehouse connection behind it.
    """

    def __init__(
        self,
        schema: pa.Schema,
        batches: Iterator[pa.RecordBatch],
        batch_rows: int,
        limit: int | None = None,
        connection: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self.schema = schema
        self._batches = batches
        self._batch_rows = batch_rows
        self._left = limit
        self._con = connection
        self._pending: list[pa.RecordBatch] = []

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        while not self._pending:
            if self._left is not None and self._left <= 0:
                self.close()
                raise StopIteration
            try:
                batch = next(self._batches)
            except StopIteration:
                self.close()
                raise
            except BaseException:
                self.close()
                raise
            if self._left is not None:
                batch = batch.slice(0, self._left)
                self._left -= batch.num_rows
            step = self._batch_rows
            self._pending = [batch.slice(i, step) for i in range(0, batch.num_rows, step)][::-1]
        return self._pending.pop()

    def close(self) -> None:
        """Stop reading and release the connection (safe to call twice)."""
        self._pending = []
        self._batches = iter(())
        con, self._con = self._con, None
        if con is not None:
            con.close()

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit there is nothing to release
            self.close()
