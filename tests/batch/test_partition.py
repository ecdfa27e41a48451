"""Partition boundaries, one-partition batches and staging in whole partitions (real DuckDB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from squall.batch.partition import partition_spans, stage_partitions
from squall.batch.partitioned import split_at_partitions
from squall.batch.worker import read_shard_batches


@pytest.mark.parametrize(
    ("values", "spans"),
    [
        (pa.array([1, 1, 2, 2, 2, 3]), [(0, 2), (2, 5), (5, 6)]),
        (pa.array(["a", None, None, "b"]), [(0, 1), (1, 3), (3, 4)]),
        (pa.array([1.0, float("nan"), float("nan"), None]), [(0, 1), (1, 3), (3, 4)]),
        (pa.array(["x", "x", "y"]).dictionary_encode(), [(0, 2), (2, 3)]),
        (pa.chunked_array([[1, 1], [1, 2]]), [(0, 3), (3, 4)]),
        (pa.array([], pa.int64()), []),
    ],
)
def test_partition_spans(values, spans) -> None:
    assert partition_spans(values) == spans


def test_split_at_partitions_joins_a_partition_cut_by_reading() -> None:
    keys = [1] * 5 + [2] * 2 + [3] * 6
    table = pa.table({"k": keys, "i": range(len(keys))})
    reads = table.to_batches(max_chunksize=4)  # cuts partitions 1 and 3 across batches
    out = list(split_at_partitions(iter(reads), "k", max_rows=4))
    assert [b.column("k").to_pylist() for b in out] == [[1] * 4, [1], [2] * 2, [3] * 4, [3] * 2]
    assert [i for b in out for i in b.column("i").to_pylist()] == list(range(len(keys)))


def stage(tmp_path: Path, table: pa.Table, shard_rows: int, column: str | None):
    shards = stage_partitions(
        iter(table.to_batches(max_chunksize=7)), table.schema, tmp_path / "in", shard_rows, column
    )
    read = [pa.Table.from_batches(list(read_shard_batches(s.path, 1000))) for s in shards]
    return shards, read


def test_staging_puts_partitions_whole_into_shards_largest_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sizes = {"a": 5, "b": 40, "c": 12, "d": 12, "e": 1}
    keys = np.concatenate([[k] * n for k, n in sizes.items()])
    rng.shuffle(keys)
    table = pa.table(
        {
            "k": keys,
            "pos": np.arange(len(keys)),
            "when": pa.array(np.arange(len(keys)).astype("datetime64[ns]")),
        }
    )
    shards, read = stage(tmp_path, table, shard_rows=20, column="k")
    assert [s.rows for s in shards] == [40, 24, 6]
    assert [t.column("k").unique().to_pylist() for t in read] == [["b"], ["c", "d"], ["a", "e"]]
    for t in read:
        assert t.schema == table.schema  # types as staged, ns timestamps included
        for _, (start, end) in enumerate(partition_spans(t.column("k"))):
            pos = t.column("pos").to_pylist()[start:end]
            assert pos == sorted(pos)  # a partition's rows keep their input order
    assert sorted(p for t in read for p in t.column("pos").to_pylist()) == list(range(70))
    assert not (tmp_path / "in" / ".sort").exists()


def test_staging_without_a_column_is_one_partition(tmp_path: Path) -> None:
    table = pa.table({"x": range(50)})
    shards, read = stage(tmp_path, table, shard_rows=10, column=None)
    assert [s.rows for s in shards] == [50]
    assert read[0].column("x").to_pylist() == list(range(50))


def test_staging_an_empty_input_makes_no_shards(tmp_path: Path) -> None:
    table = pa.table({"k": pa.array([], pa.int64())})
    assert stage(tmp_path, table, shard_rows=10, column="k") == ([], [])
