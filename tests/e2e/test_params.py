"""Inference-time params, end to end: through log_model, ModelVersion.run and run_batch."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidSpecError, SignatureError
from squall.model import custom_model
from squall.model.signature import DataType, ParamGroupSpec, ParamSpec
from squall.registry import Registry
from tests.e2e.models import frame
from tests.e2e.partition_models import WHEN, Echo

DEFAULTS = {
    "factor": 2.0,
    "label": "none",
    "flag": False,
    "count": 1,
    "salt": "salt",
    "since": WHEN.isoformat(),
    "ids": [1, 2],
    "options": {"temperature": 0.7, "top_p": 1.0},
    "types": ["float", "int", "bytes", "datetime"],
}


@pytest.fixture
def echo(session: squall.Session):
    session.create_stage("results")
    return Registry(session).log_model(
        Echo(custom_model.ModelContext()), model_name="echo", sample_input_data=frame(3)
    )


def seen_by_batch(session: squall.Session, location: str) -> dict[str, Any]:
    out = session.read.parquet(location).to_pandas()
    assert out["seen"].nunique() == 1  # params are constant for the whole job
    return json.loads(out["seen"][0])


def test_signature_records_the_keyword_only_arguments(echo):
    params = echo.get_signatures()["predict"].params
    assert params[:3] == (
        ParamSpec("factor", DataType.DOUBLE, 2.0),
        ParamSpec("label", DataType.STRING, "none"),
        ParamSpec("flag", DataType.BOOL, False),
    )
    assert params[6] == ParamSpec("ids", DataType.INT64, [1, 2], shape=(-1,))
    assert isinstance(params[7], ParamGroupSpec)


def test_run_batch_without_params_uses_every_default(session, echo):
    job = echo.run_batch(
        frame(5),
        output_spec=OutputSpec(stage_location="@results/d/"),
        job_spec=JobSpec(block=True),
    )
    assert job.status == "DONE", job.get_logs()
    assert seen_by_batch(session, "@results/d/") == DEFAULTS
    assert echo.run(frame(2))["seen"].map(json.loads).tolist() == [DEFAULTS] * 2


def test_params_reach_every_batch_typed_and_matched_ignoring_case(session, echo):
    given = {
        "FACTOR": 3,  # an int for a float param is widened
        "Label": "café",
        "flag": True,
        "since": dt.datetime(2030, 1, 2, 3, 4, 5),
        "SALT": b"\x00pepper",
        "ids": (7, 8, 9),
        "options": {"TOP_P": 0.5},  # dict members take their own defaults
    }
    expected = DEFAULTS | {
        "factor": 3.0,
        "label": "café",
        "flag": True,
        "since": "2030-01-02T03:04:05",
        "salt": "\x00pepper",
        "ids": [7, 8, 9],
        "options": {"temperature": 0.7, "top_p": 0.5},
    }
    job = echo.run_batch(
        frame(40),
        input_spec=InputSpec(params=given),
        output_spec=OutputSpec(stage_location="@results/p/"),
        job_spec=JobSpec(num_workers=2, max_batch_rows=7, shard_rows=10, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    assert seen_by_batch(session, "@results/p/") == expected
    out = session.read.parquet("@results/p/").to_pandas().sort_values("id")
    assert out["y"].tolist() == [3.0 * x for x in range(40)]
    in_process = echo.run(frame(2), params=given)
    assert json.loads(in_process["seen"][0]) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"treshold": 0.3},
            "unknown param(s) treshold of function 'predict'; valid params: factor, label, "
            "flag, count, salt, since, ids, options",
        ),
        (
            {"factor": 1.0, "Factor": 2.0},
            "param 'factor' of function 'predict' is given twice: as 'factor' and as 'Factor' "
            "(names are case-insensitive)",
        ),
        ({"count": 1.5}, "param 'count' = 1.5 (float) does not fit INT64"),
        ({"factor": "high"}, "param 'factor' = 'high' (str) does not fit DOUBLE"),
        ({"flag": 1}, "param 'flag' = 1 (int) does not fit BOOL"),
        ({"since": "2024-01-01"}, "param 'since' = '2024-01-01' (str) does not fit TIMESTAMP_NTZ"),
        ({"ids": [1, "x"]}, "param 'ids' = [1, 'x'] (list) does not fit INT64 with shape (-1,)"),
        ({"options": {"top_k": 3}}, "unknown key(s) top_k of param 'options'"),
    ],
)
def test_bad_params_fail_before_any_work(session, echo, params, message):
    with pytest.raises(InvalidSpecError) as err:
        echo.run_batch(
            frame(3),
            input_spec=InputSpec(params=params),
            output_spec=OutputSpec(stage_location="@results/bad/"),
        )
    assert message in str(err.value)
    assert squall.jobs.list_jobs(session=session).empty
    assert list((session.home / "jobs").iterdir()) == []
    assert session.list_stage("@results/") == []
    with pytest.raises(InvalidSpecError) as err:
        echo.run(frame(3), params=params)
    assert message in str(err.value)


def test_params_for_a_function_without_params_are_refused(session):
    session.create_stage("results")
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    mv = Registry(session).log_model(
        LinearRegression().fit(X, [0.0, 1.0, 2.0]), model_name="lin", sample_input_data=X
    )
    message = "params alpha were given, but function 'predict' takes no params"
    with pytest.raises(InvalidSpecError, match=message):
        mv.run_batch(
            X,
            input_spec=InputSpec(params={"alpha": 0.1}),
            output_spec=OutputSpec(stage_location="@results/lin/"),
        )
    with pytest.raises(InvalidSpecError, match=message):
        mv.run(X, params={"alpha": 0.1})
    assert squall.jobs.list_jobs(session=session).empty


class KwargsModel(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, **options: Any) -> pd.DataFrame:
        return X


class UntypedModel(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, k=1) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        return X


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (KwargsModel, "KwargsModel.predict: **options is not allowed"),
        (UntypedModel, "UntypedModel.predict: keyword-only argument 'k' needs a type annotation"),
    ],
)
def test_log_model_refuses_methods_whose_params_cannot_be_declared(session, model, message):
    reg = Registry(session)
    with pytest.raises(SignatureError) as err:
        reg.log_model(
            model(custom_model.ModelContext()), model_name="m", sample_input_data=frame(3)
        )
    assert message in str(err.value)
    assert reg.show_models().empty
    assert not (session.home / "models" / "M").exists() or not any(
        (session.home / "models" / "M").iterdir()
    )


def test_a_class_loaded_back_in_process_can_be_logged_again(session, echo):
    # Loading the class pickled by value replaces its methods in this process by copies
    # whose globals lack names used only in annotations (here: dt); params still resolve.
    echo.run(frame(1))
    again = Registry(session).log_model(
        Echo(custom_model.ModelContext()), model_name="echo", sample_input_data=frame(3)
    )
    assert again.get_signatures()["predict"].params == echo.get_signatures()["predict"].params
