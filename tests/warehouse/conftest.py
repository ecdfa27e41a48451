"""Fixtures of the warehouse tests: a warehouse on a fresh workspace, and child processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from squall.catalog import Catalog
from squall.stages import StageManager
from squall.warehouse import Warehouse


@pytest.fixture
def warehouse(home: Path) -> Warehouse:
    home.mkdir(parents=True, exist_ok=True)
    return Warehouse(home, StageManager(home, Catalog(home / "catalog.db")))


Spawn = Callable[[str], subprocess.Popen[str]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start ``python -c code`` in a fresh process (stdout and stderr piped, text mode)."""
    children: list[subprocess.Popen[str]] = []

    def start(code: str) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
