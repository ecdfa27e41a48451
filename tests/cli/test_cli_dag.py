"""``squall dag`` and ``squall scheduler``: the command's own entry point, on a real workspace.

The commands run in the test's process (``squall.cli.main``); the runs and the scheduler they
start are real processes. Spawning a Python per command is what tests/cli/test_cli_jobs.py
covers already.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

import squall
from squall.cli import main
from squall.tasks import DAG, DAGOperation, DAGTask


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def run(home: Path, *args: str) -> Result:
        capsys.readouterr()
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def test_dag_commands(session: squall.Session, cli) -> None:  # type: ignore[no-untyped-def]
    with DAG("daily", schedule=dt.timedelta(days=1), comment="the daily one") as dag:
        a = DAGTask("make", "CREATE OR REPLACE TABLE made AS SELECT 42 AS answer")
        a >> DAGTask("check", "SELECT * FROM made")
    DAGOperation(session).deploy(dag)
    home = session.home

    ls = cli(home, "dag", "ls")
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.splitlines()[0].split()[:3] == ["NAME", "SCHEDULE", "STATE"]
    assert "daily" in ls.stdout and "1440 MINUTE" in ls.stdout and "STARTED" in ls.stdout

    show = cli(home, "dag", "show", "daily")
    assert show.returncode == 0 and "the daily one" in show.stdout
    assert "check  sql   make" in show.stdout

    run = cli(home, "dag", "run", "daily", "--wait", "--timeout", "120")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCEEDED" in run.stdout and "make" in run.stdout
    assert session.table("made").to_pandas()["answer"].tolist() == [42]

    runs = cli(home, "dag", "runs", "daily", "--json")
    rows = json.loads(runs.stdout)
    assert [r["state"] for r in rows] == ["SCHEDULED", "SUCCEEDED"]  # next tick, then the run
    assert rows[0]["run_id"] is None and rows[1]["trigger"] == "MANUAL"

    assert cli(home, "dag", "suspend", "daily").returncode == 0
    assert json.loads(cli(home, "dag", "ls", "--json").stdout)[0]["state"] == "SUSPENDED"
    assert cli(home, "dag", "resume", "daily").returncode == 0
    ended = cli(home, "dag", "cancel", str(rows[1]["run_id"]))
    assert ended.returncode == 0 and "already ended SUCCEEDED" in ended.stdout
    assert cli(home, "dag", "drop", "daily").returncode == 0
    missing = cli(home, "dag", "show", "daily")
    assert missing.returncode == 1 and "no DAG named 'daily'" in missing.stderr


def test_scheduler_detach_status_stop(session: squall.Session, cli) -> None:  # type: ignore[no-untyped-def]
    home = session.home
    assert "no scheduler is running" in cli(home, "scheduler", "status").stdout
    started = cli(home, "scheduler", "--detach")
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout.split("pid ")[1].split()[0])
    try:
        status = json.loads(cli(home, "scheduler", "status", "--json").stdout)
        assert status["pid"] == pid
        again = cli(home, "scheduler", "--detach")
        assert again.returncode == 1 and f"pid {pid}" in again.stderr
    finally:
        stopped = cli(home, "scheduler", "stop")
    assert stopped.returncode == 0 and f"scheduler {pid} stopped" in stopped.stdout
    assert cli(home, "scheduler", "status", "--json").stdout.strip() == "null"
