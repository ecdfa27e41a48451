"""A workspace is owner-only: no other local user can read its catalog, models or outputs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import squall
from tests.e2e.models import Doubler
from tests.safety.conftest import run_once


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A folder every user may enter (as /home or /srv are), to hold a workspace."""
    folder = Path(tempfile.mkdtemp(prefix="squall-perm-"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_workspace_is_owner_only(open_parent: Path) -> None:
    old = os.umask(0o022)
    try:
        session = squall.connect(open_parent / "ws")
    finally:
        os.umask(old)
    assert mode_of(session.home) == 0o700
    for sub in ("stages", "models", "jobs"):
        assert mode_of(session.home / sub) == 0o700


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("cat") is None,
    reason="reading as another user needs root (to run a process as 'nobody')",
)
def test_another_user_cannot_read_the_workspace(open_parent: Path) -> None:
    old = os.umask(0o022)
    try:
        session = squall.connect(open_parent / "ws")
        job = run_once(session, Doubler(), 2.0)
    finally:
        os.umask(old)
    assert job.status == "DONE"
    targets = [
        session.home / "catalog.db",
        next((session.home / "models" / "M").rglob("*.json")),
        session.home / "stages" / "out" / "r" / "_SUCCESS",
    ]
    for target in targets:
        assert target.is_file()
        # A real process of another user (nobody), reading the file.
        done = subprocess.run(
            ["cat", str(target)], user="nobody", capture_output=True, check=False, timeout=30
        )
        assert done.returncode != 0, f"another user could read {target.name}"
        assert b"Permission denied" in done.stderr


def test_opening_a_workspace_others_can_read_warns(open_parent: Path) -> None:
    home = open_parent / "shared"
    home.mkdir()
    os.chmod(home, 0o755)
    with pytest.warns(UserWarning, match="open to every user") as caught:
        squall.connect(home)
    assert str(home) not in str(caught[0].message)
    assert mode_of(home) == 0o755  # the owner's choice is kept


def test_a_mode_set_by_the_owner_is_kept_without_warning(open_parent: Path) -> None:
    home = open_parent / "team"
    home.mkdir()
    os.chmod(home, 0o750)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        squall.connect(home)
    assert mode_of(home) == 0o750
