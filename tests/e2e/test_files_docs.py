"""The worked example of docs/files.md runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_files_doc_examples_run(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "files.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))
    assert "column_handling" in code
    script = tmp_path / "files_doc.py"
    script.write_text(code)
    res = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "SQUALL_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "DONE 20" in res.stdout
