"""Models for the job safety tests (in a module workers can import by name)."""

from __future__ import annotations

import os
import time

import pandas as pd

from squall.model import custom_model


class Times(custom_model.CustomModel):
    """y = x * 10, after sleeping ``seconds`` per batch."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, seconds: float = 0.0) -> pd.DataFrame:
        time.sleep(seconds)
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64") * 10})


class FailsWhileFlagged(custom_model.CustomModel):
    """Fails while the file named in column ``flag`` exists; y = x otherwise."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if os.path.exists(str(X["flag"].iloc[0])):
            raise RuntimeError("flagged")
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64")})


class AlwaysFails(custom_model.CustomModel):
    """Fails on every call, printing one line per call (the tests count them)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        print(f"model call of {len(X)} rows", flush=True)
        raise ValueError("bad row")


class FileSizes(custom_model.CustomModel):
    """The size of each file of column ``doc`` (given as raw bytes)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"size": [len(v) for v in X["doc"]]})
