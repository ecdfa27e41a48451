"""snowflake-ml-python's run_batch scripts, run on squall: waiting, blocking, GPUs, specs."""

from __future__ import annotations

import gc
import json
import os
import warnings
from typing import Any

import pandas as pd
import psutil
import pytest
from sklearn.linear_model import LinearRegression

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.batch.plan import JobPlan
from squall.errors import InvalidSpecError
from squall.model import InferenceEngine, custom_model
from squall.model.signature import ModelSignature, ParamGroupSpec, ParamSpec, infer_signature
from squall.registry import Registry
from tests.e2e.jobtools import Sleepy
from tests.e2e.models import Failing, TwoFunctions, frame
from tests.model.test_model_params_nested import (
    CONFIG,
    NESTED_LIST,
    PARTIAL_CONFIG,
    PARTIAL_MERGED,
)


@pytest.fixture
def results(session: squall.Session) -> str:
    session.create_stage("results")
    return "@results"


def test_wait_negative_timeout_means_no_limit_as_upstream(session, results):
    mv = Registry(session).log_model(
        Sleepy(custom_model.ModelContext()), model_name="sleepy", sample_input_data=frame(2)
    )
    job = mv.run_batch(
        frame(4),
        input_spec=InputSpec(params={"seconds": 1.0}),
        output_spec=OutputSpec(stage_location=f"{results}/w/"),
        job_spec=JobSpec(num_workers=1),
    )
    with pytest.raises(TimeoutError):
        job.wait(timeout=0)  # 0 looks once: the job is still going
    assert job.wait(timeout=-1) == "DONE"
    assert job.wait(timeout=-5) == "DONE"


def test_block_true_returns_the_failed_job_as_upstream(session, results):
    mv = Registry(session).log_model(
        Failing(custom_model.ModelContext()), model_name="failing", sample_input_data=frame(3)
    )
    job = mv.run_batch(
        frame(20),
        output_spec=OutputSpec(stage_location=f"{results}/f/"),
        job_spec=JobSpec(num_workers=1, block=True),
    )
    assert job.status == "FAILED"  # returned, not raised: the caller checks the status
    assert "unlucky row x == 13" in (job.message or "")


