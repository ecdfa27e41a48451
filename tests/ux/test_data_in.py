"""Getting data in as a new user does: CSV and JSON files, stage paths inside SQL, head/repr."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall
from squall.errors import InvalidArgumentError
from tests.s3_server import S3Server


@pytest.fixture
def files(session: squall.Session, tmp_path: Path) -> Path:
    (tmp_path / "customers.csv").write_text("id,name,spend\n1,ann,2.5\n2,bob,4.0\n3,cy,1.0\n")
    (tmp_path / "events.jsonl").write_text('{"id": 1, "kind": "a"}\n{"id": 2, "kind": "b"}\n')
    (tmp_path / "semi.txt").write_text("id;name\n7;zed\n")
    session.create_stage("lake")
    session.put(str(tmp_path / "customers.csv"), "@lake/raw/")
    session.put(str(tmp_path / "events.jsonl"), "@lake/raw/")
    for k in range(2):
        pq.write_table(pa.table({"id": [k], "v": [k * 1.5]}), tmp_path / f"part-{k}.parquet")
        session.put(str(tmp_path / f"part-{k}.parquet"), "@lake/events/")
    return tmp_path


def test_csv_and_json_from_files_and_stages(session: squall.Session, files: Path) -> None:
    local = session.read.csv(str(files / "customers.csv"))
    assert local.to_pandas()["name"].tolist() == ["ann", "bob", "cy"]
    staged = session.read.csv("@lake/raw/customers.csv")
    assert staged.schema.field("spend").type == pa.float64()
    assert session.read.json("@lake/raw/events.jsonl").to_pandas()["kind"].tolist() == ["a", "b"]
    # DuckDB's reader options pass through
    semi = session.read.csv(str(files / "semi.txt"), delim=";", header=True)
    assert semi.to_pandas().to_dict("records") == [{"id": 7, "name": "zed"}]

    t = session.create_table("customers", str(files / "customers.csv"))
    assert t.count() == 3
    session.create_table("staged", "@lake/raw/customers.csv")
    session.create_table("events", "@lake/raw/events.jsonl", mode="overwrite")
    session.create_table("parts", "@lake/events/")
    session.create_table("semi", str(files / "semi.txt"), format="csv")
    counts = {n: session.table(n).count() for n in ("staged", "events", "parts", "semi")}
    assert counts == {"staged": 3, "events": 2, "parts": 2, "semi": 1}
    with pytest.raises(InvalidArgumentError, match="format="):
        session.create_table("bad", str(files / "semi.txt"))
    with pytest.raises(InvalidArgumentError, match="'xml'"):
        session.create_table("bad", str(files / "semi.txt"), format="xml")
    with pytest.raises(FileNotFoundError, match=r"@lake/raw/nope\.csv"):
        session.read.csv("@lake/raw/nope.csv")


def test_stage_paths_inside_sql(session: squall.Session, files: Path) -> None:
    df = session.sql("SELECT sum(v) AS s FROM read_parquet('@lake/events/*.parquet')")
    assert df.to_pandas()["s"].tolist() == [1.5]
    folder = session.sql("SELECT count(*) AS n FROM read_parquet('@lake/events/')")
    assert folder.to_pandas()["n"].tolist() == [2]
    csv = session.sql("SELECT name FROM read_csv('@lake/raw/customers.csv') ORDER BY id")
    assert csv.to_pandas()["name"].tolist() == ["ann", "bob", "cy"]
    session.sql("CREATE TABLE ev AS SELECT * FROM '@lake/events/part-0.parquet'")
    assert session.table("ev").count() == 1
    # a string that is no stage's path stays a string
    assert session.sql("SELECT '@nostage/x' AS t").to_pandas()["t"].tolist() == ["@nostage/x"]
    with pytest.raises(FileNotFoundError, match="@lake/none/"):
        session.sql("SELECT * FROM read_parquet('@lake/none/')").count()
    with pytest.raises(Exception) as info:  # DuckDB's own error names the stage path
        session.sql("SELECT * FROM read_parquet('@lake/raw/customers.csv')").count()
    assert "@lake/raw/customers.csv" in str(info.value)
    assert str(session.home) not in str(info.value)
    with pytest.raises(Exception, match=r"lead|outside|escape|\.\."):
        session.sql("SELECT * FROM read_csv('@lake/../../catalog.db')").count()


def test_dataframes_show_like_pandas(session: squall.Session) -> None:
    session.create_table("t", pa.table({"id": list(range(8)), "s": [f"r{i}" for i in range(8)]}))
    df = session.table("t")
    head = df.head(3)
    assert head["id"].tolist() == [0, 1, 2]
    text = repr(df)
    assert "| r4 |" in text and "r5" not in text and "schema: id int64, s " in text
    html = df._repr_html_()
    assert "<table" in html and "r0" in html
    session.create_stage("docs")
    session.stages.stage("docs").write_bytes("a.txt", b"alpha")
    listed = squall.list_stage_files("@docs/")
    assert listed.head()["FILE_PATH"].tolist() == ["@docs/a.txt"]
    assert "@docs/a.txt" in repr(listed) and "<table" in listed._repr_html_()


def test_s3_stage_paths_inside_sql(session: squall.Session, s3: S3Server, tmp_path: Path) -> None:
    key, secret = "AKIASQLTEST" + uuid.uuid4().hex[:8].upper(), "sq-" + uuid.uuid4().hex
    session.create_stage(
        "s3lake",
        url="s3://squall-test/lake",
        storage_options=s3.storage_options(key=key, secret=secret),
    )
    for k in range(2):
        pq.write_table(
            pa.table({"id": [k, k + 10], "v": [k * 1.5, 1.0]}), tmp_path / f"p{k}.parquet"
        )
        session.put(str(tmp_path / f"p{k}.parquet"), "@s3lake/events/")
    (tmp_path / "c.csv").write_text("id,name\n1,ann\n2,bob\n")
    session.put(str(tmp_path / "c.csv"), "@s3lake/raw/")

    df = session.sql("SELECT sum(v) AS s, count(*) AS n FROM read_parquet('@s3lake/events/')")
    assert df.to_pandas().to_dict("records") == [{"s": 3.5, "n": 4}]
    one = session.sql("SELECT * FROM '@s3lake/events/p1.parquet' ORDER BY id")
    assert one.to_pandas()["id"].tolist() == [1, 11]
    assert session.sql("SELECT * FROM read_parquet('@s3lake/events/*.parquet')").count() == 4
    csv = session.sql("SELECT name FROM read_csv('@s3lake/raw/c.csv') ORDER BY id")
    assert csv.to_pandas()["name"].tolist() == ["ann", "bob"]
    # joined with a table of the warehouse, and made a table of its own
    session.create_table("names", pa.table({"id": [1, 11], "who": ["a", "k"]}))
    joined = session.sql(
        "SELECT who, v FROM read_parquet('@s3lake/events/') JOIN names USING (id) ORDER BY who"
    )
    assert joined.to_pandas()["who"].tolist() == ["a", "k"]
    session.sql("CREATE TABLE ev AS SELECT * FROM read_parquet('@s3lake/events/')")
    assert session.table("ev").count() == 4
    # streamed in batches on a connection of its own
    assert [b.num_rows for b in one.iter_batches(1)] == [1, 1]

    # errors name the stage path, never the credentials or the bucket's internals
    with pytest.raises(FileNotFoundError, match="@s3lake/none/"):
        session.sql("SELECT * FROM read_parquet('@s3lake/none/')").count()
    with pytest.raises(Exception) as info:
        session.sql("SELECT * FROM read_parquet('@s3lake/raw/c.csv')").count()
    text = str(info.value)
    assert "@s3lake/raw/c.csv" in text and key not in text and secret not in text
    assert "squallstage" not in text
    with pytest.raises(Exception, match=r"lead|outside|escape|\.\."):
        session.sql("SELECT * FROM read_csv('@s3lake/../other.csv')").count()
