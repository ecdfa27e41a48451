"""Models used by the end-to-end tests; defined in a test module that workers cannot import."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from squall.model import custom_model


class Doubler(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, factor: float = 2.0) -> pd.DataFrame:
        return pd.DataFrame({"doubled": X["x"].to_numpy(dtype="float64") * factor})


class Failing(custom_model.CustomModel):
    """Raises on any batch that holds x == 13."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if (X["x"] == 13).any():
            print("about to fail on x == 13")
            raise ValueError("unlucky row x == 13")
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64")})


class TwoFunctions(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"y": X["x"] + 1})

    @custom_model.inference_api
    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"s": X["x"] * 0.5})


class Slow(custom_model.CustomModel):
    """Sleeps per batch, so a test can act while the job runs; writes its pid for checks."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        import time

        time.sleep(float(os.environ.get("SQUALL_TEST_SLOW_S", "0.5")))
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64")})


class Nested(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        vals = X["x"].to_numpy()
        return pd.DataFrame(
            {
                "vec": [np.array([v, v + 1.0]) for v in vals],
                "meta": [{"x": int(v), "tag": "t"} for v in vals],
            }
        )


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(n, dtype="int64"), "x": np.arange(n, dtype="float64")})
