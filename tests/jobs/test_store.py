"""The job store: recording, staging, cancelling, resuming and listing jobs in a real catalog."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from squall.catalog import Catalog
from squall.jobs import store as js
from squall.jobs.store import JobStore, NewJob, ShardEntry


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore.on(Catalog(tmp_path / "catalog.db"))


def _new(job_id: str, name: str, location: str = "@out/a/", model: str = "M") -> NewJob:
    return NewJob(job_id, name, model, "V1", "predict", location, "LOCAL", "{}")


def _accept(active: list[dict[str, Any]]) -> None:
    return None


def _staged(store: JobStore, job_id: str, name: str, shards: int = 2) -> None:
    store.record_job(_new(job_id, name), _accept)
    for n in range(shards):
        assert store.add_shard(job_id, n, f"input/{n}.arrow", 10, 10 * n)
    store.staging_done(job_id)


def test_a_recorded_job_is_pending_and_staging_until_its_shards_are_recorded(store):
    store.record_job(_new("j1", "JOB_1"), _accept)
    row = store.job("j1")
    assert row is not None
    assert (row["status"], row["message"], row["staging"]) == ("PENDING", "staging input", 1)
    assert store.add_shard("j1", 0, "input/0.arrow", 7, 0)
    assert store.add_shards("j1", [(1, "input/1.arrow", 2, 7), (2, "input/2.arrow", 1, 9)])
    store.staging_done("j1")
    row = store.job("j1")
    assert row is not None
    assert (row["rows_total"], row["shards_total"], row["staging"], row["message"]) == (
        10,
        3,
        0,
        None,
    )
    assert store.shard_entries("j1") == [
        ShardEntry(0, "input/0.arrow", "PENDING"),
        ShardEntry(1, "input/1.arrow", "PENDING"),
        ShardEntry(2, "input/2.arrow", "PENDING"),
    ]


def test_the_check_sees_the_other_active_jobs_and_a_refusal_records_nothing(store):
    _staged(store, "j1", "JOB_1")
    seen: list[list[str]] = []

    def refuse(active: list[dict[str, Any]]) -> None:
        seen.append([r["id"] for r in active])
        raise RuntimeError("held")

    with pytest.raises(RuntimeError, match="held"):
        store.record_job(_new("j2", "JOB_2"), refuse)
    assert seen == [["j1"]]
    assert store.job("j2") is None
    # An ended job holds nothing: the check no longer sees it.
    assert store.finish("j1", js.DONE, None)
    store.record_job(_new("j2", "JOB_2"), _accept)
    assert [r["id"] for r in store.active_jobs()] == ["j2"]
    assert store.active_jobs(except_id="j2") == []


def test_a_taken_name_is_an_integrity_error(store):
    store.record_job(_new("j1", "JOB_1"), _accept)
    with pytest.raises(sqlite3.IntegrityError):
        store.record_job(_new("j2", "JOB_1"), _accept)
    assert store.name_taken("JOB_1") and not store.name_taken("JOB_2")


def test_no_shard_is_recorded_once_a_cancel_is_asked(store):
    store.record_job(_new("j1", "JOB_1"), _accept)
    assert store.add_shard("j1", 0, "input/0.arrow", 5, 0)
    assert store.request_cancel("j1")
    assert not store.request_cancel("j1")  # CANCELLING already
    assert not store.add_shard("j1", 1, "input/1.arrow", 5, 5)
    assert not store.add_shards("j1", [(1, "input/1.arrow", 5, 5)])
    store.staging_done("j1", completed=False)
    row = store.job("j1")
    assert row is not None
    assert (row["status"], row["shards_total"], row["staging"]) == ("CANCELLING", 1, 0)
    assert row["message"] == "staging input"  # kept: the staging did not complete
    assert len(store.shard_entries("j1")) == 1


def test_finish_records_the_first_end_only_and_only_from_given_statuses(store):
    _staged(store, "j1", "JOB_1")
    assert not store.finish("j1", js.FAILED, "x", only_from=(js.RUNNING,))
    assert store.finish("j1", js.FAILED, "boom")
    assert not store.finish("j1", js.DONE, None)
    row = store.job("j1")
    assert row is not None
    assert (row["status"], row["message"]) == ("FAILED", "boom")
    assert row["completed_time"] is not None


def test_reopen_puts_the_uncommitted_shards_back_and_refuses_a_changed_status(store):
    _staged(store, "j1", "JOB_1", shards=3)
    assert store.start_run("j1", 4242)
    store.shard_running("j1", 0, 1, "w0")
    store.shard_done("j1", 0, rows=10, error_rows=0, attempt=1)
    store.shard_running("j1", 1, 1, "w1")
    store.shard_failed("j1", 1, "bad rows", attempt=1)
    assert store.finish("j1", js.FAILED, "shard 1 failed")
    assert not store.reopen("j1", js.CANCELLED, _accept)  # it is FAILED, not CANCELLED
    assert store.job("j1")["status"] == "FAILED"  # type: ignore[index]
    assert store.reopen("j1", js.FAILED, _accept)
    row = store.job("j1")
    assert row is not None
    assert (row["status"], row["message"], row["supervisor_pid"]) == ("PENDING", "resuming", None)
    assert row["completed_time"] is None and row["started_time"] is None
    assert [s.status for s in store.shard_entries("j1")] == ["DONE", "PENDING", "PENDING"]
    failed = store.shards("j1")[1]
    assert (failed["error"], failed["worker"]) == (None, None)
    store.note_supervisor("j1", 99)
    store.note_supervisor("j1", 100)  # the first pid recorded stays
    assert store.supervisor_pid("j1") == 99


def test_a_refused_reopen_changes_nothing(store):
    _staged(store, "j1", "JOB_1")
    assert store.finish("j1", js.CANCELLED, None)

    def refuse(active: list[dict[str, Any]]) -> None:
        raise RuntimeError("held")

    with pytest.raises(RuntimeError):
        store.reopen("j1", js.CANCELLED, refuse)
    assert store.job("j1")["status"] == "CANCELLED"  # type: ignore[index]


def test_listing_filters_pages_and_finds_names(store):
    for n in range(4):
        store.record_job(_new(f"j{n}", f"JOB_{n}", model="M" if n % 2 else "Other"), _accept)
    assert store.finish("j0", js.DONE, None)
    ids = [r["id"] for r in store.list_jobs()]
    assert ids == ["j3", "j2", "j1", "j0"]  # newest first (ties: the later recorded)
    assert [r["id"] for r in store.list_jobs(limit=2, offset=1)] == ["j2", "j1"]
    assert [r["id"] for r in store.list_jobs(offset=3)] == ["j0"]
    assert [r["id"] for r in store.list_jobs(model="m")] == ["j3", "j1"]
    assert [r["id"] for r in store.list_jobs(status=js.DONE, version="v1")] == ["j0"]
    assert store.job_names(limit=2) == ["JOB_3", "JOB_2"]
    assert store.job_id_named("job_2") is None
    assert store.job_id_named("job_2", any_case=True) == "j2"
    assert store.newest_job_id() == "j3"
    store.delete_job("j3")
    assert store.newest_job_id() == "j2"


def test_workers_and_attempts_are_read_back_in_order(store):
    _staged(store, "j1", "JOB_1")
    store.record_worker("j1", "w0", 11)
    store.record_worker("j1", "w1", None)
    store.record_worker("j1", "w2", 12)
    assert store.worker_pids("j1") == [11, 12]
    store.shard_running("j1", 0, 1, "w0")
    store.end_attempt("j1", 0, 1, js.DIED)
    store.shard_pending("j1", 0)
    store.shard_running("j1", 0, 2, "w2")
    attempts = [(a["shard"], a["attempt"], a["status"]) for a in store.shard_attempts("j1")]
    assert attempts == [(0, 1, "DIED"), (0, 2, "RUNNING")]
