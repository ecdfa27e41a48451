"""A job may not write where it reads: an output overlapping the input is refused up front."""

from __future__ import annotations

import pandas as pd
import pytest

import squall
from squall.batch import InputFormat, InputSpec, OutputSpec, SaveMode
from squall.errors import InvalidSpecError
from squall.model import custom_model
from squall.registry import Registry
from squall.stages.paths import local_overlap, stage_paths_overlap
from tests.safety.jobs_helpers import files_under, frame, log_times, put_parquet
from tests.safety.jobs_models import FileSizes


def test_stage_paths_overlap_by_whole_components():
    assert stage_paths_overlap("@data/", "@data/in/a.parquet")
    assert stage_paths_overlap("@Data/in/", "@data/in")
    assert stage_paths_overlap("@data/in/out/", "@data/in/")
    assert not stage_paths_overlap("@data/in/", "@data/inner/")
    assert not stage_paths_overlap("@data/in/", "@other/in/")


def test_local_overlap_resolves_links(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert local_overlap(tmp_path / "link", [tmp_path / "real" / "a.parquet"]) is not None
    assert local_overlap(tmp_path / "real" / "sub", [tmp_path / "link"]) is not None
    assert local_overlap(tmp_path / "real", [tmp_path / "realm" / "a"]) is None


@pytest.mark.parametrize(
    "output",
    ["@data/in/", "@data/", "@data/in/out/", "@DATA/in"],
    ids=["same", "parent", "child", "case"],
)
def test_overwrite_onto_the_jobs_own_parquet_input_is_refused(session: squall.Session, output: str):
    session.create_stage("data")
    put_parquet(session, "@data/in/", {"a.parquet": frame(20), "b.parquet": frame(5, 20)})
    mv = log_times(session)
    before = files_under(session, "@data/")
    with pytest.raises(InvalidSpecError, match=r"overlaps the job's input @data/in"):
        mv.run_batch(
            session.read.parquet("@data/in/"),
            output_spec=OutputSpec(stage_location=output, mode=SaveMode.OVERWRITE),
        )
    assert files_under(session, "@data/") == before  # nothing deleted, nothing written
    assert squall.jobs.list_jobs().empty


def test_output_folder_holding_an_input_file_read_by_glob_is_refused(session):
    session.create_stage("data")
    put_parquet(session, "@data/in/", {"a.parquet": frame(4)})
    mv = log_times(session)
    with pytest.raises(InvalidSpecError, match="overlaps the job's input"):
        mv.run_batch(
            session.read.parquet("@data/in/*.parquet"),
            output_spec=OutputSpec(stage_location="@data/in/", mode=SaveMode.OVERWRITE),
        )
    assert files_under(session, "@data/") == ["@data/in/a.parquet"]


def test_output_holding_files_of_a_file_column_is_refused(session, tmp_path):
    session.create_stage("docs")
    (tmp_path / "a.txt").write_bytes(b"aaa")
    (tmp_path / "b.txt").write_bytes(b"bb")
    session.put(str(tmp_path / "a.txt"), "@docs/keep/")
    session.put(str(tmp_path / "b.txt"), "@docs/in/")
    before = files_under(session, "@docs/")
    mv = Registry(session).log_model(
        FileSizes(custom_model.ModelContext()),
        model_name="sizes",
        sample_input_data=pd.DataFrame({"doc": [b"x"]}),
    )
    how = {"doc": {"input_format": InputFormat.FULL_STAGE_PATH, "convert_to": "raw_bytes"}}
    for doc in ("@docs/in/b.txt", "@DOCS/./in/b.txt"):  # clean, and parsed one by one
        X = pd.DataFrame({"doc": ["@docs/keep/a.txt", doc]})
        with pytest.raises(
            InvalidSpecError, match=r"input row 1: '.*' \(the file lies in the output\)"
        ):
            mv.run_batch(
                X,
                input_spec=InputSpec(column_handling=how),
                output_spec=OutputSpec(stage_location="@docs/in/", mode=SaveMode.OVERWRITE),
            )
    assert files_under(session, "@docs/") == before
    # a file beside the output, not in it, is fine
    X = pd.DataFrame({"doc": ["@docs/keep/a.txt"]})
    job = mv.run_batch(
        X,
        input_spec=InputSpec(column_handling=how),
        output_spec=OutputSpec(stage_location="@docs/inner/"),
    )
    assert job.wait(120) == "DONE", job.message
