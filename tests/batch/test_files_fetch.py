"""The worker's file fetcher on a real internal stage: order, contents, the byte budget."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import squall
from squall.batch.files import FileFetcher, mime_type
from squall.errors import InputFileError

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def put(session: squall.Session, tmp_path: Path, stage: str, name: str, data: bytes) -> str:
    local = tmp_path / "src" / stage / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    session.put(str(local), f"@{stage}/{name}")
    return f"@{stage}/{name}"


def content(i: int, size: int) -> bytes:
    return (f"file {i:05d} ".encode() * size)[:size]


@pytest.fixture
def files(session: squall.Session, tmp_path: Path) -> list[str]:
    session.create_stage("docs")
    return [put(session, tmp_path, "docs", f"f{i:03d}.bin", content(i, 4000)) for i in range(40)]


def batches(paths: list[str | None], rows: int, column: str = "P") -> Iterator[pa.RecordBatch]:
    table = pa.table({column: pa.array(paths, type=pa.string())})
    yield from table.to_batches(max_chunksize=rows)


def test_rows_come_back_in_order_with_their_files_contents(session, files):
    fetcher = FileFetcher(session.stages, {"P": ["full_stage_path", "raw_bytes"]}, threads=4)
    seen_paths: list[str] = []
    seen: list[bytes] = []
    for rows, values in fetcher.resolve(batches(files, 7)):
        seen_paths += rows.column("P").to_pylist()
        seen += values["P"]
    assert seen_paths == files
    assert seen == [content(i, 4000) for i in range(40)]
    assert fetcher.files_read == 40


def test_budget_bounds_bytes_held_and_slices_batches_to_fit(session, files):
    fetcher = FileFetcher(
        session.stages, {"P": ["full_stage_path", "raw_bytes"]}, bytes_in_flight=10_000, threads=8
    )
    sizes = []
    out: list[bytes] = []
    for rows, values in fetcher.resolve(batches(files, 16)):
        sizes.append(rows.num_rows)
        out += values["P"]
    assert out == [content(i, 4000) for i in range(40)]
    # two 4,000-byte files fit in 10,000 bytes: the model never gets more than two rows
    assert max(sizes) == 2
    assert fetcher.peak_bytes <= 10_000


def test_a_file_larger_than_the_budget_is_read_alone(session, tmp_path, files):
    big = put(session, tmp_path, "docs", "big.bin", content(99, 50_000))
    paths = [*files[:3], big, *files[3:6]]
    fetcher = FileFetcher(
        session.stages, {"P": ["full_stage_path", "raw_bytes"]}, bytes_in_flight=10_000
    )
    got = [
        (rows.column("P").to_pylist(), values["P"])
        for rows, values in fetcher.resolve(batches(paths, 8))
    ]
    assert [p for ps, _ in got for p in ps] == paths
    assert ([big], [content(99, 50_000)]) in got
    assert fetcher.peak_bytes == 50_000


def test_a_row_whose_files_exceed_the_budget_together_still_goes_through(session, tmp_path):
    session.create_stage("pairs")
    left = [put(session, tmp_path, "pairs", f"l{i}", content(i, 8000)) for i in range(4)]
    right = [put(session, tmp_path, "pairs", f"r{i}", content(i + 10, 8000)) for i in range(4)]
    table = pa.table({"L": left, "R": right})
    fetcher = FileFetcher(
        session.stages,
        {"L": ["full_stage_path", "raw_bytes"], "R": ["full_stage_path", "raw_bytes"]},
        bytes_in_flight=10_000,
    )
    got = list(fetcher.resolve(table.to_batches(max_chunksize=4)))
    assert [v for _, values in got for v in values["R"]] == [
        content(i + 10, 8000) for i in range(4)
    ]
    assert all(rows.num_rows == 1 for rows, _ in got)
    assert fetcher.peak_bytes == 16_000


def test_next_batches_are_read_while_the_model_holds_the_current_one(session, files):
    fetcher = FileFetcher(session.stages, {"P": ["full_stage_path", "raw_bytes"]}, threads=4)
    stream = fetcher.resolve(batches(files, 8))
    rows, _ = next(stream)  # the "model" now works on the first 8 rows and does not come back
    assert rows.num_rows == 8
    deadline = time.monotonic() + 10
    while fetcher.files_read < 24 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fetcher.files_read == 24  # the current batch and the two ahead of it, no more
    stream.close()


def test_encodings_base64_and_data_url(session, tmp_path):
    session.create_stage("media")
    png = put(session, tmp_path, "media", "shot.bin", PNG_HEAD + b"rest of it")
    txt = put(session, tmp_path, "media", "notes.txt", b"hello")
    odd = put(session, tmp_path, "media", "blob.zzz9", b"\x00\x01")
    fetcher = FileFetcher(
        session.stages,
        {"A": ["full_stage_path", "base64"], "U": ["full_stage_path", "base64_data_url"]},
    )
    table = pa.table({"A": [png, txt, odd], "U": [png, txt, odd]})
    [(_, values)] = list(fetcher.resolve(table.to_batches()))
    assert [base64.b64decode(v) for v in values["A"]] == [
        PNG_HEAD + b"rest of it",
        b"hello",
        b"\x00\x01",
    ]
    assert values["U"] == [
        "data:image/png;base64," + base64.b64encode(PNG_HEAD + b"rest of it").decode(),
        "data:text/plain;base64," + base64.b64encode(b"hello").decode(),
        "data:application/octet-stream;base64," + base64.b64encode(b"\x00\x01").decode(),
    ]
    assert mime_type("x.wav", b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert mime_type("scan.pdf") == "application/pdf"


def test_null_paths_give_none_and_missing_files_name_path_and_row(session, files):
    fetcher = FileFetcher(session.stages, {"P": ["full_stage_path", "raw_bytes"]})
    paths: list[str | None] = [files[0], None, files[1], "@docs/gone.bin", files[2]]
    stream = fetcher.resolve(batches(paths, 2), first_row=1000)
    assert next(stream)[1]["P"] == [content(0, 4000), None]
    with pytest.raises(InputFileError) as info:
        next(stream)
    message = str(info.value)
    assert "@docs/gone.bin" in message and "input row 1003" in message
    assert "does not exist" in message
    assert (info.value.path, info.value.row, info.value.column) == ("@docs/gone.bin", 1003, "P")
    assert isinstance(info.value, OSError)


def test_closing_early_stops_the_fetch_threads(session, files):
    fetcher = FileFetcher(
        session.stages, {"P": ["full_stage_path", "raw_bytes"]}, bytes_in_flight=5000, threads=6
    )
    stream = fetcher.resolve(batches(files, 10))
    next(stream)
    stream.close()

    def fetch_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("squall-fetch")]

    deadline = time.monotonic() + 10
    while fetch_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fetch_threads() == []


def test_fetch_threads_suit_where_the_files_are_and_what_is_done_with_them(
    session, files, s3, monkeypatch
):
    session.create_stage("far", url="s3://squall-test/far", storage_options=s3.storage_options())
    raw = {"P": ["full_stage_path", "raw_bytes"]}
    decoded = {"P": ["full_stage_path", "image", {"image_mode": "RGB", "image_size": None}]}
    # on this machine's disk: reading and decoding are CPU work, one thread per core plus one
    assert FileFetcher(session.stages, decoded, cores=1).run_threads(files) == 2
    assert FileFetcher(session.stages, raw, cores=3).run_threads(files) == 4
    # a file on a remote stage: each read waits on the network, so many at once
    far = [*files[:2], "@far/x.png"]
    assert FileFetcher(session.stages, decoded, cores=1).run_threads(far) == 16
    # as set, whatever the files
    monkeypatch.setenv("SQUALL_FILE_FETCH_THREADS", "3")
    assert FileFetcher(session.stages, decoded, cores=1).run_threads(far) == 3
    assert FileFetcher(session.stages, raw, threads=5).run_threads(files) == 5
