"""Bad rows: on_error='fail' names them, on_error='continue' isolates them, row by row."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from tests.faults.conftest import output_folder, read_output
from tests.faults.models import BadRows, BigBatches, Malformed, Twice, frame

N = 1000
SPEC = {"num_workers": 2, "shard_rows": 250, "max_batch_rows": 100}


def register(session: squall.Session, model_class: type, name: str):
    if not session.list_stages():
        session.create_stage("results")
    return Registry(session).log_model(
        model_class(custom_model.ModelContext()), model_name=name, sample_input_data=frame(5)
    )


def run(mv, location: str, params: dict | None = None, **spec) -> squall.jobs.Job:
    job = mv.run_batch(
        frame(N),
        input_spec=InputSpec(params=params),
        output_spec=OutputSpec(stage_location=location),
        job_spec=JobSpec(**{**SPEC, **spec}),
    )
    job.wait(timeout=120)
    return job


def expected(bad: set[int], error: dict[int, str]) -> pd.DataFrame:
    """What a clean run of y = 2x gives, with the bad rows' outputs null and their errors."""
    df = frame(N)
    df["y"] = [None if i in bad else 2.0 * i for i in range(N)]
    df["y"] = df["y"].astype("float64")
    df["_ERROR"] = pd.Series([error.get(i) for i in range(N)], dtype="str")
    return df


def test_continue_isolates_bad_rows_and_counts_them(session):
    mv = register(session, BadRows, "bad")
    job = run(mv, "@results/b/", on_error="continue")
    assert job.status == "DONE", job.get_logs()
    bad = {i for i in range(N) if i % 100 == 37}
    out = read_output(session, "@results/b/")
    want = expected(bad, {i: f"ValueError: cannot score x == {i}" for i in bad})
    pd.testing.assert_frame_equal(out, want)
    assert (output_folder(session, "@results/b/") / "_SUCCESS").exists()
    assert job.progress.error_rows == len(bad) == 10
    listed = squall.jobs.list_jobs(session=session)
    assert listed.loc[listed.name == job.name, "error_rows"].item() == 10
    assert f"({len(bad)} with errors in _ERROR)" in job.message
    assert "input row 37 failed: ValueError: cannot score x == 37" in job.get_logs()


def test_fail_names_the_failing_batch_rows(session):
    mv = register(session, BadRows, "bad")
    job = run(mv, "@results/f/", num_workers=1)
    assert job.status == "FAILED"
    assert "shard 0 (input rows 0..249)" in job.message
    assert "in its batch of input rows 0..99" in job.message
    assert "ValueError: cannot score x == 37" in job.message
    assert not (output_folder(session, "@results/f/") / "_SUCCESS").exists()


def test_a_batch_level_failure_is_recovered_by_splitting(session):
    mv = register(session, BigBatches, "big")
    job = run(mv, "@results/s/", on_error="continue")
    assert job.status == "DONE", job.get_logs()
    out = read_output(session, "@results/s/")
    pd.testing.assert_frame_equal(out, expected(set(), {}))
    assert job.progress.error_rows == 0


def test_error_column_only_with_continue(session):
    mv = register(session, Twice, "twice")
    job = run(mv, "@results/c/")
    assert job.status == "DONE"
    assert list(read_output(session, "@results/c/").columns) == ["id", "x", "y"]


@pytest.mark.parametrize(
    "how, message",
    [
        ("rows", "returned 99 row(s) for 100 input row(s)"),
        ("column", "output is missing column(s) y; it returned column(s) z"),
        ("type", "output column 'y'"),
    ],
)
def test_output_breaking_the_signature_is_an_error_of_its_batch(session, how, message):
    mv = register(session, Malformed, "malformed")
    job = run(mv, f"@results/{how}/", params={"how": how}, num_workers=1)
    assert job.status == "FAILED"
    assert "ModelOutputError" in job.message and message in job.message
    assert "in its batch of input rows 0..99" in job.message

    job = run(mv, f"@results/{how}2/", params={"how": how}, on_error="continue")
    assert job.status == "DONE", job.get_logs()
    out = read_output(session, f"@results/{how}2/")
    assert out.loc[out.x != 25, "_ERROR"].isna().all()
    assert out["y"].isna().tolist() == (out.x == 25).tolist()
    error = out.loc[out.x == 25, "_ERROR"].item()
    assert error.startswith("ModelOutputError: ")
    if how != "rows":  # a single row cannot return fewer rows: a one-row batch returns none
        assert message in error
    assert job.progress.error_rows == 1


def test_max_error_rate(session):
    mv = register(session, BadRows, "bad")
    job = run(mv, "@results/r1/", on_error="continue", max_error_rate=0.005)
    assert job.status == "FAILED"
    # it fails as soon as the errors pass the rate: 6 or more of the 10 bad rows were seen
    found = re.search(
        r"(\d+) of 1000 rows failed \(.*\), more than max_error_rate=0.005", job.message
    )
    assert found and 5 < int(found[1]) <= 10, job.message
    assert re.search(r"first: input row (\d*)37: ValueError: cannot score x == \1", job.message)
    assert not (output_folder(session, "@results/r1/") / "_SUCCESS").exists()

    job = run(mv, "@results/r2/", on_error="continue", max_error_rate=0.01)
    assert job.status == "DONE", job.get_logs()
    assert job.progress.error_rows == 10
