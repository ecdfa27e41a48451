"""Models for the params and partitioning tests; each records what it was called with."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

import numpy as np
import pandas as pd

from squall.model import custom_model

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9)


class Echo(custom_model.CustomModel):
    """Returns x * factor and, in a JSON column, every param it was called with."""

    @custom_model.inference_api
    def predict(
        self,
        X: pd.DataFrame,
        *,
        factor: float = 2.0,
        label: str = "none",
        flag: bool = False,
        count: int = 1,
        salt: bytes = b"salt",
        since: dt.datetime = WHEN,
        ids: list[int] = [1, 2],  # noqa: B006
        options: dict[str, float] = {"temperature": 0.7, "top_p": 1.0},  # noqa: B006
    ) -> pd.DataFrame:
        seen = {
            "factor": factor,
            "label": label,
            "flag": flag,
            "count": count,
            "salt": salt.decode(),
            "since": since.isoformat(),
            "ids": ids,
            "options": options,
            "types": [type(v).__name__ for v in (factor, count, salt, since)],
        }
        return pd.DataFrame(
            {"y": X["x"].to_numpy(dtype="float64") * factor, "seen": json.dumps(seen)},
            index=X.index,
        )


class BatchRecorder(custom_model.CustomModel):
    """An inference function that reports, per row, what its batch held."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        n = len(X)
        return pd.DataFrame(
            {
                "y": X["x"].to_numpy(dtype="float64") + 1,
                "batch_id": [uuid.uuid4().hex] * n,
                "batch_keys": [int(X["store"].nunique(dropna=False))] * n,
                "batch_rows": [n] * n,
                "pid": [os.getpid()] * n,
            }
        )


class Forecaster(custom_model.CustomModel):
    """A partitioned function: ``horizon`` forecast rows per partition, whatever its size."""

    @custom_model.partitioned_api
    def forecast(self, X: pd.DataFrame, *, horizon: int = 3) -> pd.DataFrame:
        level = float(X["x"].mean())
        return pd.DataFrame(
            {
                "step": np.arange(1, horizon + 1, dtype="int64"),
                "forecast": level + np.arange(1, horizon + 1, dtype="float64"),
                "rows_seen": [len(X)] * horizon,
                "keys_seen": [int(X["store"].nunique(dropna=False))] * horizon,
                "first_x": [float(X["x"].iloc[0])] * horizon,
                "pid": [os.getpid()] * horizon,
            }
        )


class OutputsStore(custom_model.CustomModel):
    """A partitioned function whose output holds a column named like the partition column."""

    @custom_model.partitioned_api
    def forecast(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"STORE": X["store"].iloc[:1], "total": [float(X["x"].sum())]})


def stores(sizes: dict[int, int], seed: int = 0) -> pd.DataFrame:
    """Rows of several stores, shuffled; ``x`` is the row's input position."""
    rng = np.random.default_rng(seed)
    store = np.concatenate([np.full(n, s, dtype="int64") for s, n in sizes.items()])
    rng.shuffle(store)
    n = len(store)
    return pd.DataFrame(
        {"id": np.arange(n, dtype="int64"), "store": store, "x": np.arange(n, dtype="float64")}
    )
