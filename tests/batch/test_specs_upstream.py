"""The spec names and fields snowflake-ml-python's users write, accepted as upstream does."""

from __future__ import annotations

import pytest

import squall.batch
import squall.model
from squall.batch import (
    ColumnHandlingOptions,
    FileEncoding,
    InputFormat,
    InputSpec,
    JobSpec,
)
from squall.errors import InvalidSpecError
from squall.model import InferenceEngine
from squall.model.inference_engine import parse_engine_options


def test_column_handling_options_is_the_typed_form_of_an_entry_as_upstream() -> None:
    options = ColumnHandlingOptions(
        input_format=InputFormat.FULL_STAGE_PATH, convert_to=FileEncoding.BASE64
    )
    spec = InputSpec(column_handling={"IMG": options})
    assert spec.file_columns["IMG"].convert_to is FileEncoding.BASE64
    assert "ColumnHandlingOptions" in squall.batch.__all__


def test_jobspec_accepts_upstream_service_fields_as_upstream() -> None:
    spec = JobSpec(warehouse="WH", image_repo="DB.SCHEMA.REPO", force_rebuild=True)
    assert spec.platform_options() == {
        "warehouse": "WH",
        "image_repo": "DB.SCHEMA.REPO",
        "force_rebuild": True,
    }
    assert JobSpec().platform_options() == {}
    with pytest.raises(InvalidSpecError, match=r"JobSpec\.force_rebuild"):
        JobSpec(force_rebuild="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidSpecError, match=r"JobSpec\.warehouse"):
        JobSpec(warehouse="")


@pytest.mark.parametrize("value", ["1", 2, "0", 0])
def test_gpu_requests_take_a_count_as_upstream(value: object) -> None:
    assert JobSpec(gpu_requests=value).gpu_requests == value  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["many", -1, True, 1.5])
def test_gpu_requests_that_are_no_count_are_refused(value: object) -> None:
    with pytest.raises(InvalidSpecError, match="gpu_requests"):
        JobSpec(gpu_requests=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "member"),
    [
        ("vllm", InferenceEngine.VLLM),
        ("VLLM", InferenceEngine.VLLM),
        (" vLLM ", InferenceEngine.VLLM),
        ("python_generic", InferenceEngine.PYTHON_GENERIC),
        ("PYTHON_GENERIC", InferenceEngine.PYTHON_GENERIC),
        (InferenceEngine.VLLM, InferenceEngine.VLLM),
    ],
)
def test_inference_engine_parses_names_and_values_ignoring_case_as_upstream(
    given: object, member: InferenceEngine
) -> None:
    assert InferenceEngine.from_value(given) is member  # type: ignore[arg-type]
    if isinstance(given, str):
        assert InferenceEngine(given) is member


def test_unknown_inference_engine_is_a_value_error_listing_the_choices_as_upstream() -> None:
    with pytest.raises(ValueError, match="'tgi'; supported engines: vllm, python_generic"):
        InferenceEngine.from_value("tgi")
    with pytest.raises(ValueError, match="supported engines: vllm, python_generic"):
        InferenceEngine(3)
    assert "InferenceEngine" in squall.model.__all__
    assert squall.batch.InferenceEngine is InferenceEngine


def test_inference_engine_options_are_checked() -> None:
    assert parse_engine_options(None) is None
    assert parse_engine_options({"engine": "vllm", "engine_args_override": ["--x"]}) == (
        InferenceEngine.VLLM,
        ["--x"],
    )
    with pytest.raises(InvalidSpecError, match="unknown inference_engine_options key"):
        parse_engine_options({"engine": "vllm", "args": []})
    with pytest.raises(InvalidSpecError, match="needs an engine"):
        parse_engine_options({})
    with pytest.raises(InvalidSpecError, match="list of strings"):
        parse_engine_options({"engine": "vllm", "engine_args_override": "--x"})


def test_exclusive_spec_fields_are_refused_as_mutually_exclusive_as_upstream() -> None:
    from squall.batch import OutputSpec

    with pytest.raises(ValueError, match="mutually exclusive"):
        JobSpec(job_name="A", job_name_prefix="B")
    with pytest.raises(ValueError, match="mutually exclusive"):
        OutputSpec(stage_location="@s/a/", base_stage_location="@s/b/")
    with pytest.raises(ValueError, match="needs exactly one of"):
        OutputSpec()
