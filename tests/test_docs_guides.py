"""The examples of the guides in docs/ run as written and print what they show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python_blocks(doc: Path, tmp_path: Path) -> str:
    code = "\n".join(re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S))
    script = tmp_path / f"{doc.stem}_examples.py"
    script.write_text(code)
    res = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "SQUALL_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_params_guide_runs_and_prints_the_refusals_it_shows(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "params.md"
    stdout = run_python_blocks(doc, tmp_path)
    shown = re.search(r"What the last loop prints:\n\n```\n(.*?)```", doc.read_text(), re.S)
    assert shown is not None
    refusals = shown.group(1).strip().splitlines()
    assert stdout.strip().splitlines()[-len(refusals) :] == refusals
    assert "['', '', 'hot']" in stdout


def test_partitioning_guide_runs(tmp_path: Path) -> None:
    stdout = run_python_blocks(ROOT / "docs" / "partitioning.md", tmp_path)
    assert "DONE" in stdout
    assert "['store_id', 'day', 'forecast']" in stdout


def test_files_guide_runs(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "files.md"
    assert "column_handling" in doc.read_text()
    stdout = run_python_blocks(doc, tmp_path)
    assert "DONE 20" in stdout
    assert "decoded DONE [0.0, 10.0, 20.0]" in stdout
    assert "audio DONE [16000, 16000] [0.25, 0.5]" in stdout


def test_dags_guide_runs_and_prints_what_it_shows(tmp_path: Path) -> None:
    stdout = run_python_blocks(ROOT / "docs" / "dags.md", tmp_path)
    assert "SUCCEEDED None" in stdout
    assert "report SUCCEEDED 50" in stdout
    assert "FAILED check RuntimeError: the upstream export is missing" in stdout
    assert "{'check': 'FAILED', 'cleanup': 'SUCCEEDED', 'never': 'SKIPPED'}" in stdout
    assert "SCHEDULED None True" in stdout
    assert "['fragile', 'nightly']" in stdout
