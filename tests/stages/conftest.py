"""Fixtures of the stage tests: a stage manager on a fresh workspace, and one stage per kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.catalog import Catalog
from squall.stages import Stage, StageManager
from squall.stages.registry import STAGE_KINDS


@pytest.fixture
def stages(home: Path) -> StageManager:
    home.mkdir(parents=True, exist_ok=True)
    return StageManager(home, Catalog(home / "catalog.db"))


@pytest.fixture
def memory_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only ``memory://`` stage kind for one test."""
    monkeypatch.setitem(STAGE_KINDS, "memory", "tests.stages.memory_stage:MemoryStage")


# Every kind in this list runs the whole contract suite (test_stage_contract.py).
KINDS = ["internal", "memory", "s3"]


@pytest.fixture(params=KINDS)
def any_stage(request: pytest.FixtureRequest, stages: StageManager) -> Iterator[Stage]:
    kind = request.param
    if kind == "internal":
        stages.create("files")
    elif kind == "memory":
        request.getfixturevalue("memory_kind")
        stages.create("files", url=f"memory://bucket/{uuid.uuid4().hex}")
    elif kind == "s3":
        server = request.getfixturevalue("s3")
        stages.create(
            "files",
            url=f"s3://squall-test/{uuid.uuid4().hex}/",
            storage_options=server.storage_options(),
            encryption="AWS_SSE_S3",
        )
    stage = stages.stage("files")
    yield stage
    stages.drop("files")
