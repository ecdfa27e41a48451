"""Found by reading the code: resume of Parquet read in place, partitioned row numbers in
file errors, and the bounded search for bad rows."""

from __future__ import annotations

import pandas as pd

import squall
from squall.batch import InputFormat, InputSpec, JobSpec, OutputSpec
from squall.model import custom_model
from squall.model.signature import DataType, FeatureSpec, ModelSignature
from squall.registry import Registry
from tests.safety.jobs_helpers import frame, put_parquet
from tests.safety.jobs_models import AlwaysFails, FailsWhileFlagged, FileSizes


def test_a_job_over_parquet_read_in_place_can_be_resumed(session, tmp_path):
    session.create_stage("data")
    session.create_stage("out")
    flag = tmp_path / "flag"
    X = frame(6).assign(flag=str(flag))
    put_parquet(session, "@data/in/", {"a.parquet": X})
    mv = Registry(session).log_model(
        FailsWhileFlagged(custom_model.ModelContext()), model_name="flagged", sample_input_data=X
    )
    flag.touch()
    job = mv.run_batch(
        session.read.parquet("@data/in/"), output_spec=OutputSpec(stage_location="@out/r/")
    )
    assert job.wait(120) == "FAILED"
    flag.unlink()
    job.resume()
    assert job.wait(120) == "DONE", job.message
    out = session.read.parquet("@out/r/").to_pandas()
    assert sorted(out["id"]) == list(range(6))


def test_a_partitioned_run_names_the_input_row_of_a_missing_file(session, tmp_path):
    session.create_stage("docs")
    session.create_stage("out")
    for name in ("a", "b", "c", "d"):
        (tmp_path / f"{name}.txt").write_bytes(name.encode())
    session.put(str(tmp_path / "*.txt"), "@docs/")
    mv = Registry(session).log_model(
        FileSizes(custom_model.ModelContext()),
        model_name="sizes",
        sample_input_data=pd.DataFrame({"doc": [b"x"]}),
        options={"function_type": "TABLE_FUNCTION"},
    )
    # store 1 has the most rows, so its rows (input rows 1, 3, 4) are staged first
    X = pd.DataFrame(
        {
            "store": [2, 1, 2, 1, 1],
            "doc": ["@docs/a.txt", "@docs/b.txt", "@docs/c.txt", "@docs/gone.txt", "@docs/d.txt"],
        }
    )
    how = {"doc": {"input_format": InputFormat.FULL_STAGE_PATH, "convert_to": "raw_bytes"}}
    job = mv.run_batch(
        X,
        input_spec=InputSpec(column_handling=how, partition_column="store"),
        output_spec=OutputSpec(stage_location="@out/p/"),
        job_spec=JobSpec(num_workers=1),
    )
    assert job.wait(120) == "FAILED"
    assert "file @docs/gone.txt (column 'doc', input row 3)" in job.message, job.message


def _log_fails(session: squall.Session):
    sig = ModelSignature(
        inputs=[FeatureSpec("x", DataType.DOUBLE)], outputs=[FeatureSpec("y", DataType.DOUBLE)]
    )
    return Registry(session).log_model(
        AlwaysFails(custom_model.ModelContext()), model_name="fails", signatures={"predict": sig}
    )


def _run_failing(session: squall.Session, location: str, rows: int, **spec):
    """A job of one batch of ``rows`` rows, every one of which fails, with on_error=continue."""
    return _log_fails(session).run_batch(
        frame(rows),
        output_spec=OutputSpec(stage_location=location),
        job_spec=JobSpec(
            num_workers=1, max_batch_rows=rows, shard_rows=rows, on_error="continue", **spec
        ),
    )


def _calls(job: squall.jobs.Job) -> int:
    return job.get_logs().count("model call of")


def test_a_model_failing_every_row_is_not_bisected_without_bound(session):
    session.create_stage("out")
    rows = 3000
    job = _run_failing(session, "@out/all/", rows)
    assert job.wait(300) == "DONE", job.message
    # the budget, plus one call per level of halving still pending; uncapped: 2 * rows - 1
    assert _calls(job) <= rows // 2 + 1024 + 12
    out = session.read.parquet("@out/all/").to_pandas()
    assert out["_ERROR"].notna().all()
    assert out["_ERROR"].str.contains("not isolated").any()


def test_bisection_stops_once_max_error_rate_is_certain_to_be_exceeded(session):
    session.create_stage("out")
    job = _run_failing(session, "@out/rate/", 3000, max_error_rate=0.05)
    assert job.wait(300) == "FAILED"
    assert "more than max_error_rate=0.05" in job.message, job.message
    assert _calls(job) < 400  # 151 bad rows settle it
