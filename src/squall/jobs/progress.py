"""A job's progress drawn as a bar (rows, rate, ETA) while something waits for it.

``job.wait()`` draws it when the session is interactive (a terminal, or a notebook);
``squall jobs wait`` and ``squall run --wait`` always do. In a notebook (a Jupyter kernel)
the bar is an HTML ``<progress>`` element updated in place; on a terminal it is a line
redrawn in place; anywhere else a line is printed every few seconds.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any

__all__ = ["display_kind", "in_notebook", "interactive", "progress_bar"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, VS Code, Colab): IPython's shell is a kernel's.

    A kernel's shell is a ``ZMQInteractiveShell``, or has an ``IPKernelApp`` section in
    its configuration (the test tqdm makes too); a terminal IPython has neither.
    """
    module = sys.modules.get("IPython")  # never imported here: loaded only if in use
    get = getattr(module, "get_ipython", None)
    shell = get() if callable(get) else None
    if shell is None:
        return False
    if type(shell).__name__ == "ZMQInteractiveShell":
        return True
    try:
        return "IPKernelApp" in shell.config
    except Exception:
        return False


def _isatty(out: Any) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def display_kind(file: Any = None) -> str:
    """How progress is drawn: ``"notebook"`` (HTML updated in place, when no ``file`` is
    given inside a Jupyter kernel), ``"terminal"`` (``file``, default stderr, is a TTY)
    or ``"lines"`` (a line every few seconds)."""
    if file is None and in_notebook():
        return "notebook"
    return "terminal" if _isatty(file or sys.stderr) else "lines"


def interactive(file: Any = None) -> bool:
    """True in a terminal (``file``, default stderr, is a TTY) or a Jupyter kernel."""
    return in_notebook() or _isatty(file or sys.stderr)


class _NotebookBar:
    """The bar as an HTML ``<progress>`` element, one display updated in place."""

    def __init__(self) -> None:
        from IPython.display import display

        self._handle = display(self._html("", 0.0), display_id=True)

    @staticmethod
    def _html(text: str, fraction: float) -> Any:
        from IPython.display import HTML

        return HTML(
            f'<progress value="{fraction:.4f}" max="1" style="width: 20em"></progress> '
            f"<code>{html.escape(text)}</code>"
        )

    def update(self, text: str, fraction: float) -> None:
        if self._handle is not None:
            self._handle.update(self._html(text, fraction))


def progress_bar(
    job: Any, *, file: Any = None, interval: float = 0.25, timeout: float | None = None
) -> str:
    """Draw the job's progress (rows, rate, ETA) until it ends; return its final status.

    On a terminal the bar redraws in place; otherwise a line is printed every few seconds.
    ``TimeoutError`` when ``timeout`` seconds pass first (the job goes on); None or a
    negative ``timeout`` waits without limit.
    """
    from squall.jobs.status import FINAL

    out = file or sys.stderr
    kind = display_kind(file)
    tty = kind == "terminal"
    notebook = _NotebookBar() if kind == "notebook" else None
    deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
    last_line = ""
    last_print = 0.0
    while True:
        status = job.status
        p = job.progress
        width = 30
        filled = int(width * p.fraction)
        bar = "#" * filled + "-" * (width - filled)
        rate = f"{p.rows_per_second:,.0f} rows/s" if p.rows_per_second else "- rows/s"
        eta = f"ETA {p.eta_seconds:,.0f}s" if p.eta_seconds is not None else "ETA -"
        rows = f"{p.rows_done:,}/{p.rows_total:,} rows {rate} {eta}"
        text = f"{job.name} {status:<10} [{bar}] {rows}"
        now = time.monotonic()
        if notebook is not None:
            if text != last_line:
                notebook.update(f"{job.name} {status} {rows}", p.fraction)
        elif tty:
            print("\r" + text.ljust(len(last_line)), end="", file=out, flush=True)
        elif text != last_line and (status in FINAL or not last_line or now - last_print >= 5):
            print(text, file=out, flush=True)
            last_print = now
        last_line = text
        if status in FINAL:
            if tty:
                print(file=out)
            return str(status)
        if deadline is not None and now >= deadline:
            if tty:
                print(file=out)
            raise TimeoutError(f"job {job.name} is still {status} after {timeout}s")
        time.sleep(interval)
