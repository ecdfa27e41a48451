"""The lazy DataFrame: replay, schema, actions, and streaming in bounded batches."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from squall.errors import InvalidArgumentError
from squall.warehouse import DataFrame, Warehouse

from .conftest import Spawn


def test_a_query_is_replayed_at_each_action(warehouse: Warehouse) -> None:
    warehouse.create_table("events", pa.table({"id": [1, 2], "kind": ["a", "b"]}))
    df = warehouse.sql("SELECT id FROM events WHERE kind = 'a'")
    assert df.count() == 1
    warehouse.create_table("events", pa.table({"id": [3, 4], "kind": ["a", "a"]}), mode="append")
    assert df.count() == 3
    assert sorted(df.to_pandas()["id"]) == [1, 3, 4]
    warehouse.create_table("events", pa.table({"id": [9], "kind": ["a"]}))
    assert df.to_arrow().column("id").to_pylist() == [9]


def test_a_query_may_name_a_table_created_later(warehouse: Warehouse) -> None:
    df = warehouse.sql("SELECT * FROM later")
    warehouse.create_table("later", pa.table({"x": [1]}))
    assert df.count() == 1


def test_schema_and_columns(warehouse: Warehouse) -> None:
    warehouse.create_table("t", pa.table({"id": pa.array([1], pa.int64()), "s": ["x"]}))
    df = warehouse.sql("SELECT id, s, id / 2 AS f FROM t -- a trailing comment")
    assert df.columns == ["id", "s", "f"]
    assert df.schema.field("id").type == pa.int64()
    assert df.schema.field("f").type == pa.float64()
    assert pa.types.is_string(df.schema.field("s").type) or pa.types.is_large_string(
        df.schema.field("s").type
    )


def test_limit_show_and_repr(warehouse: Warehouse, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse.create_table(
        "t", pa.table({"id": list(range(20)), "name": [f"n{i}" for i in range(20)]})
    )
    df = warehouse.sql("SELECT * FROM t ORDER BY id;")
    shown = repr(df)  # what it is, its first rows, its schema
    assert shown.startswith("DataFrame(sql='SELECT * FROM t ORDER BY id')\n")
    assert "| n4   |" in shown and "n5 " not in shown and "schema: id int64, name " in shown
    assert "<table" in df._repr_html_() and "n4" in df._repr_html_()
    head = df.head(3)
    assert type(head).__name__ == "DataFrame" and head["id"].tolist() == [0, 1, 2]
    top = df.limit(5)
    assert top.count() == 5 and df.count() == 20
    assert top.limit(10).count() == 5
    assert top.to_pandas()["id"].tolist() == [0, 1, 2, 3, 4]
    assert "LIMIT 5" in (top.query or "")
    df.show(3)
    out = capsys.readouterr().out
    assert "| id | name |" in out and "| n2   |" in out and "n3" not in out
    assert "showing the first 3 rows" in out
    with pytest.raises(InvalidArgumentError):
        df.limit(-1)


def test_arrow_backed_dataframes(warehouse: Warehouse) -> None:
    table = pa.table({"FILE_PATH": ["@s/a.png", "@s/b.png", "@s/c.png"]})
    df = DataFrame.from_arrow(table)
    assert df.warehouse is None and not df.is_sql and df.query is None
    assert df.columns == ["FILE_PATH"]
    assert df.count() == 3 and df.limit(2).count() == 2
    assert df.limit(2).to_arrow().column(0).to_pylist() == ["@s/a.png", "@s/b.png"]
    assert repr(df).startswith("DataFrame(arrow table: 3 rows x 1 columns)\n")
    with pytest.raises(InvalidArgumentError):
        DataFrame.from_arrow([1, 2])  # type: ignore[arg-type]


def test_read_parquet_from_a_stage_folder(warehouse: Warehouse) -> None:
    warehouse.stages.create("results")
    stage = warehouse.stages.stage("results")
    for k in range(3):
        with stage.open(f"run1/part-{k:05d}.parquet", "wb") as f:
            pq.write_table(pa.table({"id": [k], "pred": [k / 10]}), f)
    stage.write_bytes("run1/_SUCCESS", b"")
    stage.write_bytes("run1/.part-00003.parquet.tmp", b"partial")
    stage.write_bytes("run1/_temporary/part-9.parquet", b"partial")
    df = warehouse.read_parquet("@results/run1/")
    assert df.count() == 3
    assert sorted(df.to_pandas()["id"]) == [0, 1, 2]
    assert repr(df).splitlines()[0] == "DataFrame(parquet: @results/run1/ (3 files))"
    assert warehouse.read_parquet("@results/run1/part-00001.parquet").count() == 1
    assert warehouse.read_parquet("@results/run1/part-0000[01].parquet").count() == 2
    with pytest.raises(FileNotFoundError, match="@results/run2/"):
        warehouse.read_parquet("@results/run2/")


def test_iter_batches_streams_two_million_rows(warehouse: Warehouse) -> None:
    warehouse.sql("CREATE TABLE big AS SELECT range AS id, range % 7 AS g FROM range(2000000)")
    df = warehouse.table("big")
    stream = df.iter_batches(batch_rows=100_000)
    assert stream.schema.names == ["id", "g"]
    total = checksum = batches = 0
    for batch in stream:
        assert 0 < batch.num_rows <= 100_000
        total += batch.num_rows
        checksum += pc.sum(batch.column("id")).as_py()
        batches += 1
    assert total == 2_000_000
    assert checksum == 2_000_000 * 1_999_999 // 2
    assert batches >= 20
    sizes = [b.num_rows for b in df.limit(250_001).iter_batches(batch_rows=100_000)]
    assert sum(sizes) == 250_001 and max(sizes) <= 100_000


@pytest.mark.parametrize("source", ["table", "dataset"])
def test_iter_batches_on_arrow_sources(warehouse: Warehouse, source: str) -> None:
    table = pa.table({"id": list(range(10_000))})
    if source == "table":
        df = DataFrame.from_arrow(table)
    else:
        warehouse.stages.create("s")
        for k in range(4):
            with warehouse.stages.stage("s").open(f"d/p{k}.parquet", "wb") as f:
                pq.write_table(table.slice(k * 2500, 2500), f)
        df = warehouse.read_parquet("@s/d")
    sizes = [b.num_rows for b in df.iter_batches(batch_rows=999)]
    assert sum(sizes) == 10_000 and max(sizes) <= 999
    assert sum(b.num_rows for b in df.limit(1234).iter_batches(batch_rows=500)) == 1234
    with pytest.raises(InvalidArgumentError):
        df.iter_batches(0)


def test_iter_batches_keeps_memory_bounded(warehouse: Warehouse, spawn: Spawn) -> None:
    """Ten million rows of ~110-byte strings (over 1 GB as one table) stream in a fresh process."""
    child = spawn(
        f"""
        import json, resource
        from pathlib import Path
        from squall.catalog import Catalog
        from squall.stages import StageManager
        from squall.warehouse import Warehouse
        home = Path({str(warehouse.home)!r})
        wh = Warehouse(home, StageManager(home, Catalog(home / "catalog.db")))
        df = wh.sql("SELECT range AS id, repeat('x', 100) || range::VARCHAR AS s FROM range(10000000)")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows = 0
        for batch in df.iter_batches(batch_rows=50_000):
            rows += batch.num_rows
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"rows": rows, "grew_mb": (peak - before) / 1024}}))
        """
    )
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["rows"] == 10_000_000
    assert result["grew_mb"] < 500, result
