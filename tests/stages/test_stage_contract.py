"""The Stage contract, run on every stage kind (see KINDS in conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squall.errors import StagePathError
from squall.stages import Stage


def test_identity(any_stage: Stage) -> None:
    assert any_stage.name == "files"
    assert any_stage.kind in ("internal", "memory", "s3")
    assert any_stage.is_internal is (any_stage.kind == "internal")
    assert any_stage.url
    assert any_stage.full_path("a/b.txt") == any_stage.root + "/a/b.txt"
    assert any_stage.full_path("") == any_stage.root


def test_write_read_exists(any_stage: Stage) -> None:
    any_stage.write_bytes("a/b/c.bin", b"\x00\x01payload")
    assert any_stage.read_bytes("a/b/c.bin") == b"\x00\x01payload"
    assert any_stage.exists("a/b/c.bin")
    assert any_stage.exists("a/b")
    assert any_stage.is_file("a/b/c.bin") and not any_stage.is_file("a/b")
    assert not any_stage.exists("a/b/nope.bin")
    any_stage.write_bytes("a/b/c.bin", b"second")
    assert any_stage.read_bytes("a/b/c.bin") == b"second"


def test_open_for_reading_and_writing(any_stage: Stage) -> None:
    with any_stage.open("deep/new/file.txt", "wb") as f:
        f.write(b"hello")
    with any_stage.open("deep/new/file.txt") as f:
        assert f.read() == b"hello"


def test_missing_files_name_the_stage_path(any_stage: Stage, tmp_path: Path) -> None:
    for call in (
        lambda: any_stage.read_bytes("no/such.png"),
        lambda: any_stage.open("no/such.png"),
        lambda: any_stage.info_of("no/such.png"),
        lambda: any_stage.get("no/such.png", tmp_path / "never-written"),
        lambda: any_stage.commit("no/tmp.png", "no/final.png"),
        lambda: any_stage.commit_part("no/tmp.png", "no/final.png"),
    ):
        with pytest.raises(FileNotFoundError) as info:
            call()
        assert "@files/no/" in str(info.value)
        assert any_stage.root not in str(info.value)


def test_escaping_paths_are_refused(any_stage: Stage) -> None:
    for call in (
        lambda: any_stage.read_bytes("../outside"),
        lambda: any_stage.write_bytes("a/../../outside", b"x"),
        lambda: any_stage.full_path("/etc/passwd"),
        lambda: list(any_stage.list("..")),
        lambda: any_stage.remove("../"),
    ):
        with pytest.raises(StagePathError):
            call()


def test_list_is_recursive_and_reports_size_and_time(any_stage: Stage) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    any_stage.write_bytes("cats/a.png", b"aaa")
    any_stage.write_bytes("cats/young/b.png", b"bb")
    any_stage.write_bytes("dogs/c.jpg", b"c")
    files = sorted(any_stage.list(), key=lambda f: f.path)
    assert [f.path for f in files] == [
        "@files/cats/a.png",
        "@files/cats/young/b.png",
        "@files/dogs/c.jpg",
    ]
    assert [f.size for f in files] == [3, 2, 1]
    assert all(f.last_modified.tzinfo is not None and f.last_modified > before for f in files)
    assert files[1].relative_path == "cats/young/b.png" and files[1].name == "b.png"
    assert files[1].stage == "files"
    assert sorted(f.path for f in any_stage.list("cats")) == [
        "@files/cats/a.png",
        "@files/cats/young/b.png",
    ]
    assert [f.path for f in any_stage.list("cats/a.png")] == ["@files/cats/a.png"]
    assert list(any_stage.list("nothing/here")) == []


def test_list_pattern_matches_the_path_from_the_stage_root(any_stage: Stage) -> None:
    for rel in ("cats/a.png", "cats/b.jpg", "dogs/c.png"):
        any_stage.write_bytes(rel, b"x")
    assert sorted(any_stage.list_paths("", r".*\.png")) == ["cats/a.png", "dogs/c.png"]
    assert sorted(any_stage.list_paths("", r"cats/.*")) == ["cats/a.png", "cats/b.jpg"]
    # fullmatch: a pattern must match the whole path, not a part of it
    assert list(any_stage.list_paths("", r"\.png")) == []
    assert [f.path for f in any_stage.list("cats", r".*\.png")] == ["@files/cats/a.png"]


def test_put_and_get(any_stage: Stage, tmp_path: Path) -> None:
    local = tmp_path / "in.bin"
    local.write_bytes(b"local bytes")
    stored = any_stage.put(local, "up/in.bin")
    assert stored.path == "@files/up/in.bin" and stored.size == len(b"local bytes")
    out = tmp_path / "out" / "sub" / "copy.bin"
    any_stage.get("up/in.bin", out)
    assert out.read_bytes() == b"local bytes"


def test_remove_a_file_and_a_folder(any_stage: Stage) -> None:
    for rel in ("run/a.parquet", "run/x/b.parquet", "run1/c.parquet", "keep.txt"):
        any_stage.write_bytes(rel, b"x")
    assert any_stage.remove("run/a.parquet") == ["@files/run/a.parquet"]
    # "run" is a folder, not a prefix: run1/ is left alone
    assert any_stage.remove("run") == ["@files/run/x/b.parquet"]
    assert sorted(any_stage.list_paths()) == ["keep.txt", "run1/c.parquet"]
    assert any_stage.remove("nothing") == []
    assert sorted(any_stage.remove("")) == ["@files/keep.txt", "@files/run1/c.parquet"]
    assert list(any_stage.list()) == []


def test_commit_moves_a_finished_file(any_stage: Stage) -> None:
    any_stage.write_bytes("out/.part-0.tmp", b"data")
    any_stage.commit("out/.part-0.tmp", "out/part-0.parquet")
    assert any_stage.read_bytes("out/part-0.parquet") == b"data"
    assert not any_stage.exists("out/.part-0.tmp")
    any_stage.write_bytes("out/.part-0.tmp", b"newer")
    any_stage.commit("out/.part-0.tmp", "out/part-0.parquet")  # replaces
    assert any_stage.read_bytes("out/part-0.parquet") == b"newer"


def test_commit_part_publishes_once_and_the_second_commit_loses(any_stage: Stage) -> None:
    any_stage.write_bytes("out/.part-0.a.tmp", b"first")
    assert any_stage.commit_part("out/.part-0.a.tmp", "out/part-0.parquet") is True
    any_stage.write_bytes("out/.part-0.b.tmp", b"second")
    assert any_stage.commit_part("out/.part-0.b.tmp", "out/part-0.parquet") is False
    assert any_stage.read_bytes("out/part-0.parquet") == b"first"  # left intact
    assert sorted(any_stage.list_paths("out")) == ["out/part-0.parquet"]  # no temp left


def test_put_if_absent_stores_once(any_stage: Stage, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    assert any_stage.put_if_absent(first, "out/part-1.parquet") is True
    assert any_stage.put_if_absent(second, "out/part-1.parquet") is False
    assert any_stage.read_bytes("out/part-1.parquet") == b"first"
    assert sorted(any_stage.list_paths("out")) == ["out/part-1.parquet"]
    assert second.read_bytes() == b"second"  # the local file is the caller's


def test_pyarrow_reads_through_the_stage_filesystem(any_stage: Stage) -> None:
    with any_stage.open("t/part-0.parquet", "wb") as f:
        pq.write_table(pa.table({"x": [1, 2, 3]}), f)
    table = pq.read_table(
        any_stage.full_path("t/part-0.parquet"), filesystem=any_stage.arrow_filesystem()
    )
    assert table.column("x").to_pylist() == [1, 2, 3]
