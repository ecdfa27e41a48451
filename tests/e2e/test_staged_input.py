"""A query's rows are staged as shards: the shards grow as staging goes on, and a committed
shard's staged rows are deleted while the job still runs."""

from __future__ import annotations

import os
import time

import pandas as pd
import pyarrow as pa

import squall
from squall.batch import JobSpec, OutputSpec
from squall.batch.staging import stage_batches
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import frame


class Gated(custom_model.CustomModel):
    """Rows from x >= 10 on wait for the file SQUALL_TEST_GATE names (at most a minute)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if X["x"].max() >= 10:
            deadline = time.monotonic() + 60
            gate = os.environ["SQUALL_TEST_GATE"]
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.02)
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64") * 2})


def _until(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_committed_shards_staged_rows_are_deleted_while_the_job_runs(
    session: squall.Session, tmp_path, monkeypatch
) -> None:
    gate = tmp_path / "open"
    monkeypatch.setenv("SQUALL_TEST_GATE", str(gate))
    session.create_stage("out")
    session.create_table("t", frame(30))
    mv = Registry(session).log_model(
        Gated(custom_model.ModelContext()), model_name="gated", sample_input_data=frame(3)
    )
    job = mv.run_batch(
        session.sql("SELECT * FROM t"),
        output_spec=OutputSpec(stage_location="@out/g/"),
        job_spec=JobSpec(num_workers=1, shard_rows=10, max_batch_rows=10),
    )
    staged = job.scratch_dir / "input"
    first, second = staged / "shard-000000.arrow", staged / "shard-000001.arrow"
    # shard 0 is committed and shard 1 waits at the gate: only shard 0's rows are gone
    _until(lambda: not first.exists() and job.status == "RUNNING", "shard 0's input to go")
    assert second.exists()
    gate.touch()
    assert job.wait(timeout=120) == "DONE"
    out = session.read.parquet("@out/g/").to_pandas().sort_values("id")
    assert out["y"].tolist() == [2.0 * i for i in range(30)]


def test_shards_of_unknown_input_double_up_to_the_ceiling(tmp_path) -> None:
    table = pa.table({"x": list(range(200))})
    shards = stage_batches(
        iter(table.to_batches(max_chunksize=7)), table.schema, tmp_path, 10, max_shard_rows=40
    )
    assert [s.rows for s in shards] == [10, 20, 40, 40, 40, 40, 10]
    assert [s.first_row for s in shards] == [0, 10, 30, 70, 110, 150, 190]
    assert pa.concat_tables(pa.ipc.open_file(s.path).read_all() for s in shards).column(
        "x"
    ).to_pylist() == list(range(200))
    same = stage_batches(iter(table.to_batches()), table.schema, tmp_path / "b", 50)
    assert [s.rows for s in same] == [50, 50, 50, 50]
