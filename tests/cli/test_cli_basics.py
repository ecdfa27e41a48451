"""The squall command as a user types it: stages, models, and a job from the shell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame


def squall(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, "-m", "squall", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


def test_stage_commands_round_trip(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")
    (src / "b.txt").write_text("beta")
    squall(home, "stage", "create", "docs")
    out = squall(home, "stage", "put", str(src / "*.txt"), "@docs/in/").stdout
    assert "uploaded @docs/in/a.txt (5 bytes)" in out
    listing = json.loads(squall(home, "stage", "ls", "@docs/in", "--json").stdout)
    assert [r["path"] for r in listing] == ["@docs/in/a.txt", "@docs/in/b.txt"]
    table = squall(home, "stage", "ls").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "KIND"] and table[1].split()[:2] == ["docs", "internal"]
    squall(home, "stage", "get", "@docs/in/", str(tmp_path / "back"))
    assert (tmp_path / "back" / "b.txt").read_text() == "beta"
    assert "removed @docs/in/a.txt" in squall(home, "stage", "rm", "@docs/in/a.txt").stdout
    missing = squall(home, "stage", "ls", "@nowhere/x", check=False)
    assert missing.returncode == 1 and "nowhere" in missing.stderr


def test_model_ls_and_run_from_the_shell(session, home: Path) -> None:
    Registry(session).log_model(
        Doubler(custom_model.ModelContext()),
        model_name="dbl",
        version_name="v1",
        sample_input_data=frame(3),
    )
    session.create_table("nums", frame(1000))
    session.create_stage("out")
    models = json.loads(squall(home, "model", "ls", "--json").stdout)
    # Unquoted names are case-insensitive and shown upper-case, the default version too.
    assert [(m["name"], m["versions"], m["default_version"]) for m in models] == [
        ("DBL", "V1", "V1")
    ]
    versions = json.loads(squall(home, "model", "ls", "dbl", "--json").stdout)
    assert versions[0]["name"] == "V1" and versions[0]["functions"] == "predict"
    res = squall(
        home,
        "run",
        "dbl:v1",
        "--table",
        "nums",
        "--output",
        "@out/r/",
        "--param",
        "factor=4",
        "--wait",
    )
    assert "DONE" in res.stdout
    out = session.read.parquet("@out/r/").to_pandas().sort_values("id")
    assert out["doubled"].tolist() == [4.0 * i for i in range(1000)]
    again = squall(home, "run", "dbl", "--table", "nums", "--output", "@out/r/", check=False)
    assert again.returncode == 1 and "not empty" in again.stderr
