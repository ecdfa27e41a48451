"""Helpers for the fault tests: a reference run, and row-by-row output comparison."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import squall
from squall.batch import JobSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from tests.faults.models import Twice, frame

ROWS = 3000
# 6 shards of 500 rows, 4 batches of 125 rows each
SHARD_ROWS = 500
BATCH_ROWS = 125


def job_spec(**kw) -> JobSpec:
    return JobSpec(
        **{"num_workers": 2, "shard_rows": SHARD_ROWS, "max_batch_rows": BATCH_ROWS, **kw}
    )


def read_output(session: squall.Session, location: str) -> pd.DataFrame:
    return session.read.parquet(location).to_pandas().sort_values("id").reset_index(drop=True)


def output_folder(session: squall.Session, location: str) -> Path:
    stage, rel = session.stages.resolve(location)
    return Path(stage.full_path(rel))


def assert_complete(session: squall.Session, location: str, reference: pd.DataFrame) -> None:
    """The output equals ``reference`` row by row, once each, with _SUCCESS and nothing else."""
    out = read_output(session, location)
    assert out["id"].is_unique, "duplicate output rows"
    pd.testing.assert_frame_equal(out, reference)
    folder = output_folder(session, location)
    shards = -(-len(reference) // SHARD_ROWS)
    expected = ["_SUCCESS"] + [f"part-{i:06d}.parquet" for i in range(shards)]
    assert sorted(os.listdir(folder)) == expected  # no temporary file of any attempt


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Output of an uninterrupted run of Twice over ``frame(ROWS)``."""
    s = squall.connect(tmp_path_factory.mktemp("reference"))
    mv = Registry(s).log_model(
        Twice(custom_model.ModelContext()), model_name="twice", sample_input_data=frame(5)
    )
    s.create_stage("results")
    job = mv.run_batch(
        frame(ROWS), output_spec=OutputSpec(stage_location="@results/ref/"), job_spec=job_spec()
    )
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    out = read_output(s, "@results/ref/")
    assert out["y"].tolist() == [2.0 * i for i in range(ROWS)]
    return out


@pytest.fixture
def twice(session: squall.Session):
    session.create_stage("results")
    return Registry(session).log_model(
        Twice(custom_model.ModelContext()), model_name="twice", sample_input_data=frame(5)
    )
