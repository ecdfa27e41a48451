"""Which progress display a waiting user gets: HTML in a notebook, a bar on a terminal, lines
elsewhere."""

from __future__ import annotations

import io
import os
import pty
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall.jobs.progress import display_kind, in_notebook, interactive, progress_bar


def test_plain_python_gets_lines_and_a_terminal_gets_the_bar() -> None:
    if "IPython" not in sys.modules:
        assert not in_notebook()  # no IPython loaded: no notebook, and none imported
        assert "IPython" not in sys.modules
    buffer = io.StringIO()
    assert display_kind(buffer) == "lines" and interactive(buffer) == in_notebook()
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            assert display_kind(tty) == "terminal" and interactive(tty)
    finally:
        os.close(leader)
        os.close(follower)


@pytest.fixture
def ipython() -> Iterator[Any]:
    """IPython's real shell class (no kernel), cleared after the test."""
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    yield interactiveshell.InteractiveShell
    interactiveshell.InteractiveShell.clear_instance()


def _done() -> SimpleNamespace:
    """A finished job, as progress_bar reads one."""
    progress = SimpleNamespace(
        fraction=1.0, rows_done=5, rows_total=5, rows_per_second=2.5, eta_seconds=0.0
    )
    return SimpleNamespace(name="JOB_1", status="DONE", progress=progress)


def test_a_terminal_ipython_is_no_notebook(ipython: Any) -> None:
    ipython.instance()
    assert not in_notebook()
    assert display_kind(io.StringIO()) == "lines" and display_kind() != "notebook"


def test_a_kernel_shell_draws_html_updated_in_place(ipython: Any) -> None:
    from IPython.core.displaypub import CapturingDisplayPublisher
    from traitlets.config import Config

    config = Config()
    config.IPKernelApp.connection_file = "kernel-1.json"  # what a Jupyter kernel is started with
    shell = ipython.instance(config=config)
    shell.display_pub = CapturingDisplayPublisher()
    assert in_notebook() and interactive() and display_kind() == "notebook"
    assert display_kind(io.StringIO()) == "lines"  # a file asked for is written to
    assert progress_bar(_done()) == "DONE"
    shown = shell.display_pub.outputs
    assert len(shown) == 2 and shown[1]["update"]  # one display, updated in place
    html = shown[-1]["data"]["text/html"]
    assert '<progress value="1.0000" max="1"' in html and "JOB_1 DONE 5/5 rows" in html
