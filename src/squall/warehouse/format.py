"""Rendering a few rows of a table as text, for ``DataFrame.show``."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

__all__ = ["format_table"]

_MAX_CELL = 40


def format_table(table: pa.Table, *, more: bool = False, max_cell: int = _MAX_CELL) -> str:
    """A boxed text table of ``table``; ``more`` adds a line saying rows were left out.

    >>> print(format_table(pa.table({"ID": [1, 2], "TEXT": ["hi", None]})))
    +----+------+
    | ID | TEXT |
    +----+------+
    |  1 | hi   |
    |  2 | NULL |
    +----+------+
    """
    names = [str(n) for n in table.column_names]
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    numeric = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in table.schema
    ]
    cells = [[_cell(v, max_cell) for v in col] for col in columns]
    widths = [max([len(n), *(len(c) for c in col)]) for n, col in zip(names, cells)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [rule, "| " + " | ".join(n.ljust(w) for n, w in zip(names, widths)) + " |", rule]
    for r in range(table.num_rows):
        row = [
            cells[c][r].rjust(widths[c]) if numeric[c] else cells[c][r].ljust(widths[c])
            for c in range(len(names))
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append(rule)
    if more:
        lines.append(f"(showing the first {table.num_rows} rows)")
    return "\n".join(lines)


def _cell(value: Any, max_cell: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    else:
        text = str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= max_cell else text[: max_cell - 3] + "..."
