"""Fixtures of the data-safety tests: a workspace with a stage, and a folder outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

import squall


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
