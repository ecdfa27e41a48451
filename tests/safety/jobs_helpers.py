"""Shared pieces of the job safety tests: a small model, Parquet input on a stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import squall
from squall.model import custom_model
from squall.registry import Registry
from tests.safety.jobs_models import Times


def frame(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(start, start + n), "x": np.arange(n) * 0.5})


def log_times(session: squall.Session, name: str = "times"):
    return Registry(session).log_model(
        Times(custom_model.ModelContext()), model_name=name, sample_input_data=frame(3)
    )


def folder_of(session: squall.Session, location: str) -> Path:
    stage, rel = session.stages.resolve(location)
    return Path(stage.full_path(rel))


def put_parquet(session: squall.Session, location: str, parts: dict[str, pd.DataFrame]) -> None:
    """Write each frame as ``location/<name>`` (a Parquet file) straight into the stage."""
    folder = folder_of(session, location)
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / name)


def files_under(session: squall.Session, location: str) -> list[str]:
    return sorted(f.path for f in session.list_stage(location))
