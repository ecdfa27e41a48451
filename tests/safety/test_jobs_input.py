"""Bad and unusual input: corrupt Parquet, no rows, values of the wrong type."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

import squall
from squall.batch import OutputSpec
from squall.errors import InvalidArgumentError, SignatureError, SquallError
from tests.safety.jobs_helpers import folder_of, frame, log_times, put_parquet


@pytest.fixture
def corrupt(session: squall.Session) -> str:
    """``@data/in/`` with one good file and one truncated one (``b.parquet``)."""
    session.create_stage("data")
    put_parquet(session, "@data/in/", {"a.parquet": frame(5), "b.parquet": frame(5, 5)})
    bad = folder_of(session, "@data/in/b.parquet")
    bad.write_bytes(bad.read_bytes()[:40])
    return "@data/in/"


def _no_local_path(session: squall.Session, message: str) -> None:
    assert str(session.home) not in message and "/stages/" not in message, message


def test_run_batch_over_a_corrupt_parquet_file_names_its_stage_path(session, corrupt):
    session.create_stage("out")
    mv = log_times(session)
    X = session.read.parquet(corrupt)  # lazy: the files are opened when read
    with pytest.raises(
        InvalidArgumentError, match=r"@data/in/b\.parquet is not a readable Parquet"
    ) as e:
        mv.run_batch(X, output_spec=OutputSpec(stage_location="@out/r/"))
    assert isinstance(e.value, SquallError)
    _no_local_path(session, str(e.value))
    assert squall.jobs.list_jobs().empty  # a run_batch that never started leaves no job
    assert session.list_stage("@out/") == []


def test_create_table_from_a_corrupt_parquet_file_names_its_stage_path(session, corrupt):
    with pytest.raises(InvalidArgumentError, match=r"@data/in/b\.parquet is not a readable") as e:
        session.create_table("t", "@data/in/*.parquet")
    _no_local_path(session, str(e.value))


def test_an_empty_input_writes_one_empty_part_with_every_output_column(session):
    session.create_stage("out")
    mv = log_times(session)
    job = mv.run_batch(frame(0), output_spec=OutputSpec(stage_location="@out/empty/"))
    assert job.wait(120) == "DONE", job.get_logs()
    folder = folder_of(session, "@out/empty/")
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", "part-000000.parquet"]
    out = session.read.parquet("@out/empty/").to_pandas()
    assert list(out.columns) == ["id", "x", "y"] and len(out) == 0
    assert str(pq.read_schema(folder / "part-000000.parquet").field("y").type) == "double"


def test_an_empty_parquet_input_read_in_place_writes_an_empty_part(session):
    session.create_stage("data")
    session.create_stage("out")
    put_parquet(session, "@data/none/", {"a.parquet": frame(0)})
    mv = log_times(session)
    job = mv.run_batch(
        session.read.parquet("@data/none/"), output_spec=OutputSpec(stage_location="@out/e/")
    )
    assert job.wait(120) == "DONE", job.get_logs()
    assert list(session.read.parquet("@out/e/").to_pandas().columns) == ["id", "x", "y"]


def test_bytes_where_the_signature_wants_a_double_are_refused(session):
    session.create_stage("out")
    mv = log_times(session)
    X = pd.DataFrame({"id": [1, 2], "x": [b"\x00\x01", b"zz"]})
    with pytest.raises(SignatureError, match=r"column 'x' of X has type binary .* DOUBLE"):
        mv.run_batch(X, output_spec=OutputSpec(stage_location="@out/b/"))
    assert squall.jobs.list_jobs().empty
    with pytest.raises(SignatureError, match=r"input column 'x' holds bytes values"):
        mv.run(X)
    mixed = pd.DataFrame({"id": [1, 2], "x": pd.Series([1.5, b"zz"], dtype=object)})
    with pytest.raises(SignatureError, match=r"input column 'x' holds mixed values"):
        mv.run(mixed)
