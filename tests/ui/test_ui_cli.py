"""`squall ui` on the command line, where the dashboard cannot start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# sys.modules[name] = None makes `import name` fail, as on an installation without the extra.
_WITHOUT = (
    "import sys; sys.modules['{0}'] = None; from squall.cli import main; sys.exit(main({1!r}))"
)


def test_without_the_ui_extra_the_error_names_it(tmp_path: Path) -> None:
    for module in ("starlette", "uvicorn"):
        code = _WITHOUT.format(module, ["--home", str(tmp_path / "ws"), "ui", "--port", "0"])
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert res.returncode == 1, res.stdout + res.stderr
        assert f"needs the '{module}' package: pip install 'squall[ui]'" in res.stderr
        assert "Traceback" not in res.stderr
