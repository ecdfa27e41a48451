"""Airflow for the integration tests: one home and metadata DB per run, migrated once.

Airflow reads its configuration when it is imported, so the DAGs run in subprocesses
given this environment; the test process itself never imports Airflow.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class AirflowEnv:
    home: Path
    dags: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path, extra_env: dict[str, str] | None = None) -> str:
        """Run ``python args...`` under this Airflow; its output, or a failed assertion."""
        res = subprocess.run(
            [sys.executable, *args],
            cwd=cwd,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-6000:]
        return res.stdout + res.stderr


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> AirflowEnv:
    if importlib.util.find_spec("airflow") is None:
        if os.environ.get("SQUALL_REQUIRE_AIRFLOW") == "1":
            pytest.fail("Airflow is required here: pip install -e '.[airflow]'")
        pytest.skip("Airflow is not installed: pip install -e '.[airflow]'")
    home = tmp_path_factory.mktemp("airflow")
    dags = home / "dags"
    dags.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    res = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return AirflowEnv(home=home, dags=dags, env=env)
