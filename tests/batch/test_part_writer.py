"""A shard's output part: small batches gathered into row groups, rows kept in order."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from squall.batch.output import PartWriter


def batch(start: int, n: int) -> pa.Table:
    ids = pa.array(range(start, start + n), pa.int64())
    return pa.table({"id": ids, "y": pa.compute.multiply(ids, 2)})


def test_small_batches_share_row_groups_and_keep_their_order(tmp_path):
    writer = PartWriter(tmp_path, 3, group_rows=1000)
    for k in range(25):  # 25 batches of 64 rows, as a job over files writes them
        writer.write(batch(64 * k, 64))
    assert writer.commit()
    part = pq.ParquetFile(tmp_path / "part-000003.parquet")
    assert part.metadata.num_rows == 1600 == writer.rows
    # 1000-row groups would need the 16th batch: groups close once past group_rows.
    assert [part.metadata.row_group(i).num_rows for i in range(part.num_row_groups)] == [1024, 576]
    assert part.read().column("id").to_pylist() == list(range(1600))


def test_a_batch_as_large_as_a_group_is_written_as_it_comes(tmp_path):
    writer = PartWriter(tmp_path, 0, group_rows=100)
    writer.write(batch(0, 250))
    writer.write(batch(250, 10))
    assert writer.commit()
    part = pq.ParquetFile(tmp_path / "part-000000.parquet")
    assert part.read().column("id").to_pylist() == list(range(260))
    assert part.num_row_groups == 2


def test_bytes_close_a_group_before_its_rows_do(tmp_path):
    writer = PartWriter(tmp_path, 1, group_rows=10_000, group_bytes=64 * 16 * 3)
    for k in range(10):
        writer.write(batch(64 * k, 64))  # 64 rows x 16 bytes each
    assert writer.commit()
    part = pq.ParquetFile(tmp_path / "part-000001.parquet")
    sizes = [part.metadata.row_group(i).num_rows for i in range(part.num_row_groups)]
    assert sizes == [192, 192, 192, 64] and sum(sizes) == 640


def test_an_aborted_part_leaves_nothing(tmp_path):
    writer = PartWriter(tmp_path, 2)
    writer.write(batch(0, 10))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
