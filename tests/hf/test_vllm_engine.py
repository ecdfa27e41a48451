"""The vLLM engine's checks at run_batch: before any work, on every machine."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from squall.batch import JobSpec, OutputSpec
from squall.errors import InvalidSpecError, MissingExtraError
from squall.model import InferenceEngine
from squall.model.huggingface import TransformersPipeline
from squall.registry import Registry

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.fixture
def chat(session, tiny):
    return Registry(session).log_model(
        TransformersPipeline(task="text-generation", model=str(tiny.chat)),
        model_name="assistant",
        version_name="v1",
    )


def _run(version, **options):
    return version.run_batch(
        pd.DataFrame({"messages": [[{"role": "user", "content": "hi"}]]}),
        output_spec=OutputSpec(stage_location="@results/out/"),
        job_spec=JobSpec(gpu_requests=1),
        inference_engine_options=options,
    )


def test_vllm_refuses_models_it_does_not_serve_before_any_work(session, tiny):
    session.create_stage("results")
    reg = Registry(session)
    bert = reg.log_model(
        TransformersPipeline(task="fill-mask", model=str(tiny.bert("masked"))),
        model_name="filler",
        version_name="v1",
    )
    with pytest.raises(InvalidSpecError, match="'fill-mask'"):
        _run(bert, engine=InferenceEngine.VLLM)
    with pytest.raises(InvalidSpecError, match="needs an engine"):
        _run(bert, engine_args_override=["--max-model-len=64"])
    assert session.catalog.query("SELECT id FROM jobs") == []


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_vllm_without_the_extra_names_it(session, chat):
    session.create_stage("results")
    with pytest.raises(MissingExtraError, match=r"squall\[vllm\]") as info:
        _run(chat, engine="vllm", engine_args_override=["--max-model-len=64"])
    assert info.value.extra == "vllm"


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed")
def test_vllm_parses_engine_args_with_its_own_parser(session, chat):
    session.create_stage("results")
    with pytest.raises(InvalidSpecError, match="--no-such-flag"):
        _run(chat, engine="vllm", engine_args_override=["--no-such-flag=1"])


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed")
def test_the_engine_gets_only_the_arguments_the_user_set():
    from squall.model.handlers._vllm import engine_kwargs

    kwargs = engine_kwargs(["--max-model-len=64", "--tensor-parallel-size=1"], "m")
    assert kwargs == {"model": "m", "max_model_len": 64}
