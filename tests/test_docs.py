"""The README's Python examples run as written, and the CLI commands it shows exist."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_python_examples_run(tmp_path: Path) -> None:
    code = "\n".join(python_blocks(ROOT / "README.md"))
    assert "run_batch" in code
    if "./my-llm" in code:  # the chat example: a tiny model built where it expects one
        pytest.importorskip("transformers", reason="the hf extra is not installed")
        from tests.hf.tiny_models import build_chat_llm

        build_chat_llm(tmp_path / "my-llm")
    script = tmp_path / "readme_examples.py"
    script.write_text(code)
    env = {**os.environ, "SQUALL_HOME": str(tmp_path / "home")}
    res = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "DONE" in res.stdout


def test_readme_cli_commands_exist() -> None:
    from squall.cli import build_parser

    parser = build_parser()
    text = (ROOT / "README.md").read_text()
    for line in re.findall(r"^squall (.*)$", text, flags=re.M):
        words = shlex.split(line, comments=True)
        if words[:1] == ["--home"]:
            words = words[2:]
        command = [w for w in words if not w.startswith("-")][:2]
        # parse_args exits on an unknown command; a known one parses with its own arguments
        try:
            parser.parse_args(["--home", "x", *words])
        except SystemExit as exc:
            raise AssertionError(f"README shows an unknown command: squall {line}") from exc
        assert command
