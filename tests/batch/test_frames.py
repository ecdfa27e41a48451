"""The model's input frame and the output table: the fast paths give what pandas/Arrow would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from squall.batch.frames import to_frame
from squall.batch.output import to_output_table

TABLES = {
    "float32": pa.table(
        {"a": pa.array([1.5, 2.5], pa.float32()), "b": pa.array([3, 4], pa.float32())}
    ),
    "int64": pa.table({"a": pa.array([1, 2]), "B": pa.array([3, -4])}),
    "nulls": pa.table({"a": pa.array([1, None]), "b": pa.array([3, 4])}),
    "mixed": pa.table({"a": pa.array([1, 2], pa.int32()), "b": pa.array([3.0, 4.0])}),
    "strings": pa.table({"a": pa.array([1.0, 2.0]), "s": pa.array(["x", None])}),
    "uint8": pa.table({"a": pa.array([1, 255], pa.uint8())}),
    "empty": pa.table({"a": pa.array([], pa.float64())}),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_to_frame_is_to_pandas(name: str) -> None:
    table = TABLES[name]
    for x in (table, *table.to_batches(), pa.concat_tables([table, table])):
        pd.testing.assert_frame_equal(to_frame(x), x.to_pandas(), check_exact=True)


def test_numeric_frame_is_one_block_the_model_gets_without_a_copy() -> None:
    frame = to_frame(TABLES["float32"].to_batches()[0])
    values = frame.to_numpy()
    assert values.dtype == np.float32 and values.flags.f_contiguous
    assert np.shares_memory(values, frame.to_numpy())


def test_output_table_numbers_and_nan_as_null() -> None:
    out = pd.DataFrame(
        {
            "p": [0.25, np.nan],
            "n": np.array([1, 2], np.int8),
            "ok": [True, False],
            "f": np.array([0.5, np.nan], np.float32),
            "s": ["x", None],
            "v": [[1, 2], None],
        }
    )
    table = to_output_table(out)
    assert table.schema.field("n").type == pa.int8()
    assert table.schema.field("f").type == pa.float32()
    assert table.column("p").to_pylist() == [0.25, None]
    assert table.column("f").to_pylist() == [0.5, None]
    assert table.column("ok").to_pylist() == [True, False]
    assert table.column("v").to_pylist() == ["[1, 2]", None]
    for name in ("p", "n", "ok", "f", "s"):
        assert table.column(name).equals(pa.chunked_array([pa.Array.from_pandas(out[name])]))


def test_default_batch_rows_bounds_a_batch_by_its_bytes() -> None:
    from squall.batch.validate import DEFAULT_BATCH_ROWS, DEFAULT_FILE_BATCH_ROWS
    from squall.batch.validate import default_batch_rows as rows

    narrow = pa.schema([("id", pa.int64())] + [(f"f{i}", pa.float32()) for i in range(16)])
    wide = pa.schema([(f"f{i}", pa.float64()) for i in range(2000)])
    texts = pa.schema([(f"s{i}", pa.string()) for i in range(50)])
    assert rows(False, narrow) == DEFAULT_BATCH_ROWS
    assert rows(False, wide) == (16 << 20) // (2000 * 8)  # 16 MiB of input at most
    assert rows(False, pa.schema([(f"f{i}", pa.float64()) for i in range(9000)])) == 1024
    assert rows(False, wide) < rows(False, texts) < DEFAULT_BATCH_ROWS
    assert rows(True, narrow) == DEFAULT_FILE_BATCH_ROWS