def test_run_batch_leaves_no_child_process_and_no_resource_warning(session, results):
    mv = Registry(session).log_model(
        Sleepy(custom_model.ModelContext()), model_name="sleepy", sample_input_data=frame(2)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = mv.run_batch(
            frame(2),
            input_spec=InputSpec(params={"seconds": 2.0}),  # keeps the supervisor up a while
            output_spec=OutputSpec(stage_location=f"{results}/r/"),
            job_spec=JobSpec(num_workers=1),
        )
        gc.collect()
        supervisor = job.pids()[0]
        # it leads its own process group: resume ends a dead supervisor's leftovers by it
        assert os.getpgid(supervisor) == supervisor
        # and it was never this process's child: nothing is left here to reap
        children = {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
        assert supervisor not in children
        assert job.wait(timeout=120) == "DONE"
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.fixture
def linear(session):
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    return X, LinearRegression().fit(X, [1.0, 3.0, 5.0])


@pytest.mark.parametrize("gpu_requests", ["0", 0, "1"])
def test_any_gpu_request_on_a_model_without_gpu_support_is_refused_as_upstream(
    session, results, linear, gpu_requests
):
    X, model = linear
    mv = Registry(session).log_model(model, model_name="lin", sample_input_data=X)
    with pytest.raises(InvalidSpecError, match="has no GPU support: log it with"):
        mv.run_batch(
            X,
            output_spec=OutputSpec(stage_location=f"{results}/g/"),
            job_spec=JobSpec(gpu_requests=gpu_requests),
        )
    assert squall.jobs.list_jobs(session=session).empty


def test_gpu_request_on_a_model_logged_with_cuda_version_is_accepted_as_upstream(
    session, results, linear
):
    X, model = linear
    mv = Registry(session).log_model(
        model, model_name="lin", sample_input_data=X, options={"cuda_version": "12.4"}
    )
    job = mv.run_batch(
        X,
        output_spec=OutputSpec(stage_location=f"{results}/g/"),
        job_spec=JobSpec(gpu_requests="1", block=True),
    )
    # Accepted by run_batch as upstream does; the local pool then gives the worker a GPU of
    # its own, or ends the job saying the machine has too few.
    from squall.compute.local import machine_gpus

    if machine_gpus():
        assert job.status == "DONE"
    else:
        assert job.status == "FAILED"
        assert "gpu_requests=1" in job.message and "GPU" in job.message


def test_jobspec_service_fields_are_recorded_without_effect_as_upstream(session, results, linear):
    X, model = linear
    mv = Registry(session).log_model(model, model_name="lin", sample_input_data=X)
    job = mv.run_batch(
        X,
        output_spec=OutputSpec(stage_location=f"{results}/p/"),
        job_spec=JobSpec(warehouse="MY_WH", image_repo="DB.S.REPO", force_rebuild=True, block=True),
    )
    assert job.status == "DONE"
    row = session.catalog.query_one("SELECT spec FROM jobs WHERE id = ?", (job.id,))
    assert JobPlan.from_json(row["spec"]).platform_options == {
        "warehouse": "MY_WH",
        "image_repo": "DB.S.REPO",
        "force_rebuild": True,
    }


def test_python_generic_engine_runs_as_usual_and_vllm_is_refused_for_sklearn(
    session, results, linear
):
    X, model = linear
    mv = Registry(session).log_model(model, model_name="lin", sample_input_data=X)
    job = mv.run_batch(
        X,
        output_spec=OutputSpec(stage_location=f"{results}/e/"),
        job_spec=JobSpec(block=True),
        inference_engine_options={"engine": "PYTHON_GENERIC"},
    )
    assert job.status == "DONE"
    with pytest.raises(InvalidSpecError, match="inference engine 'vllm' is not available"):
        mv.run_batch(
            X,
            output_spec=OutputSpec(stage_location=f"{results}/v/"),
            inference_engine_options={"engine": InferenceEngine.VLLM},
        )
    with pytest.raises(ValueError, match="supported engines: vllm, python_generic"):
        mv.run_batch(
            X,
            output_spec=OutputSpec(stage_location=f"{results}/v/"),
            inference_engine_options={"engine": "tgi"},
        )


class DictParams(custom_model.CustomModel):
    """snowflake-ml-python's DemoModelWithDictParams, trimmed: reports what it received."""

    @custom_model.inference_api
    def predict(
        self,
        input: pd.DataFrame,
        *,
        multiplier: float = 1.0,
        config: dict = CONFIG.default_value,
        nested_list: list[list[int]] = NESTED_LIST.default_value,
    ) -> pd.DataFrame:
        n = len(input)
        return pd.DataFrame(
            {
                "output": input["C1"] * multiplier,
                "received": [json.dumps({"config": config, "nested": nested_list})] * n,
                "received_nested_list": [nested_list] * n,
            }
        )


def _run(session: squall.Session, mv: Any, params: dict[str, Any] | None, where: str) -> Any:
    job = mv.run_batch(
        pd.DataFrame({"C0": [0, 1], "C1": [0, 1]}),
        input_spec=InputSpec(params=params),
        output_spec=OutputSpec(stage_location=f"@results/{where}/"),
        job_spec=JobSpec(function_name="predict", num_workers=1, replicas=1, block=True),
    )
    assert job.status == "DONE", job.message
    return session.read.parquet(f"@results/{where}/").to_pandas()


def test_dict_params_partial_override_deep_merge_in_a_batch_job_as_upstream(session, results):
    model = DictParams(custom_model.ModelContext())
    sample = pd.DataFrame({"C0": [0, 1], "C1": [0, 1]})
    sig = infer_signature(
        sample[["C0", "C1"]],
        model.predict(sample),
        params=[ParamSpec("multiplier", "DOUBLE", 1.0), CONFIG, NESTED_LIST],
    )
    mv = Registry(session).log_model(
        model, model_name="dict_params", sample_input_data=sample, signatures={"predict": sig}
    )
    assert isinstance(mv.get_signatures()["predict"].params[1], ParamGroupSpec)
    defaults = _run(session, mv, None, "d")
    assert json.loads(defaults["received"][0]) == {
        "config": CONFIG.default_value,
        "nested": [[1, 2], [3, 4]],
    }
    # nested outputs are written as JSON strings
    assert [json.loads(v) for v in defaults["received_nested_list"]] == [[[1, 2], [3, 4]]] * 2
    out = _run(
        session,
        mv,
        {"multiplier": 2.0, "config": PARTIAL_CONFIG, "nested_list": [[5, 6], [7, 8]]},
        "p",
    )
    received = json.loads(out["received"][0])
    assert received["config"] == PARTIAL_MERGED
    assert received["nested"] == [[5, 6], [7, 8]]
    assert sorted(out["output"].tolist()) == [0, 2]


def test_run_batch_without_function_name_picks_the_only_signed_function_as_upstream(
    session, results
):
    sample = frame(3)
    sig = infer_signature(sample[["x"]], pd.DataFrame({"y": sample["x"] + 1}))
    mv = Registry(session).log_model(
        TwoFunctions(custom_model.ModelContext()),
        model_name="two",
        sample_input_data=sample,
        signatures={"predict": sig},
    )
    assert [f["name"] for f in mv.show_functions()] == ["predict"]
    job = mv.run_batch(
        frame(4),
        output_spec=OutputSpec(stage_location=f"{results}/one/"),
        job_spec=JobSpec(block=True),
    )
    assert job.status == "DONE"
    assert isinstance(mv.get_signatures()["predict"], ModelSignature)
