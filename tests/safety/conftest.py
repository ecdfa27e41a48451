"""Fixtures of the data-safety tests: a workspace with a stage, and a folder outside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import squall
from squall.batch import JobSpec, OutputSpec
from squall.registry import Registry


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the workspace, holding a file that nothing in squall may touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    return folder


def stage_folder(session: squall.Session, name: str) -> Path:
    """The folder of an internal stage (created when missing)."""
    session.create_stage(name, exists_ok=True)
    return session.home / "stages" / name


def run_once(session: squall.Session, model: Any, x: float, **job: Any) -> Any:
    """Log ``model`` (sample x = 1.0), run it on one row ``x`` into ``@out/r/``, wait."""
    mv = Registry(session).log_model(
        model, model_name="m", sample_input_data=pd.DataFrame({"x": [1.0]})
    )
    session.create_stage("out", exists_ok=True)
    return mv.run_batch(
        pd.DataFrame({"x": [x]}),
        output_spec=OutputSpec(stage_location="@out/r/"),
        job_spec=JobSpec(block=True, **job),
    )
