"""Job plans and shard files for tests that run workers without run_batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from squall.batch.plan import JobPlan


def make_plan(tmp_path: Path, model_path: Path, **changes: Any) -> JobPlan:
    """A plan for the model's ``predict`` over columns ``id``, ``x``, into ``tmp_path/out``."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    fields: dict[str, Any] = {
        "model_name": "M",
        "version_name": "V1",
        "model_path": str(model_path),
        "function": "predict",
        "function_kind": "inference",
        "output_location": "@results/out/",
        "output_dir": str(out),
        "scratch_dir": str(tmp_path / "scratch"),
        "model_columns": ["id", "x"],
        "max_batch_rows": 10,
    }
    return JobPlan(**{**fields, **changes})


def write_shard(path: Path, table: pa.Table) -> str:
    """``table`` as an Arrow IPC shard file at ``path``; returns the path."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return str(path)
