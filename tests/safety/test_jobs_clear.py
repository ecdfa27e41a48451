"""Clearing an output is the last step before a job starts, and OVERWRITE says what it removes."""

from __future__ import annotations

import warnings

import pytest

import squall
from squall.batch import JobSpec, OutputSpec, SaveMode
from squall.errors import InvalidSpecError
from tests.safety.jobs_helpers import files_under, frame, log_times, put_parquet


@pytest.fixture
def old_output(session: squall.Session) -> list[str]:
    session.create_stage("out")
    put_parquet(session, "@out/r/", {"old1.parquet": frame(2), "old2.parquet": frame(2)})
    return files_under(session, "@out/")


def test_a_job_name_too_long_for_a_folder_is_refused_before_the_output_is_cleared(
    session, old_output
):
    mv = log_times(session)
    with pytest.raises(InvalidSpecError, match=r"job_name.*300 characters, at most"):
        mv.run_batch(
            frame(3),
            output_spec=OutputSpec(stage_location="@out/r/", mode=SaveMode.OVERWRITE),
            job_spec=JobSpec(job_name="J" * 300),
        )
    assert files_under(session, "@out/") == old_output
    assert squall.jobs.list_jobs().empty


def test_overwrite_warns_how_many_files_it_removes_before_removing_them(session, old_output):
    mv = log_times(session)
    with pytest.warns(UserWarning) as caught:
        job = mv.run_batch(
            frame(3),
            output_spec=OutputSpec(stage_location="@out/r/", mode=SaveMode.OVERWRITE),
        )
    [warning] = [w for w in caught if "OVERWRITE" in str(w.message)]
    text = str(warning.message)
    assert "Output stage location '@out/r/' is not empty" in text
    assert "Found 2 existing files" in text
    assert "OVERWRITE mode will remove all existing files" in text
    assert warning.filename == __file__  # points at the caller's line
    assert job.wait(120) == "DONE"
    assert files_under(session, "@out/r/") == ["@out/r/_SUCCESS", "@out/r/part-000000.parquet"]


def test_overwrite_of_an_empty_location_does_not_warn(session):
    session.create_stage("out")
    mv = log_times(session)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        job = mv.run_batch(
            frame(3), output_spec=OutputSpec(stage_location="@out/new/", mode=SaveMode.OVERWRITE)
        )
    assert job.wait(120) == "DONE"
