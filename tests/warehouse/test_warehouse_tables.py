"""Warehouse tables: creating them from every kind of input, modes, names, and errors."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squall.errors import AlreadyExistsError, InvalidArgumentError, TableNotFoundError
from squall.warehouse import DataFrame, Warehouse

ROWS = {"id": [1, 2, 3], "text": ["a", "b", None], "score": [0.5, 1.5, 2.5]}


def _rows(warehouse: Warehouse, name: str) -> list[dict[str, object]]:
    return warehouse.sql(f"SELECT * FROM {name} ORDER BY id").to_arrow().to_pylist()


def _write_parquet(warehouse: Warehouse, stage: str, rel: str, table: pa.Table) -> None:
    with warehouse.stages.stage(stage).open(rel, "wb") as f:
        pq.write_table(table, f)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pd.DataFrame(ROWS),
        lambda: pa.table(ROWS),
        lambda: pl.DataFrame(ROWS),
        lambda: ROWS,
    ],
    ids=["pandas", "arrow", "polars", "dict"],
)
def test_create_table_from_in_memory_data(warehouse: Warehouse, make: object) -> None:
    warehouse.create_table("reviews", make())  # type: ignore[operator]
    assert _rows(warehouse, "reviews") == pa.table(ROWS).to_pylist()
    assert warehouse.list_tables() == ["REVIEWS"]
    assert warehouse.table("reviews").columns == ["id", "text", "score"]


def test_create_table_from_squall_dataframes(warehouse: Warehouse) -> None:
    warehouse.create_table("src", pa.table(ROWS))
    warehouse.create_table("from_sql", warehouse.sql("SELECT id, score FROM src WHERE id > 1"))
    assert _rows(warehouse, "from_sql") == [{"id": 2, "score": 1.5}, {"id": 3, "score": 2.5}]
    warehouse.create_table("from_arrow", warehouse.create_dataframe(pd.DataFrame(ROWS)).limit(2))
    assert warehouse.table("from_arrow").count() == 2


def test_modes(warehouse: Warehouse) -> None:
    warehouse.create_table("t", pa.table({"id": [1], "v": ["x"]}))
    warehouse.create_table("t", pa.table({"id": [2], "v": ["y"]}))  # overwrite is the default
    assert _rows(warehouse, "t") == [{"id": 2, "v": "y"}]
    # append matches columns by name, whatever their order
    warehouse.create_table("t", pa.table({"v": ["z"], "id": [3]}), mode="append")
    assert _rows(warehouse, "t") == [{"id": 2, "v": "y"}, {"id": 3, "v": "z"}]
    with pytest.raises(AlreadyExistsError, match="'T' exists already"):
        warehouse.create_table("T", pa.table({"id": [9]}), mode="error")
    warehouse.create_table("new", pa.table({"id": [1]}), mode="append")  # creates when missing
    warehouse.create_table("fresh", pa.table({"id": [1]}), mode="error")
    assert warehouse.list_tables() == ["FRESH", "NEW", "T"]
    with pytest.raises(InvalidArgumentError, match="'truncate' is not one of"):
        warehouse.create_table("t", pa.table({"id": [1]}), mode="truncate")


def test_create_table_from_stage_parquet(warehouse: Warehouse) -> None:
    warehouse.stages.create("landing")
    for k in range(3):
        _write_parquet(warehouse, "landing", f"in/part-{k}.parquet", pa.table({"id": [k, k + 10]}))
    _write_parquet(warehouse, "landing", "in/sub/part-9.parquet", pa.table({"id": [99]}))
    warehouse.stages.stage("landing").write_bytes("in/_SUCCESS", b"")
    warehouse.create_table("from_glob", "@landing/in/*.parquet")
    assert sorted(warehouse.sql("SELECT id FROM from_glob").to_pandas()["id"]) == [
        0,
        1,
        2,
        10,
        11,
        12,
    ]
    warehouse.create_table("from_deep_glob", "@landing/in/**/*.parquet")
    assert warehouse.table("from_deep_glob").count() == 7
    warehouse.create_table("from_folder", "@landing/in/")
    assert warehouse.table("from_folder").count() == 7
    warehouse.create_table("from_file", "@landing/in/part-1.parquet")
    assert warehouse.table("from_file").to_pandas()["id"].tolist() == [1, 11]


def test_stage_parquet_errors(warehouse: Warehouse) -> None:
    warehouse.stages.create("landing")
    with pytest.raises(FileNotFoundError, match=r"@landing/none/\*\.parquet"):
        warehouse.create_table("t", "@landing/none/*.parquet")
    with pytest.raises(FileNotFoundError, match="@landing/none"):
        warehouse.create_table("t", "@landing/none/")
    with pytest.raises(InvalidArgumentError, match="stage path"):
        warehouse.create_table("t", "SELECT 1")
    assert warehouse.list_tables() == []


@pytest.mark.parametrize(
    "name", ["", "1abc", 'a"b', "x; DROP TABLE y", "a b", "t--", "main.t", "a'b"]
)
def test_table_names_are_validated(warehouse: Warehouse, name: str) -> None:
    for call in (
        lambda: warehouse.create_table(name, pa.table({"id": [1]})),
        lambda: warehouse.table(name),
        lambda: warehouse.drop_table(name),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert repr(name) in str(info.value)
    assert warehouse.list_tables() == []


def test_missing_tables_are_named_with_the_existing_ones(warehouse: Warehouse) -> None:
    with pytest.raises(
        TableNotFoundError, match="no table named 'nope'; the warehouse has no tables"
    ):
        warehouse.table("nope")
    warehouse.create_table("alpha", pa.table({"id": [1]}))
    warehouse.create_table("beta", pa.table({"id": [1]}))
    with pytest.raises(TableNotFoundError, match="no table named 'nope'; tables: ALPHA, BETA"):
        warehouse.table("nope")
    df = warehouse.sql("SELECT * FROM gamma JOIN alpha USING (id)")  # lazy: no error yet
    with pytest.raises(TableNotFoundError, match="'gamma'; tables: ALPHA, BETA") as info:
        df.count()
    assert isinstance(info.value, LookupError)
    with pytest.raises(TableNotFoundError, match="gamma"):
        df.iter_batches(10)


def test_table_lookup_is_case_insensitive(warehouse: Warehouse) -> None:
    warehouse.create_table("Reviews", pa.table({"id": [1, 2]}))
    assert warehouse.list_tables() == ["REVIEWS"]  # unquoted names are shown upper-case
    assert warehouse.table("REVIEWS").count() == 2
    warehouse.create_table("reviews", pa.table({"id": [7]}))
    assert warehouse.list_tables() == ["REVIEWS"]
    assert warehouse.table("reviews").to_pandas()["id"].tolist() == [7]


def test_drop_table_and_views(warehouse: Warehouse) -> None:
    warehouse.create_table("t", pa.table({"id": [1]}))
    warehouse.sql("CREATE VIEW v AS SELECT id * 2 AS twice FROM t")
    assert warehouse.list_tables() == ["T", "V"]
    assert warehouse.table("v").to_pandas()["twice"].tolist() == [2]
    warehouse.drop_table("V")
    warehouse.drop_table("t")
    assert warehouse.list_tables() == []
    with pytest.raises(TableNotFoundError, match="'t'"):
        warehouse.drop_table("t")
    warehouse.drop_table("t", missing_ok=True)


def test_statements_that_change_things_run_at_once(warehouse: Warehouse) -> None:
    result = warehouse.sql("CREATE TABLE made AS SELECT range AS id FROM range(5)")
    assert warehouse.list_tables() == ["MADE"]
    assert isinstance(result, DataFrame) and not result.is_sql
    out = warehouse.sql("INSERT INTO made VALUES (5); SELECT count(*) AS n FROM made")
    assert out.to_pandas()["n"].tolist() == [6]
    assert warehouse.table("made").count() == 6  # the INSERT ran exactly once


def test_bad_sql_is_an_invalid_argument(warehouse: Warehouse) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot parse SQL"):
        warehouse.sql("SELEC 1")
    with pytest.raises(InvalidArgumentError, match="no SQL statement"):
        warehouse.sql("  ")


def test_create_dataframe_is_in_memory(warehouse: Warehouse) -> None:
    df = warehouse.create_dataframe(pd.DataFrame(ROWS))
    assert not df.is_sql
    assert df.count() == 3
    assert warehouse.list_tables() == []
    assert warehouse.create_dataframe(df) is df
    assert warehouse.create_dataframe([{"a": 1}, {"a": 2}]).count() == 2
    with pytest.raises(InvalidArgumentError, match=r"cannot make a table from a builtins\.int"):
        warehouse.create_dataframe(42)
