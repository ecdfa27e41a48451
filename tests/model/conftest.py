"""Fixtures of the model tests: tiny training data and a fresh Python process to load in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import squall.model

# The folder holding the squall package these tests import, so that a child process imports
# the same squall and nothing from the tests folder.
SQUALL_ROOT = str(Path(squall.model.__file__).parent.parent.parent)

RunPython = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def run_python(tmp_path_factory: pytest.TempPathFactory) -> RunPython:
    """Run Python code or a script in a fresh process whose sys.path lacks the tests."""
    default_cwd = tmp_path_factory.mktemp("fresh")

    def run(
        code: str | None = None,
        *,
        script: Path | None = None,
        cwd: Path | None = None,
        timeout: int = 120,
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = SQUALL_ROOT
        args = [str(script)] if script is not None else ["-c", textwrap.dedent(code or "")]
        proc = subprocess.run(
            [sys.executable, *args],
            cwd=cwd or default_cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def tabular() -> tuple[pd.DataFrame, pd.Series]:
    """60 rows of 4 float32 features and a binary label."""
    rng = np.random.default_rng(7)
    X = pd.DataFrame(
        rng.random((60, 4), dtype=np.float32), columns=["age", "income", "tenure", "score"]
    )
    y = pd.Series((X["age"] + X["score"] > 1.0).astype("int64"), name="churned")
    return X, y
