"""A worker finds its data by address alone: the model and shards at fsspec URLs, the output
through a stage. Run in-process through the worker's ShardRunner, with the model and input on
fsspec's in-memory filesystem and the output on an S3 stage of the loopback moto server, so no
workspace path is involved in reading or writing."""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squall.batch.output import part_name
from squall.batch.shards import IpcShard, ParquetRowGroups, parse_shard_ref, shard_record
from squall.batch.sink import PartSink
from squall.batch.worker import ShardRunner
from squall.catalog import Catalog
from squall.model import custom_model, save_model
from squall.stages import StageManager
from squall.stages.urls import fetch_folder, local_path, url_stat
from tests.compute.plans import make_plan, write_shard
from tests.e2e.jobtools import Sleepy
from tests.e2e.models import frame
from tests.s3_server import S3Server


@pytest.fixture
def memory_root() -> str:
    return f"memory://squall-{uuid.uuid4().hex}"


def test_local_addresses_take_the_fast_path(tmp_path: Path) -> None:
    assert local_path("/data/shard-0.arrow") == "/data/shard-0.arrow"
    assert local_path((tmp_path / "a b").as_uri()) == str(tmp_path / "a b")
    assert local_path("s3://bucket/key") is None
    assert fetch_folder(str(tmp_path)) == tmp_path


def test_a_worker_reads_model_and_shards_by_url_and_writes_through_the_stage(
    s3: S3Server, home: Path, tmp_path: Path, memory_root: str
) -> None:
    fs = fsspec.filesystem("memory")
    model = tmp_path / "model"
    save_model(Sleepy(custom_model.ModelContext()), model, sample_input_data=frame(3))
    fs.put(str(model) + "/", f"{memory_root}/model/", recursive=True)
    shutil.rmtree(model)  # the worker has only the URL
    table = pa.Table.from_pandas(frame(20), preserve_index=False)
    fs.pipe(
        f"{memory_root}/in/shard-0.arrow",
        Path(write_shard(tmp_path / "shard.arrow", table)).read_bytes(),
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=5)
    fs.pipe(f"{memory_root}/in/x.parquet", buf.getvalue())

    home.mkdir(parents=True, exist_ok=True)
    stages = StageManager(home, Catalog(home / "catalog.db"))
    prefix = uuid.uuid4().hex
    stages.create("landing", url=f"s3://squall-test/{prefix}", storage_options=s3.storage_options())
    nowhere = tmp_path / "not-used"
    plan = make_plan(
        tmp_path, model, output_location="@landing/out/", output_dir=str(nowhere),
        params={"seconds": 0.0},
    )  # fmt: skip
    plan.model_path = f"{memory_root}/model"
    runner = ShardRunner(plan, stages)
    try:
        ipc = IpcShard(f"{memory_root}/in/shard-0.arrow")
        size, mtime = url_stat(f"{memory_root}/in/x.parquet")
        groups = ParquetRowGroups(f"{memory_root}/in/x.parquet", (1, 2), size, mtime)
        assert parse_shard_ref(shard_record(groups)) == groups and ipc.exists()
        assert runner.run(0, ipc).rows == 20
        assert runner.run(1, shard_record(groups)).rows == 10
        assert runner.run(0, ipc).kept is True  # committed already: the part is kept
    finally:
        runner.close()

    keys = s3.client().list_objects_v2(Bucket="squall-test", Prefix=f"{prefix}/out/")
    assert sorted(o["Key"] for o in keys["Contents"]) == [
        f"{prefix}/out/{part_name(0)}",
        f"{prefix}/out/{part_name(1)}",
    ]
    sink = PartSink.of_plan(plan, stages)
    assert sink.counts(0) == (20, 0) and sink.counts(1) == (10, 0)
    assert not nowhere.exists()
