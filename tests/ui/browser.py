"""Headless Chromium from the system's packages, driven by Playwright (never its download).

Shared by the dashboard's browser tests and its benchmark (bench/ui_bench.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("SQUALL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def available() -> bool:
    """Whether Playwright's Python package and a Chromium binary are both installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


def launch(playwright: Any) -> Any:
    """A headless Chromium browser, from ``sync_playwright()``'s object."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
