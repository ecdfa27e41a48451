"""The vLLM engine's pure parts: parameter and argument mapping, output conversion (no vLLM)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from squall.errors import InvalidArgumentError
from squall.model.handlers._vllm import (
    COLUMNS,
    completions,
    engine_args,
    inline_images,
    sampling_kwargs,
)


def test_sampling_params_map_from_the_chat_params():
    got = sampling_kwargs(
        {
            "max_completion_tokens": 12,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["END", ""],
            "n": 3,
            "frequency_penalty": 0.2,
            "presence_penalty": 0.1,
        }
    )
    assert got == {
        "max_tokens": 12,
        "temperature": 0.5,
        "top_p": 0.9,
        "n": 3,
        "stop": ["END"],
        "frequency_penalty": 0.2,
        "presence_penalty": 0.1,
    }
    assert sampling_kwargs({}) == {"max_tokens": 250, "temperature": 1.0, "top_p": 1.0, "n": 1}
    for bad in ({"max_completion_tokens": -1}, {"n": -1}, {"temperature": -1}, {"top_p": 0}):
        with pytest.raises(InvalidArgumentError, match=next(iter(bad))):
            sampling_kwargs(bad)


def test_gpu_requests_set_the_tensor_parallel_size_unless_overridden():
    assert engine_args([], 2) == ["--tensor-parallel-size=2"]
    assert engine_args([], None) == []
    assert engine_args(["-tp", "1"], 4) == ["-tp", "1"]
    assert engine_args(["--tensor-parallel-size=1"], 4) == ["--tensor-parallel-size=1"]


def _answer(index, text, tokens, reason):
    return SimpleNamespace(
        index=index, text=text, token_ids=list(range(tokens)), finish_reason=reason
    )


def test_request_outputs_become_the_transformers_engines_columns():
    outputs = [
        SimpleNamespace(
            prompt_token_ids=[1, 2, 3],
            outputs=[_answer(1, "b", 4, "length"), _answer(0, "a", 2, "stop")],
        ),
        SimpleNamespace(prompt_token_ids=[5], outputs=[_answer(0, "x", 1, "abort")]),
    ]
    frame = completions(outputs, "tiny", n=2)
    assert list(frame.columns) == COLUMNS
    first, second = frame.to_dict("records")
    assert [c["message"]["content"] for c in first["choices"]] == ["a", "b"]
    assert [c["finish_reason"] for c in first["choices"]] == ["stop", "length"]
    assert first["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}
    assert first["object"] == "chat.completion" and first["model"] == "tiny"
    # one greedy answer stands for the n asked for, as the transformers engine answers
    assert [c["index"] for c in second["choices"]] == [0, 1]
    assert second["usage"]["completion_tokens"] == 2
    assert first["id"] != second["id"]


def test_stage_images_become_data_urls_and_others_stay():
    read = {"@imgs/a.png": b"\x89PNG"}.get
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what?"},
                {"type": "image_url", "image_url": {"url": "@imgs/a.png"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
            ],
        }
    ]
    out = inline_images(messages, lambda url, row: read(url), 0)
    urls = [p["image_url"]["url"] for p in out[0]["content"][1:]]
    assert urls == ["data:image/png;base64,iVBORw==", "data:image/png;base64,AA=="]
    assert messages[0]["content"][1]["image_url"]["url"] == "@imgs/a.png"  # not changed


def test_web_image_urls_are_refused_naming_the_row():
    from squall.model.handlers._hf_messages import ImageReader

    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}
            ],
        }
    ]
    with pytest.raises(InvalidArgumentError, match="row 3: image_url"):
        inline_images(messages, ImageReader(None, 1 << 20).read, 3)
