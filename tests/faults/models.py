"""Models for the fault tests: they misbehave on chosen rows, and only there."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from squall.model import custom_model


class Twice(custom_model.CustomModel):
    """y = 2x; sleeps SQUALL_TEST_SLOW_S per batch so a test can act while a job runs."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        time.sleep(float(os.environ.get("SQUALL_TEST_SLOW_S", "0")))
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64") * 2})


class BadRows(custom_model.CustomModel):
    """y = 2x, but raises on any batch holding a row with x % 100 == 37."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        bad = X["x"][X["x"] % 100 == 37]
        if len(bad):
            raise ValueError(f"cannot score x == {bad.iloc[0]:g}")
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64") * 2})


class BigBatches(custom_model.CustomModel):
    """y = 2x, but fails any batch of more than 40 rows, whatever its rows."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if len(X) > 40:
            raise MemoryError(f"a batch of {len(X)} rows does not fit")
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64") * 2})


class Malformed(custom_model.CustomModel):
    """y = 2x, but a batch holding x == 25 gets output that breaks the signature, per `how`."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, how: str = "none") -> pd.DataFrame:
        y = X["x"].to_numpy(dtype="float64") * 2
        if not (X["x"] == 25).any():
            return pd.DataFrame({"y": y})
        if how == "rows":
            return pd.DataFrame({"y": y[:-1]})
        if how == "column":
            return pd.DataFrame({"z": y})
        if how == "type":
            return pd.DataFrame({"y": np.where(X["x"] == 25, "oops", y.astype(str)).astype(object)})
        return pd.DataFrame({"y": y})


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(n, dtype="int64"), "x": np.arange(n, dtype="float64")})
