"""The model registry: log, find, list, default, delete, run in-process and in a batch job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from squall.batch import JobSpec, OutputSpec
from squall.errors import AlreadyExistsError, InvalidArgumentError, ModelNotFoundError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(rng.standard_normal((300, 3)), columns=["a", "b", "c"])


@pytest.fixture
def reg(session) -> Registry:
    return Registry(session)


def test_versions_default_and_listing(reg, data):
    y = data.a * 2 + data.b
    m1 = reg.log_model(
        DecisionTreeRegressor(max_depth=2).fit(data, y), model_name="Price", sample_input_data=data
    )
    m2 = reg.log_model(
        make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=4)).fit(data, y),
        model_name="price",
        version_name="fancy",
        sample_input_data=data,
        comment="deeper",
    )
    assert (m1.version_name, m2.version_name) == ("V1", "FANCY")
    model = reg.get_model("PRICE")
    assert model.default.version_name == "V1"
    model.default = "FANCY"
    assert model.default.version_name == "FANCY"
    versions = model.show_versions()
    assert versions["name"].tolist() == ["V1", "FANCY"]
    assert versions["is_default"].tolist() == [False, True]
    assert versions.loc[1, "comment"] == "deeper"
    models = reg.show_models()
    assert models["name"].tolist() == ["PRICE"]
    assert models.loc[0, "default_version"] == "FANCY"
    out = model.version("fancy").run(data.head(5))
    assert list(out.columns) == ["output_feature_0"]
    np.testing.assert_allclose(out["output_feature_0"], m2_predict(m2, data.head(5)))


def m2_predict(mv, X):
    return mv.run(X)["output_feature_0"].to_numpy()


def test_errors_name_what_is_missing(reg, data):
    with pytest.raises(ModelNotFoundError, match=r"no model named 'nope'; models: none"):
        reg.get_model("nope")
    reg.log_model(
        Doubler(custom_model.ModelContext()),
        model_name="dbl",
        version_name="v1",
        sample_input_data=frame(3),
    )
    with pytest.raises(ModelNotFoundError, match=r"model DBL has no version 'v9'; versions: V1"):
        reg.get_model("dbl").version("v9")
    with pytest.raises(AlreadyExistsError, match="model DBL already has a version V1"):
        reg.log_model(
            Doubler(custom_model.ModelContext()),
            model_name="dbl",
            version_name="V1",
            sample_input_data=frame(3),
        )
    with pytest.raises(InvalidArgumentError, match="'bad name'"):
        reg.log_model(
            Doubler(custom_model.ModelContext()), model_name="bad name", sample_input_data=frame(3)
        )


def test_delete_model_removes_versions_and_files(session, reg):
    mv = reg.log_model(
        Doubler(custom_model.ModelContext()), model_name="dbl", sample_input_data=frame(3)
    )
    assert mv.path.exists()
    reg.delete_model("DBL")
    assert not mv.path.exists()
    assert reg.show_models().empty
    with pytest.raises(ModelNotFoundError):
        reg.get_model("dbl")


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_boosted_models_run_as_batch_jobs(session, reg, data, kind):
    y = (data.a + data.c > 0).astype(int)
    if kind == "xgboost":
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(data, y)
    else:
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=5, max_depth=2, verbose=-1).fit(data, y)
    mv = reg.log_model(model, model_name=kind, sample_input_data=data)
    session.create_stage("out")
    job = mv.run_batch(
        data,
        output_spec=OutputSpec(stage_location=f"@out/{kind}/"),
        job_spec=JobSpec(function_name="predict_proba", num_workers=1, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = session.read.parquet(f"@out/{kind}/").to_pandas()
    np.testing.assert_allclose(out["output_feature_1"], model.predict_proba(data)[:, 1], rtol=1e-6)
