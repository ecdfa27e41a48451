"""The one way squall puts a value into SQL text: bind it, or quote it here.

Values go into SQL as bound parameters (``?``) wherever the statement allows them. Where it
does not (an identifier; a setting like DuckDB's ``SET temp_directory``), the value is
quoted by these functions, never pasted: ``quote_literal("it's")`` gives ``'it''s'``.
"""

from __future__ import annotations

__all__ = ["placeholders", "quote_identifier", "quote_literal"]


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (embedded quotes doubled)."""
    if not isinstance(name, str) or "\x00" in name:
        raise ValueError(f"{name!r} cannot be a SQL identifier")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a single-quoted SQL string literal (embedded quotes doubled)."""
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError(f"{value!r} cannot be a SQL string literal")
    return "'" + value.replace("'", "''") + "'"


def placeholders(count: int) -> str:
    """``?, ?, ...``: ``count`` parameter markers for an ``IN (...)`` list of bound values."""
    return ", ".join("?" * count)
