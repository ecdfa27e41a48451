"""Batch jobs of Hugging Face chat models: greedy answers, stage images, bad rows, refusals."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest

from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidSpecError
from squall.model.huggingface import TransformersPipeline
from squall.registry import Registry

from .test_hf_models import QUESTIONS, direct_answers
from .tiny_models import png_bytes

GREEDY = {"temperature": 0, "max_completion_tokens": 8}


@pytest.fixture
def chat(session, tiny):
    return Registry(session).log_model(
        TransformersPipeline(task="text-generation", model=str(tiny.chat)),
        model_name="assistant",
        version_name="v1",
    )


def image_message(url: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_chat_job_answers_as_the_pipeline_does_row_by_row(session, chat, tiny):
    session.create_stage("results")
    X = pd.DataFrame({"messages": QUESTIONS * 3, "qid": range(12)})
    job = chat.run_batch(
        X,
        input_spec=InputSpec(params=GREEDY),
        output_spec=OutputSpec(stage_location="@results/chat/"),
        job_spec=JobSpec(num_workers=1, max_batch_rows=5),
    )
    assert job.wait(timeout=240) == "DONE", job.get_logs()
    out = session.read.parquet("@results/chat/").to_pandas().sort_values("qid")
    answers = [json.loads(c)[0]["message"]["content"] for c in out["choices"]]
    assert answers == direct_answers(tiny.chat, QUESTIONS, 8) * 3
    usage = [json.loads(u) for u in out["usage"]]
    assert all(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] for u in usage)
    assert set(out["object"]) == {"chat.completion"}
    # torch is not fork-safe: the worker was spawned, never forked from the warm pool
    assert "spawned" in job.get_logs() and "forked by the warm pool" not in job.get_logs()


def test_stage_images_are_read_and_other_urls_fail_their_row(session, tiny, tmp_path):
    vision = Registry(session).log_model(
        TransformersPipeline(task="image-text-to-text", model=str(tiny.llava)),
        model_name="vision",
        version_name="v1",
    )
    session.create_stage("photos")
    session.create_stage("results")
    (tmp_path / "cat.png").write_bytes(png_bytes())
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    session.put(str(tmp_path / "*.png"), "@photos/")
    inline = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    X = pd.DataFrame(
        {
            "messages": [
                image_message("@photos/cat.png"),
                image_message("https://example.com/cat.png"),
                image_message(inline),
                QUESTIONS[0],
                image_message("@photos/broken.png"),
            ]
        }
    )
    job = vision.run_batch(
        X,
        input_spec=InputSpec(params=GREEDY),
        output_spec=OutputSpec(stage_location="@results/img/"),
        job_spec=JobSpec(num_workers=1, on_error="continue"),
    )
    assert job.wait(timeout=240) == "DONE", job.get_logs()
    out = session.read.parquet("@results/img/").to_pandas()
    errors = out["_ERROR"].tolist()
    assert out["_ERROR"].isna().tolist() == [True, False, True, True, False], errors
    assert "row 0: image_url 'https://example.com/cat.png'" in errors[1]
    assert "cannot be read" in errors[4]
    assert out["choices"].isna().tolist() == [False, True, False, False, True]
    # the stage image and the same picture inline give the same greedy answer
    answers = [json.loads(c)[0]["message"]["content"] for c in out["choices"][[0, 2]]]
    assert answers[0] == answers[1]


def test_partition_column_is_refused_for_a_hugging_face_model(session, chat):
    session.create_stage("results")
    X = pd.DataFrame({"messages": QUESTIONS[:2], "shop": [1, 2]})
    with pytest.raises(InvalidSpecError, match="partition_column='shop'"):
        chat.run_batch(
            X,
            input_spec=InputSpec(partition_column="shop"),
            output_spec=OutputSpec(stage_location="@results/p/"),
        )
