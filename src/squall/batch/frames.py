"""Arrow batches to the pandas frames models take, without pandas' general conversion.

``RecordBatch.to_pandas`` handles every type, index metadata and extension dtypes; for the
common case of a model over numeric features (columns of one numeric type, no nulls) the
same frame is built from one preallocated array, about twice as fast per batch: the
frame's single block is that array, so an estimator that asks for ``to_numpy()`` gets it
back without another copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["to_frame"]


def _uniform_numeric(batch: pa.RecordBatch | pa.Table) -> bool:
    if batch.num_columns == 0 or batch.num_rows == 0:
        return False
    kind = batch.schema.types[0]
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return False
    names = batch.schema.names
    if len(set(names)) != len(names):
        return False
    return all(t == kind for t in batch.schema.types) and not any(
        c.null_count for c in batch.columns
    )


def to_frame(batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """``batch.to_pandas()``: the same frame, built directly when every column is numeric
    of one type and none has nulls (dtypes, names and index as ``to_pandas`` gives them)."""
    if not _uniform_numeric(batch):
        return batch.to_pandas()
    import numpy as np
    import pandas as pd

    from squall.model._checks import column_index

    dtype = batch.schema.types[0].to_pandas_dtype()
    # column-major: each column is one contiguous run, and the frame's block is its transpose
    values = np.empty((batch.num_rows, batch.num_columns), dtype=dtype, order="F")
    for j, column in enumerate(batch.columns):
        values[:, j] = column.to_numpy()  # no nulls: a view of the Arrow buffer
    return pd.DataFrame(values, columns=column_index(tuple(batch.schema.names)), copy=False)
