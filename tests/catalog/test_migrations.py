"""The catalog's schema version and migrations: workspaces made by earlier squall still open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import squall
from squall import jobs
from squall.batch import OutputSpec
from squall.catalog import Catalog
from squall.catalog.db import MIGRATIONS, SCHEMA_VERSION
from squall.errors import NotSupportedError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame

# A catalog written by squall before its schema had a version (user_version 0): one stage,
# and one job that ran to DONE. Made by that squall's own code; {HOME} stands for the
# workspace it was made in.
_FIXTURE = Path(__file__).parent / "data" / "catalog_unversioned.sql"


def _old_workspace(home: Path) -> Path:
    home.mkdir(parents=True, mode=0o700)  # owner-only, as squall makes a workspace
    (home / "stages" / "results").mkdir(parents=True)
    con = sqlite3.connect(home / "catalog.db")
    try:
        con.executescript(_FIXTURE.read_text().replace("{HOME}", str(home)))
        assert con.execute("PRAGMA user_version").fetchone()[0] == 0
    finally:
        con.close()
    return home


def test_versions_are_ordered_and_end_at_the_schema_version() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert versions[-1] == SCHEMA_VERSION


def test_a_new_catalog_is_at_the_schema_version(tmp_path: Path) -> None:
    assert Catalog(tmp_path / "catalog.db").schema_version() == SCHEMA_VERSION


def test_a_workspace_made_before_versions_opens_and_runs_a_job(tmp_path: Path) -> None:
    home = _old_workspace(tmp_path / "ws")
    session = squall.connect(home)
    assert Catalog(home / "catalog.db").schema_version() == SCHEMA_VERSION
    old = jobs.get_job("OLD_JOB", session=session)
    assert old.status == "DONE"
    mv = Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="doubler", sample_input_data=frame(3)
    )
    job = mv.run_batch(frame(5), output_spec=OutputSpec(stage_location="@results/new/"))
    job.wait()
    assert job.status == "DONE", job.get_logs()
    out = session.read.parquet("@results/new/").to_pandas()
    assert sorted(out["doubled"]) == [0.0, 2.0, 4.0, 6.0, 8.0]
    names = {j["name"] for j in jobs.list_jobs(session=session).to_dict("records")}
    assert {"OLD_JOB", job.name} <= names
    # later steps apply too: the new job's shard attempts are recorded, the old job has none
    assert [a["status"] for a in job.shard_attempts()] == ["DONE"]
    assert old.shard_attempts() == []


def test_a_catalog_from_a_newer_squall_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    Catalog(path)
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(NotSupportedError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Catalog(path)
