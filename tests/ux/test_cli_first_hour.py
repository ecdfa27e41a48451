"""A new user's first CLI session: init, a table from a CSV, a job, and the errors met on the way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import squall
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "squall", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_init_and_reading_commands_refuse_a_folder_that_is_no_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for args in (("jobs", "ls"), ("stage", "ls"), ("model", "ls"), ("table", "ls")):
        line = one_error_line(cli(ws, *args))
        assert f"no squall workspace at {ws}" in line and "squall init" in line
    assert not ws.exists()  # nothing was created by a command that only reads
    res = subprocess.run(
        [sys.executable, "-m", "squall", "init", str(ws)], capture_output=True, text=True
    )
    assert res.returncode == 0 and f"created squall workspace at {ws}" in res.stdout
    assert cli(ws, "jobs", "ls").stdout.splitlines()[1] == "(none)"
    assert "squall workspace at" in cli(ws, "init").stdout


def test_from_a_csv_to_a_job_with_the_cli_alone(session: squall.Session, tmp_path: Path) -> None:
    home = session.home
    frame(40).to_csv(tmp_path / "nums.csv", index=False)
    Registry(session).log_model(
        Doubler(custom_model.ModelContext()),
        model_name="dbl",
        version_name="v1",
        sample_input_data=frame(3),
    )
    session.create_stage("out")

    res = cli(home, "table", "create", "nums", "--from", str(tmp_path / "nums.csv"))
    assert res.returncode == 0 and "table NUMS created with 40 rows" in res.stdout, res.stderr
    assert "NUMS" in cli(home, "table", "ls").stdout.split()
    shown = cli(home, "table", "show", "nums", "--limit", "2").stdout
    assert "| id |" in shown.replace("  ", " ") or "id" in shown
    assert "schema: id int64, x double" in shown
    exists = one_error_line(
        cli(home, "table", "create", "nums", "--from", str(tmp_path / "nums.csv"))
    )
    assert "NUMS" in exists.upper() and "mode" in exists

    # a SQL error is one line, not a traceback
    bad_sql = one_error_line(
        cli(home, "run", "dbl", "--sql", "SELECT nope FROM nums", "--output", "@out/a/")
    )
    assert "nope" in bad_sql and "Traceback" not in bad_sql

    run = cli(
        home, "run", "dbl", "--table", "nums", "--output", "@out/a/", "--name", "first_try",
        "--shard-rows", "10", "--on-error", "continue", "--max-retries", "1",
        "--max-error-rate", "0.5", "--wait",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    info = json.loads(cli(home, "jobs", "show", "FIRST", "--json").stdout)
    assert info["name"] == "FIRST_TRY" and info["rows_done"] == 40
    assert info["created_time"][:4].isdigit() and "T" not in info["created_time"]
    assert "4/4 shards" in info["progress"]  # --shard-rows 10
    row = session.catalog.query_one("SELECT spec FROM jobs WHERE name = 'FIRST_TRY'")
    spec = json.loads(row["spec"])
    assert (spec["on_error"], spec["max_retries"], spec["max_error_rate"]) == ("continue", 1, 0.5)

    # advice names flags, not Python
    again = one_error_line(cli(home, "run", "dbl", "--table", "nums", "--output", "@out/a/"))
    assert "--mode overwrite" in again and "SaveMode" not in again
    second = cli(home, "run", "dbl", "--table", "nums", "--output", "@out/b/", "--name", "first_b")
    assert second.returncode == 0, second.stderr
    assert cli(home, "jobs", "wait", "--last").returncode == 0
    ambiguous = one_error_line(cli(home, "jobs", "show", "first"))
    assert "FIRST_TRY" in ambiguous and "FIRST_B" in ambiguous
    last = json.loads(cli(home, "jobs", "show", "--last", "--json").stdout)
    assert last["name"] == "FIRST_B"
    assert (
        one_error_line(
            cli(home, "run", "dbl", "--table", "nums", "--output", "@out/c/", "--workers", "0")
        ).count("--workers")
        == 1
    )
    assert cli(home, "table", "drop", "nums").returncode == 0
    assert "NUMS" not in cli(home, "table", "ls").stdout
