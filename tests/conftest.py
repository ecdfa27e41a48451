"""Fixtures shared by every test: a fresh workspace per test."""

from __future__ import annotations

from pathlib import Path

import pytest

import squall


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def session(home: Path) -> squall.Session:
    return squall.connect(home)
