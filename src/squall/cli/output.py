"""How the CLI prints: tables as aligned text, JSON for scripts, a live progress bar."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from squall.jobs.progress import progress_bar

__all__ = ["print_json", "print_table", "progress_bar"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    try:
        import pandas as pd

        if value is pd.NaT or (isinstance(value, float) and value != value):
            return ""
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, file: Any = None
) -> None:
    out = file or sys.stdout
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    widths = [min(w, 60) for w in widths]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v[:w].ljust(w) for v, w in zip(values, widths)).rstrip()

    print(line([c.upper() for c in columns]), file=out)
    for row in cells:
        print(line(row), file=out)
    if not rows:
        print("(none)", file=out)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=_cell))
