"""One conformance suite for the chat engines: the same prompts through a batch job give the
same output schema whichever engine runs them. The transformers half runs everywhere; the
vLLM half only where vLLM and a CUDA GPU are present (`make gpu-check`)."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest

from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.model import InferenceEngine
from squall.model.huggingface import TransformersPipeline
from squall.registry import Registry

from .test_hf_models import QUESTIONS

LIMIT = 6


def _gpu_with_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


ENGINES = [
    pytest.param(None, id="transformers"),
    pytest.param(
        InferenceEngine.VLLM,
        id="vllm",
        marks=pytest.mark.skipif(
            not _gpu_with_vllm(), reason="the vLLM half needs vllm and a CUDA GPU"
        ),
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("params", [{"temperature": 0}, {"temperature": 0.8, "n": 2}])
def test_engines_answer_with_one_schema(session, tiny, engine, params):
    session.create_stage("results")
    version = Registry(session).log_model(
        TransformersPipeline(task="text-generation", model=str(tiny.chat)),
        model_name="assistant",
        version_name="v1",
    )
    options = None
    if engine is not None:
        options = {"engine": engine, "engine_args_override": ["--max-model-len=256"]}
    job = version.run_batch(
        pd.DataFrame({"messages": QUESTIONS, "qid": range(len(QUESTIONS))}),
        input_spec=InputSpec(params={**params, "max_completion_tokens": LIMIT}),
        output_spec=OutputSpec(stage_location="@results/conf/"),
        job_spec=JobSpec(num_workers=1, gpu_requests=1 if engine is not None else None),
        inference_engine_options=options,
    )
    assert job.wait(timeout=600) == "DONE", job.get_logs()
    out = session.read.parquet("@results/conf/").to_pandas().sort_values("qid")
    assert len(out) == len(QUESTIONS)
    assert {"id", "object", "created", "model", "choices", "usage"} <= set(out.columns)
    assert set(out["object"]) == {"chat.completion"} and out["id"].is_unique
    n = params.get("n", 1)
    for raw_choices, raw_usage in zip(out["choices"], out["usage"], strict=True):
        choices, usage = json.loads(raw_choices), json.loads(raw_usage)
        assert [c["index"] for c in choices] == list(range(n))
        for c in choices:
            assert c["message"]["role"] == "assistant"
            assert isinstance(c["message"]["content"], str)
            assert c["finish_reason"] in ("stop", "length")
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] <= n * LIMIT
        if all(c["finish_reason"] == "length" for c in choices):  # honest: the limit cut them
            assert usage["completion_tokens"] == n * LIMIT
