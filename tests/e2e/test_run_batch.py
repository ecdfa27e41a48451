"""Real batch jobs through the supervisor and worker processes, on a fresh workspace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec, SaveMode
from squall.errors import InvalidSpecError, OutputNotEmptyError, StageNotFoundError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, Failing, Nested, TwoFunctions, frame


def read_output(session: squall.Session, location: str) -> pd.DataFrame:
    return session.read.parquet(location).to_pandas().sort_values("id").reset_index(drop=True)


def success_file(session: squall.Session, location: str) -> Path:
    stage, rel = session.stages.resolve(location)
    return Path(stage.full_path(rel)) / "_SUCCESS"


def worker_pids(job) -> list[int]:
    return [int(p) for p in re.findall(r"ready \(pid (\d+)\)", job.get_logs())]


@pytest.fixture
def results(session: squall.Session) -> str:
    session.create_stage("results")
    return "@results"


@pytest.fixture
def doubler(session: squall.Session):
    return Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="doubler", sample_input_data=frame(5)
    )


def test_sql_input_with_sklearn_model_matches_direct_predictions(session, results):
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.standard_normal((500, 3)), columns=["a", "b", "c"])
    clf = LogisticRegression().fit(train, (train.a + train.b > 0).astype(int))
    mv = Registry(session).log_model(
        clf, model_name="clf", version_name="v1", sample_input_data=train
    )
    data = pd.DataFrame(rng.standard_normal((20_000, 3)), columns=["a", "b", "c"])
    data.insert(0, "id", np.arange(len(data), dtype="int64"))
    data["note"] = [f"row {i}" for i in range(len(data))]
    session.create_table("points", data)

    job = mv.run_batch(
        session.sql("SELECT id, note, a, b, c FROM points"),
        output_spec=OutputSpec(stage_location=f"{results}/clf/"),
        job_spec=JobSpec(
            function_name="predict_proba", num_workers=2, shard_rows=3000, max_batch_rows=1000
        ),
    )
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    out = read_output(session, f"{results}/clf/")
    assert list(out.columns[:5]) == ["id", "note", "a", "b", "c"]
    assert len(out) == 20_000
    expected = clf.predict_proba(data[["a", "b", "c"]])
    np.testing.assert_allclose(out["output_feature_0"], expected[:, 0], rtol=1e-12)
    np.testing.assert_allclose(out["output_feature_1"], expected[:, 1], rtol=1e-12)
    assert out["note"].tolist() == data["note"].tolist()
    assert success_file(session, f"{results}/clf/").exists()
    parts = sorted(f.path for f in session.list_stage(f"{results}/clf/"))
    assert parts == ["@results/clf/_SUCCESS"] + [
        f"@results/clf/part-{i:06d}.parquet" for i in range(7)
    ]
    p = job.progress
    assert (p.rows_done, p.rows_total, p.shards_done, p.shards_total) == (20_000, 20_000, 7, 7)
    for pid in worker_pids(job):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("kind", ["pandas", "arrow", "polars", "squall"])
def test_in_memory_inputs_and_custom_model_from_test_module(session, results, doubler, kind):
    data = frame(1000)
    X = {
        "pandas": lambda: data,
        "arrow": lambda: pa.Table.from_pandas(data),
        "polars": lambda: __import__("polars").from_pandas(data),
        "squall": lambda: session.create_dataframe(data),
    }[kind]()
    job = doubler.run_batch(
        X,
        input_spec=InputSpec(params={"FACTOR": 3.0}),
        output_spec=OutputSpec(stage_location=f"{results}/{kind}"),
        job_spec=JobSpec(num_workers=1, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = read_output(session, f"{results}/{kind}/")
    assert out["doubled"].tolist() == (data["x"] * 3.0).tolist()
    assert out["id"].tolist() == data["id"].tolist()


def test_nested_outputs_are_json_strings(session, results):
    mv = Registry(session).log_model(
        Nested(custom_model.ModelContext()), model_name="nested", sample_input_data=frame(3)
    )
    job = mv.run_batch(
        frame(10),
        output_spec=OutputSpec(stage_location=f"{results}/n/"),
        job_spec=JobSpec(block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = read_output(session, f"{results}/n/")
    assert json.loads(out["vec"][4]) == [4.0, 5.0]
    assert json.loads(out["meta"][4]) == {"x": 4, "tag": "t"}


def test_failing_model_fails_job_with_traceback_and_no_success(session, results):
    mv = Registry(session).log_model(
        Failing(custom_model.ModelContext()), model_name="failing", sample_input_data=frame(3)
    )
    job = mv.run_batch(
        frame(100),
        output_spec=OutputSpec(stage_location=f"{results}/f/"),
        job_spec=JobSpec(num_workers=1, max_batch_rows=10),
    )
    assert job.wait(timeout=120) == "FAILED"
    assert "unlucky row x == 13" in job.message
    assert "input rows 0..99" in job.message
    logs = job.get_logs()
    assert "Traceback" in logs and "ValueError: unlucky row x == 13" in logs
    assert any(
        ln.startswith("[w0] ") and ln.endswith(" about to fail on x == 13")
        for ln in logs.splitlines()
    )
    assert not success_file(session, f"{results}/f/").exists()
    for pid in worker_pids(job):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_base_stage_location_uses_job_name(session, results, doubler):
    job = doubler.run_batch(
        frame(10),
        output_spec=OutputSpec(base_stage_location=f"{results}/nightly/"),
        job_spec=JobSpec(job_name_prefix="NIGHTLY", block=True),
    )
    assert re.fullmatch(r"NIGHTLY_[0-9A-F]{32}", job.name)
    assert job.output_location == f"@results/nightly/{job.name}/"
    assert len(read_output(session, job.output_location)) == 10
    default = doubler.run_batch(
        frame(3), output_spec=OutputSpec(base_stage_location=f"{results}/nightly")
    )
    assert default.name.startswith("BATCH_INFERENCE_")
    assert default.wait(timeout=120) == "DONE"


def test_save_modes(session, results, doubler):
    loc = f"{results}/modes/"
    assert (
        doubler.run_batch(
            frame(5), output_spec=OutputSpec(stage_location=loc), job_spec=JobSpec(block=True)
        ).status
        == "DONE"
    )
    with pytest.raises(OutputNotEmptyError) as err:
        doubler.run_batch(frame(5), output_spec=OutputSpec(stage_location=loc))
    assert "@results/modes/part-000000.parquet" in str(err.value)
    assert "@results/modes/_SUCCESS" in str(err.value)
    job = doubler.run_batch(
        frame(3),
        output_spec=OutputSpec(stage_location=loc, mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(block=True),
    )
    assert job.status == "DONE"
    assert len(read_output(session, loc)) == 3


def _nothing_written(session) -> None:
    assert squall.jobs.list_jobs(session=session).empty
    assert list((session.home / "jobs").iterdir()) == []


def test_misuse_fails_fast_and_writes_nothing(session, results):
    reg = Registry(session)
    mv = reg.log_model(
        TwoFunctions(custom_model.ModelContext()), model_name="two", sample_input_data=frame(3)
    )
    out = OutputSpec(stage_location=f"{results}/x/")
    with pytest.raises(InvalidSpecError, match=r"several functions.*predict.*score"):
        mv.run_batch(frame(3), output_spec=out)
    with pytest.raises(InvalidSpecError, match=r"'nope'.*predict.*score"):
        mv.run_batch(frame(3), output_spec=out, job_spec=JobSpec(function_name="nope"))
    with pytest.raises(InvalidSpecError, match="not both"):
        JobSpec(job_name="A", job_name_prefix="B")
    with pytest.raises(InvalidSpecError, match="exactly one"):
        OutputSpec()
    with pytest.raises(InvalidSpecError, match="exactly one"):
        OutputSpec(stage_location="@results/a/", base_stage_location="@results/b/")
    with pytest.raises(StageNotFoundError, match="nostage"):
        mv.run_batch(
            frame(3),
            output_spec=OutputSpec(stage_location="@nostage/x/"),
            job_spec=JobSpec(function_name="score"),
        )
    with pytest.raises(
        InvalidSpecError, match=r"'x' is not a column of X; X has columns \['id', 'missing'\]"
    ):
        mv.run_batch(
            frame(3).rename(columns={"x": "missing"}),
            output_spec=out,
            job_spec=JobSpec(function_name="score"),
        )
    with pytest.raises(InvalidSpecError, match="'IMG'"):
        mv.run_batch(
            frame(3),
            output_spec=out,
            input_spec=InputSpec(
                column_handling={
                    "IMG": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}
                }
            ),
            job_spec=JobSpec(function_name="score"),
        )
    _nothing_written(session)
    assert session.list_stage(f"{results}/") == []


def test_function_names_match_case_insensitively_and_columns_too(session, results):
    mv = Registry(session).log_model(
        TwoFunctions(custom_model.ModelContext()), model_name="two", sample_input_data=frame(3)
    )
    data = frame(4).rename(columns={"x": "X"})
    job = mv.run_batch(
        data,
        output_spec=OutputSpec(stage_location=f"{results}/s/"),
        job_spec=JobSpec(function_name="SCORE", block=True),
    )
    assert job.status == "DONE", job.get_logs()
    assert read_output(session, f"{results}/s/")["s"].tolist() == [0.0, 0.5, 1.0, 1.5]


def test_job_is_visible_from_another_process(session, results, doubler, tmp_path):
    import subprocess
    import sys

    job = doubler.run_batch(
        frame(10),
        output_spec=OutputSpec(stage_location=f"{results}/p/"),
        job_spec=JobSpec(block=True),
    )
    code = (
        "import squall, sys; s = squall.connect(sys.argv[1]); j = squall.jobs.get_job(sys.argv[2]);"
        "print(j.status, j.progress.rows_done)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(session.home), job.name],
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.split() == ["DONE", "10"]


def test_output_parts_are_plain_parquet(session, results, doubler):
    job = doubler.run_batch(
        frame(50),
        output_spec=OutputSpec(stage_location=f"{results}/q/"),
        job_spec=JobSpec(block=True),
    )
    assert job.status == "DONE"
    stage, rel = session.stages.resolve(f"{results}/q/")
    table = pq.read_table(Path(stage.full_path(rel)) / "part-000000.parquet")
    assert table.schema.names == ["id", "x", "doubled"]
    assert table.num_rows == 50
