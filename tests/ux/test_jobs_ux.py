"""A new user's job from Python: types caught at run_batch, shards sized, a quiet or drawn wait."""

from __future__ import annotations

import pandas as pd
import pytest

import squall
from squall import jobs
from squall.batch import JobSpec, OutputSpec
from squall.batch.specs import JobSpec as Spec
from squall.errors import SignatureError
from squall.jobs.submit import size_shards
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame


@pytest.fixture
def dbl(session: squall.Session):
    session.create_stage("out")
    return Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="dbl", sample_input_data=frame(3)
    )


def test_a_text_column_where_the_signature_wants_numbers_fails_run_batch(session, dbl) -> None:
    # every input kind whose schema is known: a pandas frame, a table, a query
    text = pd.DataFrame({"id": [1, 2], "x": ["1.5", "oops"]})
    session.create_table("texty", text)
    for X in (text, session.table("texty"), session.sql("SELECT * FROM texty")):
        with pytest.raises(SignatureError, match=r"column 'x' of X has type .*string.*DOUBLE"):
            dbl.run_batch(X, output_spec=OutputSpec(stage_location="@out/t/"))
    assert jobs.list_jobs(session=session).empty  # nothing was started
    assert session.list_stage("@out/") == []


def test_shards_are_sized_from_the_input_and_the_workers() -> None:
    assert size_shards(Spec(), 65_536, False, 50, 2)[:2] == (65_536, 1)
    rows, workers, why = size_shards(Spec(), 1_000, False, 80_000, 4)
    assert (rows, workers) == (5_000, 4) and "4 shards per worker" in why
    assert size_shards(Spec(), 1_000, False, None, 4)[1:] == (4, why_unknown())
    assert size_shards(Spec(shard_rows=10), 1_000, False, 25, 8)[:2] == (10, 3)
    # a large table: bigger shards (a few per worker), up to a ceiling; files keep small ones
    assert size_shards(Spec(), 1_000, False, 4_000_000, 2)[:2] == (500_000, 2)
    assert size_shards(Spec(), 1_000, False, 20_000_000, 2)[:2] == (1_048_576, 2)
    assert size_shards(Spec(), 256, True, 4_000_000, 2)[:2] == (1_024, 2)


def why_unknown() -> str:
    return (
        "input size unknown before staging: shards from 131,072 rows, each twice the one "
        "before, up to 1,048,576"
    )


def test_small_input_on_two_workers_runs_on_one_and_says_why(session, dbl, capsys) -> None:
    job = dbl.run_batch(
        frame(50),
        output_spec=OutputSpec(stage_location="@out/small/"),
        job_spec=JobSpec(num_workers=2),
    )
    assert job.wait(timeout=120) == "DONE"  # not a terminal: no bar
    assert capsys.readouterr().err == ""
    assert len(job.info()["worker_pids"]) == 1
    first = job.get_logs().splitlines()[0]
    assert first.startswith("[supervisor] ") and "on 1 worker(s)" in first
    assert "need only 1 of the 2 workers" in first
    assert job.wait(progress=True) == "DONE"  # asked for: drawn even off a terminal
    assert "50/50 rows" in capsys.readouterr().err


def test_temporary_parts_are_never_listed(session) -> None:
    session.create_stage("s")
    stage = session.stages.stage("s")
    stage.write_bytes("out/part-000000.parquet", b"x")
    stage.write_bytes("out/.part-000001.parquet.0123456789abcdef0123456789abcdef.tmp", b"y")
    assert [f.path for f in session.list_stage("@s/out/")] == ["@s/out/part-000000.parquet"]
