"""One live job per output location: a second job is refused, naming the one that holds it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec, SaveMode
from squall.errors import AlreadyExistsError, OutputInUseError
from squall.jobs.submit import _record_job
from tests.e2e.jobtools import poll
from tests.safety.jobs_helpers import folder_of, frame, log_times

_RACER = textwrap.dedent(
    """
    import json, os, sys, time
    import squall
    from squall.batch import InputSpec, JobSpec, OutputSpec
    from squall.registry import Registry
    from tests.safety.jobs_helpers import frame

    home, go, name = sys.argv[1], sys.argv[2], sys.argv[3]
    session = squall.connect(home)
    mv = Registry(session).get_model("times").default
    X = frame(10, start=100 if name == "B" else 0)
    while not os.path.exists(go):  # both processes start run_batch at the same moment
        time.sleep(0.001)
    try:
        job = mv.run_batch(X, input_spec=InputSpec(params={"seconds": 1.0}),
                           output_spec=OutputSpec(stage_location="@out/shared/"),
                           job_spec=JobSpec(job_name="JOB_" + name, num_workers=1))
        print(json.dumps({"job": job.name, "status": job.wait(120)}))
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    """
)


def test_two_jobs_racing_for_one_empty_location_one_is_refused(session, home, tmp_path):
    session.create_stage("out")
    log_times(session)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(home), str(go), name],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for name in ("A", "B")
    ]
    poll(lambda: len(session.catalog.query("SELECT 1 FROM stages")) == 1, 5)
    go.touch()
    results = [json.loads(p.communicate(timeout=180)[0].strip().splitlines()[-1]) for p in procs]
    winners = [r for r in results if "job" in r]
    losers = [r for r in results if "error" in r]
    assert len(winners) == 1 and len(losers) == 1, results
    assert winners[0]["status"] == "DONE"
    # refused before writing anything: either the location was held, or already written
    assert losers[0]["error"] in ("OutputInUseError", "OutputNotEmptyError"), losers
    if losers[0]["error"] == "OutputInUseError":
        assert winners[0]["job"] in losers[0]["message"]
    out = session.read.parquet("@out/shared/").to_pandas()
    start = 0 if winners[0]["job"] == "JOB_A" else 100
    assert sorted(out["id"]) == list(range(start, start + 10))  # only the winner's rows
    assert squall.jobs.list_jobs()["name"].tolist() == [winners[0]["job"]]


SLOW = InputSpec(params={"seconds": 30.0})


def test_a_live_job_holds_its_location_and_nested_ones_until_it_ends(session):
    session.create_stage("out")
    mv = log_times(session)
    first = mv.run_batch(
        frame(4),
        input_spec=SLOW,
        output_spec=OutputSpec(stage_location="@out/a/"),
        job_spec=JobSpec(job_name="FIRST"),
    )
    for location in ("@out/a/", "@out/a/b/", "@out/"):
        with pytest.raises(OutputInUseError, match=r"in use by job FIRST, which writes to @out/a/"):
            mv.run_batch(
                frame(4),
                output_spec=OutputSpec(stage_location=location, mode=SaveMode.OVERWRITE),
            )
    assert squall.jobs.list_jobs()["name"].tolist() == ["FIRST"]
    other = mv.run_batch(frame(4), output_spec=OutputSpec(stage_location="@out/c/"))
    assert other.wait(120) == "DONE"  # a location beside it is free
    first.cancel()
    assert first.wait(60) == "CANCELLED"
    # released by the end: the same location is usable again, and resume re-takes it
    again = mv.run_batch(
        frame(4),
        output_spec=OutputSpec(stage_location="@out/a/", mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(job_name="AGAIN"),
    )
    assert again.wait(120) == "DONE"
    holder = mv.run_batch(
        frame(4),
        input_spec=SLOW,
        output_spec=OutputSpec(stage_location="@out/a/", mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(job_name="HOLDER"),
    )
    with pytest.raises(OutputInUseError, match="in use by job HOLDER"):
        first.resume()
    assert first.status == "CANCELLED"
    holder.cancel()
    assert holder.wait(60) == "CANCELLED"


def test_a_job_name_taken_between_the_check_and_the_insert_is_already_exists(session):
    session.create_stage("out")
    mv = log_times(session)
    job = mv.run_batch(frame(2), output_spec=OutputSpec(stage_location="@out/x/"))
    assert job.wait(120) == "DONE"
    from squall.batch.validate import plan_job

    plan, _ = plan_job(
        session,
        model_name="times",
        version_name=mv.version_name,
        model_path=mv.path,
        X=frame(2),
        input_spec=None,
        output_spec=OutputSpec(stage_location="@out/y/"),
        job_spec=None,
        job_name="OTHER",
        compute_pool=None,
    )
    # the name check passed for OTHER; another run_batch takes the name meanwhile
    with pytest.raises(AlreadyExistsError, match=f"a job named {job.name} exists already"):
        _record_job(session, "someid", job.name, "times", mv.version_name, plan)
    assert folder_of(session, "@out/y/").exists() is False
