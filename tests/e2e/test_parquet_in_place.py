"""run_batch over Parquet on a stage reads the files in place: same output, no staged copy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from squall.batch import JobSpec, OutputSpec
from squall.batch.parquet_shards import read_parquet_ref, reference_shards
from squall.errors import InputChangedError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame


@pytest.fixture
def doubler(session):
    return Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="doubler", sample_input_data=frame(5)
    )


def _write_parts(folder: Path, sizes: list[int], row_group: int) -> pd.DataFrame:
    folder.mkdir(parents=True)
    start, frames = 0, []
    for i, n in enumerate(sizes):
        part = pd.DataFrame(
            {"id": np.arange(start, start + n, dtype="int64"), "x": np.arange(n) * 0.5}
        )
        pq.write_table(
            pa.Table.from_pandas(part), folder / f"p{i}.parquet", row_group_size=row_group
        )
        frames.append(part)
        start += n
    return pd.concat(frames, ignore_index=True)


def _shard_paths(session, job) -> list[str]:
    rows = session.catalog.query("SELECT path FROM shards WHERE job_id = ?", (job.id,))
    return [r["path"] for r in rows]


def test_parquet_on_a_stage_is_read_in_place(session, doubler, tmp_path):
    session.create_stage("data")
    session.create_stage("results")
    expected = _write_parts(tmp_path / "in", [2500, 1200, 0], row_group=400)
    session.put(str(tmp_path / "in") + "/", "@data/in/")

    job = doubler.run_batch(
        session.read.parquet("@data/in/"),
        output_spec=OutputSpec(stage_location="@results/out/"),
        job_spec=JobSpec(num_workers=2, shard_rows=1000, max_batch_rows=300),
    )
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    out = session.read.parquet("@results/out/").to_pandas().sort_values("id")
    assert out["id"].tolist() == expected["id"].tolist()
    np.testing.assert_array_equal(out["doubled"], expected["x"] * 2)
    # Whole 400-row groups, at least 1000 rows a shard, never across files.
    rows = session.catalog.query(
        "SELECT rows FROM shards WHERE job_id = ? ORDER BY shard", (job.id,)
    )
    assert [r["rows"] for r in rows] == [1200, 1200, 100, 1200]
    assert not any(p.endswith(".arrow") for p in _shard_paths(session, job))


def test_files_with_different_schemas_are_staged_and_still_right(session, doubler, tmp_path):
    session.create_stage("data")
    session.create_stage("results")
    folder = tmp_path / "mixed"
    folder.mkdir()
    pq.write_table(
        pa.table({"id": pa.array([0, 1], pa.int64()), "x": [1.0, 2.0]}), folder / "a.parquet"
    )
    pq.write_table(pa.table({"id": pa.array([2], pa.int32()), "x": [3.0]}), folder / "b.parquet")
    session.put(str(folder) + "/", "@data/mixed/")

    job = doubler.run_batch(
        session.read.parquet("@data/mixed/"),
        output_spec=OutputSpec(stage_location="@results/mixed/"),
    )
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    out = session.read.parquet("@results/mixed/").to_pandas().sort_values("id")
    assert out["doubled"].tolist() == [2.0, 4.0, 6.0]


def test_a_file_changed_after_submission_is_refused(tmp_path):
    _write_parts(tmp_path / "in", [100], row_group=50)
    path = tmp_path / "in" / "p0.parquet"
    shards = reference_shards(pads.dataset([str(path)], format="parquet"), shard_rows=50)
    assert [s.rows for s in shards] == [50, 50]
    assert sum(b.num_rows for b in read_parquet_ref(shards[1].path, 20)) == 50

    pq.write_table(pa.table({"id": pa.array([7], pa.int64()), "x": [0.0]}), path)
    os.utime(path, ns=(0, 0))
    with pytest.raises(InputChangedError, match=str(path)):
        list(read_parquet_ref(shards[0].path, 20))
