"""Supervisor and worker messages go through ``logging``: one format, a level users set."""

from __future__ import annotations

import re

import pytest

import squall
from squall.batch import OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame

_STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"


def _run(session: squall.Session, where: str) -> str:
    session.create_stage(where)
    mv = Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="doubler", sample_input_data=frame(3)
    )
    job = mv.run_batch(frame(5), output_spec=OutputSpec(stage_location=f"@{where}/out/"))
    job.wait()
    assert job.status == "DONE", job.get_logs()
    return job.get_logs()


def test_both_sides_log_in_one_format_tagged_by_source(session: squall.Session) -> None:
    logs = _run(session, "results")
    assert re.search(rf"^\[supervisor\] {_STAMP} shard 0 \(5 rows\) -> worker w0", logs, re.M)
    assert re.search(rf"^\[w0\] {_STAMP} worker w0 ready \(pid \d+, ", logs, re.M)


def test_the_level_is_the_users_to_set(
    session: squall.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQUALL_LOG_LEVEL", "WARNING")
    logs = _run(session, "quiet")
    assert "-> worker w0" not in logs
    assert "ready (pid" not in logs
