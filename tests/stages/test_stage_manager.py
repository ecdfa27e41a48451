"""StageManager: creating and dropping stages, and moving files in and out of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from squall.catalog import Catalog
from squall.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotSupportedError,
    StageNotFoundError,
)
from squall.stages import InternalStage, StageManager
from squall.stages.registry import STAGE_KINDS


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# --- stages ---------------------------------------------------------------------------------
def test_create_internal_stage(stages: StageManager, home: Path) -> None:
    info = stages.create("Images")
    assert (info.name, info.kind, info.url, info.is_internal) == ("images", "internal", None, True)
    assert (home / "stages" / "images").is_dir()
    stage = stages.stage("IMAGES")
    assert isinstance(stage, InternalStage)
    assert stage.url == (home / "stages" / "images").resolve().as_uri()
    assert [s.name for s in stages.list()] == ["images"]


def test_stages_are_recorded_in_the_catalog(stages: StageManager, home: Path) -> None:
    stages.create("b")
    stages.create("a")
    other = StageManager(home, Catalog(home / "catalog.db"))  # e.g. another process
    assert other.names() == ["a", "b"]
    assert other.info("A").created == stages.info("a").created


def test_create_existing_name(stages: StageManager) -> None:
    first = stages.create("imgs")
    with pytest.raises(AlreadyExistsError, match="'imgs' exists already"):
        stages.create("IMGS")
    assert stages.create("imgs", exists_ok=True) == first


def test_unknown_stage_lists_the_existing_ones(stages: StageManager) -> None:
    with pytest.raises(StageNotFoundError, match="no stage exists yet"):
        stages.stage("nope")
    stages.create("alpha")
    stages.create("beta")
    with pytest.raises(StageNotFoundError, match="'nope'; existing stages: alpha, beta") as info:
        stages.resolve("@nope/x.png")
    assert isinstance(info.value, LookupError)
    with pytest.raises(StageNotFoundError):
        stages.stage("not a name")


def test_drop_internal_stage_deletes_its_files(stages: StageManager, home: Path) -> None:
    stages.create("tmp")
    stages.stage("tmp").write_bytes("a/b.txt", b"x")
    stages.drop("TMP")
    assert not (home / "stages" / "tmp").exists()
    assert stages.list() == []
    with pytest.raises(StageNotFoundError):
        stages.drop("tmp")
    stages.drop("tmp", missing_ok=True)
    with pytest.raises(StageNotFoundError):
        stages.stage("tmp")  # no stale cached stage after a drop


@pytest.mark.parametrize("name", ["", "1st", "a-b", "a b", "a/b", "x" * 256, "@s"])
def test_bad_stage_names(stages: StageManager, name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not a valid stage name"):
        stages.create(name)


@pytest.mark.parametrize(
    "url",
    [
        "azure://account.blob.core.windows.net/container/path",
        "gcs://bucket/path",
        "gs://bucket/path",
        "wasbs://container@account/path",
        "https://example.com/data",
        "file:///tmp/data",
        "/tmp/data",
        "bucket/prefix",
    ],
)
def test_only_s3_urls_are_accepted(stages: StageManager, url: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        stages.create("ext", url=url)
    assert repr(url) in str(info.value)
    assert "Amazon S3" in str(info.value)
    assert stages.list() == []


def test_a_kind_without_its_module_is_a_clear_error(
    stages: StageManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STAGE_KINDS, "s3", "squall.stages.not_built:S3Stage")
    with pytest.raises(NotSupportedError, match="s3 stages are not available"):
        stages.create("landing", url="s3://bucket/prefix", encryption="AWS_SSE_S3")
    assert stages.list() == []


def test_internal_stages_take_no_external_settings(stages: StageManager) -> None:
    with pytest.raises(InvalidArgumentError, match="encryption"):
        stages.create("x", encryption="AWS_SSE_S3")
    with pytest.raises(InvalidArgumentError, match="storage_options"):
        stages.create("x", storage_options={"key": "k"})


def test_a_registered_kind_plugs_in(stages: StageManager, memory_kind: None) -> None:
    info = stages.create("mem", url="memory://bucket/prefix", storage_options={"key": "secret"})
    assert (info.kind, info.url, info.is_internal) == ("memory", "memory://bucket/prefix", False)
    assert "secret" not in repr(info)
    # the catalog keeps the credential masked; the secret store keeps it for the kind
    assert stages.info("mem").storage_options == {"key": "****"}
    assert stages.secrets.load("mem") == {"key": "secret"}
    stages.stage("mem").write_bytes("x.txt", b"x")
    assert [f.path for f in stages.list_stage("@mem")] == ["@mem/x.txt"]
    stages.drop("mem")
    assert stages.secrets.load("mem") == {}


# --- put ------------------------------------------------------------------------------------
def test_put_glob_into_a_folder(stages: StageManager, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"a.png": b"aa", "b.png": b"b", "c.txt": b"c"})
    stages.create("images")
    uploaded = stages.put(str(src / "*.png"), "@images/cats/")
    assert [f.path for f in uploaded] == ["@images/cats/a.png", "@images/cats/b.png"]
    assert [f.size for f in uploaded] == [2, 1]
    assert stages.stage("images").read_bytes("cats/a.png") == b"aa"


def test_put_recursive_glob_keeps_relative_paths(stages: StageManager, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"x/a.png": b"1", "y/a.png": b"2", "top.png": b"3"})
    stages.create("images")
    uploaded = stages.put(str(src / "**" / "*.png"), "@images/all")
    assert [f.path for f in uploaded] == [
        "@images/all/top.png",
        "@images/all/x/a.png",
        "@images/all/y/a.png",
    ]


def test_put_a_folder(stages: StageManager, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"a.txt": b"1", "sub/b.txt": b"2"})
    stages.create("s")
    uploaded = stages.put(src, "@s/copy")
    assert [f.path for f in uploaded] == ["@s/copy/a.txt", "@s/copy/sub/b.txt"]


def test_put_one_file(stages: StageManager, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"model.bin": b"weights"})
    stages.create("s")
    assert [f.path for f in stages.put(src / "model.bin", "@s")] == ["@s/model.bin"]
    assert [f.path for f in stages.put(src / "model.bin", "@s/dir/")] == ["@s/dir/model.bin"]
    # a target that names no folder is the file's new name...
    assert [f.path for f in stages.put(src / "model.bin", "@s/v2.bin")] == ["@s/v2.bin"]
    # ...and an existing folder receives the file under its own name
    assert [f.path for f in stages.put(src / "model.bin", "@s/dir")] == ["@s/dir/model.bin"]
    assert [f.path for f in stages.put(f"file://{src / 'model.bin'}", "@s/u/")] == [
        "@s/u/model.bin"
    ]


def test_put_missing_local_files(stages: StageManager, tmp_path: Path) -> None:
    stages.create("s")
    pattern = str(tmp_path / "*.nothing")
    with pytest.raises(FileNotFoundError) as info:
        stages.put(pattern, "@s/")
    assert pattern in str(info.value)
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        stages.put(str(tmp_path / "no-such-file"), "@s/")


# --- get, list, remove ----------------------------------------------------------------------
def test_put_get_round_trip_keeps_structure(stages: StageManager, tmp_path: Path) -> None:
    files = {"a.bin": os.urandom(1000), "d/b.bin": os.urandom(10), "d/e/c.bin": b""}
    src = _tree(tmp_path / "src", files)
    stages.create("data")
    stages.put(src, "@data/run1/")
    written = stages.get("@data/run1/", tmp_path / "out")
    assert sorted(written) == sorted(str(tmp_path / "out" / rel) for rel in files)
    for rel, data in files.items():
        assert (tmp_path / "out" / rel).read_bytes() == data
    # one file keeps its name
    assert stages.get("@data/run1/d/b.bin", tmp_path / "one") == [str(tmp_path / "one" / "b.bin")]


def test_get_missing_path_names_it(stages: StageManager, tmp_path: Path) -> None:
    stages.create("data")
    with pytest.raises(FileNotFoundError, match="@data/nothing"):
        stages.get("@data/nothing/", tmp_path)
    assert stages.get("@data", tmp_path / "empty") == []


def test_list_stage_is_sorted_and_filtered(stages: StageManager, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"b.png": b"1", "a.png": b"2", "n/c.txt": b"3"})
    stages.create("s")
    stages.put(src, "@s/")
    assert [f.path for f in stages.list_stage("@S")] == ["@s/a.png", "@s/b.png", "@s/n/c.txt"]
    assert [f.path for f in stages.list_stage("@s", pattern=r".*\.png")] == ["@s/a.png", "@s/b.png"]
    assert [f.path for f in stages.list_stage("@s/n")] == ["@s/n/c.txt"]
    assert [f.path for f in stages.list_stage("@s/a.png")] == ["@s/a.png"]
    assert stages.list_stage("@s/a.png/") == []  # a trailing slash names a folder only
    assert stages.list_stage("@s/missing/") == []
    with pytest.raises(InvalidArgumentError, match="not a regular expression"):
        stages.list_stage("@s", pattern="*.png")


def test_remove(stages: StageManager, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"run1/a": b"1", "run1/b/c": b"2", "run10/d": b"3"})
    stages.create("results")
    stages.put(src, "@results/")
    assert stages.remove("@results/run1/") == ["@results/run1/a", "@results/run1/b/c"]
    assert [f.path for f in stages.list_stage("@results")] == ["@results/run10/d"]
    assert stages.remove("@results/run1/") == []


def test_list_stage_files_table(stages: StageManager, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"cats/b.png": b"1", "cats/a.png": b"2", "cats/notes.txt": b"3"})
    stages.create("images")
    stages.put(src, "@images/")
    table = stages.list_stage_files("@images/cats", pattern=r".*\.png", column_name="IMAGE")
    assert table.column_names == ["IMAGE"]
    assert table.column("IMAGE").to_pylist() == ["@images/cats/a.png", "@images/cats/b.png"]
    empty = stages.list_stage_files("@images/dogs")
    assert empty.num_rows == 0 and empty.column_names == ["FILE_PATH"]
    with pytest.raises(InvalidArgumentError):
        stages.list_stage_files("@images", column_name="")


def test_list_stage_files_over_100k_files(stages: StageManager, home: Path) -> None:
    stages.create("many")
    root = home / "stages" / "many"
    expected = []
    for d in range(100):
        folder = root / f"d{d:03d}"
        folder.mkdir()
        for i in range(1000):
            name = f"f{i:04d}.png" if i % 10 else f"f{i:04d}.txt"
            fd = os.open(folder / name, os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)
            if i % 10:
                expected.append(f"@many/d{d:03d}/{name}")
    table = stages.list_stage_files("@many/", pattern=r".*\.png")
    assert table.num_rows == 90_000
    assert table.column("FILE_PATH").to_pylist() == sorted(expected)
    assert stages.list_stage_files("@many").num_rows == 100_000
