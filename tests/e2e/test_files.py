"""Batch jobs over files on stages: each encoding, mixed stages, and the errors users hit."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import squall
from squall.batch import FileEncoding, InputFormat, InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidSpecError, StageNotFoundError, StagePathError
from squall.model import custom_model
from squall.registry import Registry


def png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), color).save(buf, format="PNG")
    return buf.getvalue()


def red_of(data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as im:
        return float(np.asarray(im.convert("RGB"))[..., 0].mean())


class ThreeEncodings(custom_model.CustomModel):
    """Reads the same image as raw bytes, as base64 and as a data URL."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        urls = [u.split(",", 1) for u in X["url"]]
        return pd.DataFrame(
            {
                "raw_red": [red_of(b) for b in X["raw"]],
                "b64_red": [red_of(base64.b64decode(s)) for s in X["b64"]],
                "url_red": [red_of(base64.b64decode(data)) for _, data in urls],
                "url_head": [head for head, _ in urls],
            }
        )


class Size(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"nbytes": [-1 if b is None else len(b) for b in X["doc"]]})


def upload(session: squall.Session, tmp_path: Path, target: str, files: dict[str, bytes]) -> None:
    folder = tmp_path / "upload" / target.strip("@/").replace("/", "_")
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    session.put(str(folder / "*"), target)


def handling(column: str, encoding: str | FileEncoding) -> InputSpec:
    return InputSpec(
        column_handling={
            column: {"input_format": InputFormat.FULL_STAGE_PATH, "convert_to": encoding}
        }
    )


@pytest.fixture
def sized(session: squall.Session):
    sample = pd.DataFrame({"doc": [b"abc"]})
    return Registry(session).log_model(
        Size(custom_model.ModelContext()), model_name="size", sample_input_data=sample
    )


def test_images_in_each_encoding_give_one_correct_row_per_image(session, tmp_path):
    colors = {f"img_{i:02d}.png": (10 * i, 200 - i, 7) for i in range(12)}
    session.create_stage("images")
    upload(session, tmp_path, "@images/cats/", {n: png(c) for n, c in colors.items()})
    one = png((1, 2, 3))
    sample = pd.DataFrame(
        {
            "raw": [one],
            "b64": [base64.b64encode(one).decode()],
            "url": ["data:image/png;base64," + base64.b64encode(one).decode()],
        }
    )
    mv = Registry(session).log_model(
        ThreeEncodings(custom_model.ModelContext()), model_name="enc", sample_input_data=sample
    )
    listed = squall.list_stage_files("@images/cats", pattern=r".*\.png", column_name="RAW")
    X = listed.to_pandas()
    X["B64"] = X["RAW"]
    X["Url"] = X["RAW"]
    session.create_stage("results")
    job = mv.run_batch(
        X,
        input_spec=InputSpec(
            column_handling={
                "raw": {
                    "input_format": InputFormat.FULL_STAGE_PATH,
                    "convert_to": FileEncoding.RAW_BYTES,
                },
                "b64": {"input_format": "full_stage_path", "convert_to": "base64"},
                "URL": {"input_format": "FULL_STAGE_PATH", "convert_to": "BASE64_DATA_URL"},
            }
        ),
        output_spec=OutputSpec(stage_location="@results/enc/"),
        job_spec=JobSpec(num_workers=2, max_batch_rows=5, shard_rows=5),
    )
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    out = session.read.parquet("@results/enc/").to_pandas().sort_values("RAW")
    assert len(out) == 12
    # the path columns come back as the user gave them
    expected_paths = [f"@images/cats/{n}" for n in sorted(colors)]
    for column in ("RAW", "B64", "Url"):
        assert out[column].tolist() == expected_paths
    reds = [float(colors[n][0]) for n in sorted(colors)]
    assert out["raw_red"].tolist() == reds
    assert out["b64_red"].tolist() == reds
    assert out["url_red"].tolist() == reds
    assert set(out["url_head"]) == {"data:image/png;base64"}


