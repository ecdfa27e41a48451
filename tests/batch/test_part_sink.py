"""The output sink over a stage: parts commit through the stage's publish-once primitive.

Run over an internal stage (parts written in its folder, committed as hard links) and an S3
stage on the loopback moto server (parts written locally, published with a conditional
write); what S3 stored is read back through boto3.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squall.batch.output import SUCCESS_FILE, part_name
from squall.batch.sink import PartSink
from squall.catalog import Catalog
from squall.stages import StageManager
from tests.s3_server import S3Server


@pytest.fixture(params=["internal", "s3"])
def sink(request: pytest.FixtureRequest, home: Path) -> PartSink:
    home.mkdir(parents=True, exist_ok=True)
    stages = StageManager(home, Catalog(home / "catalog.db"))
    if request.param == "internal":
        stages.create("out")
    else:
        server: S3Server = request.getfixturevalue("s3")
        stages.create(
            "out",
            url=f"s3://squall-test/{uuid.uuid4().hex}",
            storage_options=server.storage_options(),
        )
    return PartSink.at(stages, "@out/run1/")


def _names(sink: PartSink) -> list[str]:
    """Every file under the sink's folder, hidden ones included, as the stage lists them."""
    return sorted(p.rsplit("/", 1)[-1] for p in sink.stage.list_paths(sink.rel))


def _part(sink: PartSink, shard: int, values: list[int]) -> bool:
    writer = sink.open_part(shard)
    writer.write(pa.table({"x": values}))
    return writer.commit()


def test_local_stage_takes_the_fast_path(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    stages = StageManager(home, Catalog(home / "catalog.db"))
    stages.create("out")
    sink = PartSink.at(stages, "@out/run1/")
    assert sink.local is not None
    assert str(sink.local) == stages.stage("out").full_path("run1")


def test_first_commit_wins_and_the_second_leaves_it_intact(sink: PartSink) -> None:
    first, second = sink.open_part(3), sink.open_part(3)  # a retry and a zombie, say
    first.write(pa.table({"x": [1, 2]}))
    second.write(pa.table({"x": [7, 8, 9]}))
    assert first.commit() is True
    assert second.commit() is False
    assert sink.committed(3)
    assert sink.counts(3) == (2, 0)
    assert _names(sink) == [part_name(3)]  # one copy, no temporary file left
    with sink.stage.open(f"{sink.rel}/{part_name(3)}") as f:
        assert pq.read_table(f).column("x").to_pylist() == [1, 2]


def test_commit_bytes_is_first_commit_wins_too(sink: PartSink) -> None:
    assert _part(sink, 0, [1])
    buf = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": [5, 6]}), buf)
    data = buf.getvalue().to_pybytes()
    assert sink.commit_bytes(0, data) is False
    assert sink.counts(0) == (1, 0)
    assert sink.commit_bytes(1, data) is True
    assert sink.counts(1) == (2, 0)
    assert _names(sink) == [part_name(0), part_name(1)]


def test_an_aborted_attempt_leaves_nothing(sink: PartSink) -> None:
    writer = sink.open_part(2)
    writer.write(pa.table({"x": [1]}))
    writer.abort()
    assert not sink.committed(2)
    assert _names(sink) == []


def test_complete_checks_every_part_then_writes_success_last(sink: PartSink) -> None:
    assert _part(sink, 0, [1, 2])
    assert sink.complete({0: 2, 1: 1}, per_row=True, summary={}) == f"{part_name(1)} is missing"
    assert _part(sink, 1, [3, 4])
    problem = sink.complete({0: 2, 1: 1}, per_row=True, summary={})
    assert problem == f"{part_name(1)} holds 2 rows, its shard 1"
    assert SUCCESS_FILE not in _names(sink)
    assert sink.complete({0: 2, 1: 2}, per_row=True, summary={"rows": 4}) is None
    assert _names(sink) == [SUCCESS_FILE, part_name(0), part_name(1)]
    success = json.loads(sink.stage.read_bytes(f"{sink.rel}/{SUCCESS_FILE}"))
    assert success == {"rows": 4}


def test_dead_attempts_temporary_files_are_discarded(home: Path) -> None:
    folder = home / "plain"
    sink = PartSink(folder)
    writer = sink.open_part(4)
    writer.write(pa.table({"x": [1]}))  # a worker killed here leaves its temporary file
    assert [p.name.startswith(f".{part_name(4)}.") for p in folder.iterdir()] == [True]
    assert sink.discard_attempts(4) == [writer.tmp.name]
    assert list(folder.iterdir()) == []


def test_s3_commit_is_a_conditional_write(s3: S3Server, home: Path, tmp_path: Path) -> None:
    """Racing publishers of one part: S3 itself keeps exactly one, and an object another
    writer stored first is never replaced."""
    home.mkdir(parents=True, exist_ok=True)
    stages = StageManager(home, Catalog(home / "catalog.db"))
    stages.create("out", url="s3://squall-test/race", storage_options=s3.storage_options())
    stage = stages.stage("out")
    s3.client().put_object(Bucket="squall-test", Key="race/taken.parquet", Body=b"theirs")
    mine = tmp_path / "mine"
    mine.write_bytes(b"mine")
    assert stage.put_if_absent(mine, "taken.parquet") is False
    assert (
        s3.client().get_object(Bucket="squall-test", Key="race/taken.parquet")["Body"].read()
        == b"theirs"
    )

    files = []
    for i in range(8):
        files.append(tmp_path / f"attempt-{i}")
        files[-1].write_bytes(f"attempt {i}".encode())
    results: list[bool] = []
    lock = threading.Lock()

    def publish(path: Path) -> None:
        won = stage.put_if_absent(path, "part-000000.parquet")
        with lock:
            results.append(won)

    threads = [threading.Thread(target=publish, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    body = s3.client().get_object(Bucket="squall-test", Key="race/part-000000.parquet")["Body"]
    assert body.read() in {f.read_bytes() for f in files}
