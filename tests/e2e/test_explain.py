"""``run_batch(..., function_name="explain")`` runs the SHAP function like any other."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import squall
from squall.batch import JobSpec, OutputSpec
from squall.registry import Registry

pytest.importorskip("shap")
xgb = pytest.importorskip("xgboost")


def test_run_batch_explain_function_of_an_xgboost_model_as_upstream(session: squall.Session):
    session.create_stage("results")
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.standard_normal((120, 2)), columns=["f0", "f1"])
    model = xgb.XGBRegressor(n_estimators=10).fit(X, 3 * X["f0"] - X["f1"])
    mv = Registry(session).log_model(
        model,
        model_name="booster",
        sample_input_data=X,
        options={"enable_explainability": True},
    )
    assert sorted(f["name"] for f in mv.show_functions()) == ["explain", "predict"]
    rows = X.iloc[:30].assign(id=np.arange(30))
    job = mv.run_batch(
        rows,
        output_spec=OutputSpec(stage_location="@results/explain/"),
        job_spec=JobSpec(function_name="explain", block=True),
    )
    assert job.status == "DONE", job.message
    out = session.read.parquet("@results/explain/").to_pandas().sort_values("id")
    assert list(out.columns) == ["f0", "f1", "id", "f0_explanation", "f1_explanation"]
    # each row's values add up to the model's output minus one expected value
    residual = model.predict(out[["f0", "f1"]]) - out[["f0_explanation", "f1_explanation"]].sum(
        axis=1
    )
    np.testing.assert_allclose(residual, residual.iloc[0], atol=1e-4)