def test_rows_on_different_stages_with_a_query_input_and_a_tiny_byte_budget(
    session, tmp_path, sized, monkeypatch
):
    # A budget smaller than one file: every file is read alone, and the job still completes.
    monkeypatch.setenv("SQUALL_FILE_FETCH_BYTES", "1000")
    monkeypatch.setenv("SQUALL_FILE_FETCH_THREADS", "3")
    session.create_stage("left")
    session.create_stage("right")
    upload(session, tmp_path, "@left/docs/", {f"a{i}.txt": b"L" * (1500 + i) for i in range(20)})
    upload(session, tmp_path, "@right/", {f"b{i}.txt": b"R" * (3000 + i) for i in range(20)})
    rows = [(i, f"@left/docs/a{i}.txt" if i % 2 else f"@RIGHT/b{i}.txt") for i in range(20)]
    rows.append((20, None))
    session.create_table("docs", pd.DataFrame(rows, columns=["id", "Doc"]))
    session.create_stage("results")
    job = sized.run_batch(
        session.sql("SELECT id, Doc FROM docs"),
        input_spec=handling("DOC", "raw_bytes"),
        output_spec=OutputSpec(stage_location="@results/sizes/"),
        job_spec=JobSpec(num_workers=2, max_batch_rows=4, shard_rows=8, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = session.read.parquet("@results/sizes/").to_pandas().sort_values("id")
    assert out["Doc"].tolist()[:20] == [p for _, p in rows[:20]]
    assert pd.isna(out["Doc"].iloc[20])
    expected = [1500 + i if i % 2 else 3000 + i for i in range(20)] + [-1]
    assert out["nbytes"].tolist() == expected


def test_a_missing_file_fails_the_job_naming_path_and_row_without_success(session, tmp_path, sized):
    session.create_stage("docs")
    upload(session, tmp_path, "@docs/", {f"d{i}.txt": b"x" * i for i in range(30)})
    paths = [f"@docs/d{i}.txt" for i in range(30)]
    paths[23] = "@docs/deleted.txt"
    session.create_stage("results")
    job = sized.run_batch(
        pd.DataFrame({"doc": paths}),
        input_spec=handling("doc", FileEncoding.RAW_BYTES),
        output_spec=OutputSpec(stage_location="@results/missing/"),
        job_spec=JobSpec(num_workers=1, max_batch_rows=4, shard_rows=10),
    )
    assert job.wait(timeout=120) == "FAILED"
    assert "@docs/deleted.txt" in job.message and "input row 23" in job.message
    assert "does not exist" in job.message
    written = [f.path for f in session.list_stage("@results/missing/")]
    assert "@results/missing/_SUCCESS" not in written
    assert "@results/missing/part-000002.parquet" not in written


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (
            "docs/a.txt",
            StagePathError,
            r"input row 2: 'docs/a.txt' is refused: .*must start with '@'",
        ),
        ("@docs/../../etc/passwd", StagePathError, r"input row 2: .* escapes its stage"),
        (
            "@nostage/a.txt",
            StageNotFoundError,
            r"input row 2: .* stage @nostage, which does not exist",
        ),
        ("@docs/sub/", StagePathError, r"input row 2: '@docs/sub/' names a folder"),
    ],
)
def test_bad_paths_fail_run_batch_before_anything_runs(
    session, tmp_path, sized, value, error, message
):
    session.create_stage("docs")
    upload(session, tmp_path, "@docs/", {"a.txt": b"a", "b.txt": b"bb"})
    session.create_stage("results")
    upload(session, tmp_path, "@results/old/", {"keep.parquet": b"old output"})
    with pytest.raises(error, match=message):
        sized.run_batch(
            pd.DataFrame({"doc": ["@docs/a.txt", "@docs/b.txt", value]}),
            input_spec=handling("doc", "raw_bytes"),
            output_spec=OutputSpec(stage_location="@results/old/", mode="overwrite"),
        )
    # nothing ran and the old output is untouched, even with mode=OVERWRITE
    assert [f.path for f in session.list_stage("@results/")] == ["@results/old/keep.parquet"]
    [record] = squall.jobs.list_jobs().to_dict("records")
    assert record["status"] == "FAILED"


def test_misused_column_handling_fails_before_any_job(session, sized):
    session.create_stage("results")
    out = OutputSpec(stage_location="@results/x/")
    X = pd.DataFrame({"doc": ["@results/a"], "n": [1]})
    with pytest.raises(InvalidSpecError, match=r"'IMAGE' is not a column of X"):
        sized.run_batch(X, input_spec=handling("IMAGE", "raw_bytes"), output_spec=out)
    with pytest.raises(InvalidSpecError, match=r"unknown convert_to for 'doc' 'jpeg'"):
        sized.run_batch(X, input_spec=handling("doc", "jpeg"), output_spec=out)
    with pytest.raises(InvalidSpecError, match=r"unknown input_format for 'doc' 'url'"):
        InputSpec(column_handling={"doc": {"input_format": "url", "convert_to": "raw_bytes"}})
    with pytest.raises(InvalidSpecError, match=r"'doc' holds int64, not stage paths"):
        sized.run_batch(
            X.rename(columns={"doc": "d", "n": "doc"}),
            input_spec=handling("doc", "raw_bytes"),
            output_spec=out,
        )
    assert squall.jobs.list_jobs().empty
    assert session.list_stage("@results/") == []
