"""The input's column types against the model's signature, checked before anything is staged.

A column of text where the signature wants numbers (``DOUBLE``, ``INT64``...) can never be
inferred; it is caught at ``run_batch`` from the input's schema (a table's, a query's, a
Parquet file's or a DataFrame's), naming the column, its type and the type wanted.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from squall.errors import InvalidSpecError

__all__ = ["check_input_types"]


def check_input_types(
    signature: Any, schema: pa.Schema, model_columns: list[str], skip: set[str] | frozenset[str]
) -> None:
    """InvalidSpecError for a text column where the signature wants numbers."""
    for spec, column in zip(signature.inputs, model_columns):
        dtype = getattr(spec, "dtype", None)
        if column in skip or dtype is None or getattr(spec, "shape", None):
            continue
        found = schema.field(column).type
        if dtype.is_numeric and _is_text(found):
            raise InvalidSpecError(
                f"column {column!r} of X is {found}, but the model's signature wants "
                f"{dtype.value} for input {spec.name!r}: cast it (CAST({column} AS "
                f"{dtype.value}) in SQL) or fix the data"
            )


def _is_text(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )
