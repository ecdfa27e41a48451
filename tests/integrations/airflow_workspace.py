"""Fills a workspace for the Airflow tests: ``python airflow_workspace.py <folder>``.

A table ``customers`` (two rows for 2024-05-01, one for the day after), a stage
``results``, a model ``churn`` (``score = x * threshold``) and a model ``broken`` that
refuses any x above 1.5, and a model ``slow`` that takes minutes.
"""

from __future__ import annotations

import sys
import time

import pandas as pd

import squall
from squall.model import custom_model
from squall.registry import Registry


class Churn(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, threshold: float = 0.5) -> pd.DataFrame:
        return pd.DataFrame({"score": X["x"] * threshold})


class Broken(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if (X["x"] > 1.5).any():
            raise ValueError("the model refuses x above 1.5")
        return pd.DataFrame({"score": X["x"]})


class Slow(custom_model.CustomModel):
    """Takes two minutes over more than one row: a job that is still running when killed."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if len(X) > 1:
            time.sleep(120)
        return pd.DataFrame({"score": X["x"]})


def main(home: str) -> None:
    session = squall.Session(home)
    session.create_table(
        "customers",
        pd.DataFrame({"x": [1.0, 2.0, 3.0], "day": ["2024-05-01", "2024-05-01", "2024-05-02"]}),
    )
    session.create_stage("results")
    reg = Registry(session)
    sample = pd.DataFrame({"x": [1.0]})
    ctx = custom_model.ModelContext()
    reg.log_model(Churn(ctx), model_name="churn", version_name="v1", sample_input_data=sample)
    reg.log_model(Broken(ctx), model_name="broken", version_name="v1", sample_input_data=sample)
    reg.log_model(Slow(ctx), model_name="slow", version_name="v1", sample_input_data=sample)


if __name__ == "__main__":
    main(sys.argv[1])
