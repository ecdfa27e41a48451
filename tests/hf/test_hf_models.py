"""Hugging Face pipelines logged, their signatures inferred per task, and called in process."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import squall
from squall.errors import InvalidArgumentError, ModelNotFoundError, SignatureError
from squall.model.handlers._hf_chat import plan_batches
from squall.model.handlers._hf_signatures import OPENAI_CHAT_WITH_PARAMS_SIGNATURE
from squall.model.huggingface import TransformersPipeline
from squall.model.signature import DataType, FeatureSpec, ModelSignature
from squall.registry import Registry

from .tiny_models import png_bytes, wav_bytes

QUESTIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarise: a b c"}],
    [{"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]}],
    [{"role": "user", "content": "A much longer question, to make the prompts differ in length."}],
]


def log(session, model, name="m", **kwargs):
    return Registry(session).log_model(model, model_name=name, version_name="v1", **kwargs)


def direct_answers(folder, conversations, new_tokens):
    """What the pipeline itself answers, row by row, greedy."""
    import transformers

    pipe = transformers.pipeline("text-generation", model=str(folder), device=-1)
    answers = []
    for messages in conversations:
        plain = []
        for m in messages:  # text parts as messages of their own, as the chat model does
            if isinstance(m["content"], str):
                plain.append(m)
            else:
                plain += [{"role": m["role"], "content": p["text"]} for p in m["content"]]
        out = pipe(plain, max_new_tokens=new_tokens, do_sample=False)
        answers.append(out[0]["generated_text"][-1]["content"])
    return answers


@pytest.fixture(scope="module")
def chat_version(tiny, tmp_path_factory):
    session = squall.connect(tmp_path_factory.mktemp("ws"))
    return log(session, TransformersPipeline(task="text-generation", model=str(tiny.chat)))


def test_chat_model_gets_upstreams_chat_signature_and_keeps_its_files(chat_version, tiny):
    sig = chat_version.get_signatures()["__call__"]
    assert sig == OPENAI_CHAT_WITH_PARAMS_SIGNATURE
    assert sig.input_names == ["messages"]
    assert sig.output_names == ["id", "object", "created", "model", "choices", "usage"]
    defaults = {p.name: p.default_value for p in sig.params}
    assert defaults["temperature"] == 1.0
    assert defaults["max_completion_tokens"] == 250
    assert defaults["stop"] == []
    assert defaults["n"] == 1
    assert defaults["top_p"] == 1.0
    assert defaults["frequency_penalty"] == defaults["presence_penalty"] == 0.0
    saved = chat_version.path / "model"
    assert (saved / "config.json").exists() and (saved / "tokenizer_config.json").exists()


def test_greedy_chat_in_batches_equals_the_pipeline_row_by_row(chat_version, tiny):
    params = {"temperature": 0, "max_completion_tokens": 12}
    out = chat_version.run(pd.DataFrame({"messages": QUESTIONS}), params=params)
    expected = direct_answers(tiny.chat, QUESTIONS, 12)
    got = [c[0]["message"]["content"] for c in out["choices"]]
    assert got == expected
    again = chat_version.run(pd.DataFrame({"messages": QUESTIONS}), params=params)
    assert [c[0]["message"]["content"] for c in again["choices"]] == got  # reproducible
    first = out.iloc[0]
    assert first["object"] == "chat.completion"
    assert first["model"] == "tiny-chat"  # the folder's name, never a workspace path
    assert first["id"].startswith("chatcmpl-")
    assert first["choices"][0]["message"]["role"] == "assistant"
    usage = first["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] <= 12


def test_a_worker_started_for_vllm_loads_no_transformers_weights(chat_version):
    """With the vLLM engine the engine holds the weights: the handler loads no second copy
    (on a GPU it could leave vLLM no memory); the pipeline still loads if it is asked for."""
    from squall.model.packaging import load_model
    from squall.model.resources import Resources

    deferred = load_model(chat_version.path, Resources(engine_args=("--max-model-len=64",)))
    assert deferred.model._pipe is None
    eager = load_model(chat_version.path)
    assert eager.model._pipe is not None
    params = {"temperature": 0, "max_completion_tokens": 4}
    rows = pd.DataFrame({"messages": QUESTIONS[:1]})
    late, now = deferred.model(rows, **params), eager.model(rows, **params)
    assert late["choices"][0][0]["message"] == now["choices"][0][0]["message"]


def test_finish_reason_is_length_when_cut_and_stop_at_a_stop_string(chat_version):
    X = pd.DataFrame({"messages": QUESTIONS[:1]})
    cut = chat_version.run(X, params={"temperature": 0, "max_completion_tokens": 6})
    choice = cut["choices"][0][0]
    if cut["usage"][0]["completion_tokens"] == 6:  # no end-of-text token came first
        assert choice["finish_reason"] == "length"
    text = choice["message"]["content"]
    assert len(text) >= 3
    stopped = chat_version.run(
        X, params={"temperature": 0, "max_completion_tokens": 6, "stop": [text[2:3]]}
    )
    choice = stopped["choices"][0][0]
    assert choice["finish_reason"] == "stop"
    assert text[2:3] not in choice["message"]["content"]
    assert text.startswith(choice["message"]["content"])


def test_n_choices_and_sampling_give_n_answers(chat_version):
    X = pd.DataFrame({"messages": QUESTIONS[:2]})
    out = chat_version.run(X, params={"temperature": 0.8, "n": 3, "max_completion_tokens": 4})
    assert [len(c) for c in out["choices"]] == [3, 3]
    assert [c["index"] for c in out["choices"][0]] == [0, 1, 2]


def test_a_prompt_past_the_context_and_bad_messages_name_their_row(chat_version):
    long = [{"role": "user", "content": "x" * 300}]
    X = pd.DataFrame({"messages": [QUESTIONS[0], long]})
    with pytest.raises(InvalidArgumentError, match=r"row 1: the prompt has \d+ tokens"):
        chat_version.run(X, params={"max_completion_tokens": 4})
    with pytest.raises(InvalidArgumentError, match="row 1: message 0 must be a dict with a role"):
        chat_version.run(pd.DataFrame({"messages": [QUESTIONS[0], [{"content": "x"}]]}))
    web = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        }
    ]
    with pytest.raises(InvalidArgumentError, match=r"row 0: image_url 'https://example\.com"):
        chat_version.run(pd.DataFrame({"messages": [web]}), params={"max_completion_tokens": 2})


def test_plan_batches_groups_by_length_within_the_token_budget():
    lengths = [50, 3, 40, 4, 5, 45]
    batches = plan_batches(lengths, new_tokens=10, budget=120)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for batch in batches:
        assert len(batch) * (max(lengths[i] for i in batch) + 10) <= 120 or len(batch) == 1
    assert batches[0] == [1, 3, 4]  # the short prompts together, shortest first


def test_plain_text_generation_without_chat_template(session, tiny):
    mv = log(session, TransformersPipeline(task="text-generation", model=str(tiny.plain_llm)))
    sig = mv.get_signatures()["__call__"]
    assert sig.input_names == ["inputs"] and sig.output_names == ["outputs"]
    out = mv.run(pd.DataFrame({"inputs": ["abc", "hello there"]}), params={"max_new_tokens": 3})
    assert [o[0]["generated_text"][:3] for o in out["outputs"]] == ["abc", "hel"]


def test_a_pipeline_object_is_logged_like_a_folder(session, tiny):
    import transformers

    pipe = transformers.pipeline("text-classification", model=str(tiny.bert("sequence")))
    mv = log(session, pipe)
    sig = mv.get_signatures()["__call__"]
    assert sig.input_names == ["text"] and sig.output_names == ["label", "score"]
    out = mv.run(pd.DataFrame({"text": ["good", "bad"]}))
    assert set(out["label"]) <= {"NEG", "POS"}
    direct = pipe(["good", "bad"])
    assert out["label"].tolist() == [d["label"] for d in direct]


def test_each_task_infers_its_signature_and_answers_one_row_per_input(session, tiny):
    cases = [
        ("token-classification", tiny.bert("token"), {"inputs": ["ab cd"]}, ["outputs"]),
        ("fill-mask", tiny.bert("masked"), {"inputs": ["a[MASK]c"]}, ["outputs"]),
        (
            "feature-extraction",
            tiny.bert("none"),
            {"inputs": ["abc", "de"]},
            ["feature_extraction"],
        ),
        (
            "zero-shot-classification",
            tiny.bert("sequence", ["entailment", "neutral", "contradiction"]),
            {"sequences": ["abc"], "candidate_labels": [["x", "y"]]},
            ["sequence", "labels", "scores"],
        ),
        ("summarization", tiny.seq2seq, {"documents": ["abc def"]}, ["summary_text"]),
        ("image-classification", tiny.vit, {"images": [png_bytes()]}, ["labels"]),
        ("automatic-speech-recognition", tiny.ctc, {"audio": [wav_bytes()]}, ["outputs"]),
    ]
    for i, (task, folder, data, outputs) in enumerate(cases):
        mv = log(session, TransformersPipeline(task=task, model=str(folder)), name=f"t{i}")
        assert mv.get_signatures()["__call__"].output_names == outputs, task
        X = pd.DataFrame(data)
        out = mv.run(X, params={"max_new_tokens": 3} if task == "summarization" else None)
        assert len(out) == len(X), task
        if task == "feature-extraction":
            assert len(out["feature_extraction"][0]) == 32  # the hidden size
        if task == "image-classification":
            assert {d["label"] for d in out["labels"][0]} == {"cat", "dog"}


def test_unknown_task_needs_signatures_and_hub_ids_must_be_cached(session, tiny):
    with pytest.raises(SignatureError, match="no signature for pipeline task 'text-to-audio'"):
        log(session, TransformersPipeline(task="text-to-audio", model=str(tiny.chat)))
    sig = ModelSignature(
        [FeatureSpec("inputs", DataType.STRING)], [FeatureSpec("outputs", DataType.STRING)]
    )
    with pytest.raises(SignatureError, match="a pipeline has one function"):
        log(
            session,
            TransformersPipeline(task="text-generation", model=str(tiny.chat)),
            signatures={"predict": sig},
        )
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache"):
        TransformersPipeline(task="text-generation", model="squall-test/no-such-model")
    with pytest.raises(InvalidArgumentError, match="pipeline_kwargs must hold JSON values"):
        TransformersPipeline(task="text-generation", model=str(tiny.chat), bad=object())


def test_outputs_of_chat_are_json_in_the_batch_output(chat_version):
    from squall.batch.output import to_output_table

    out = chat_version.run(
        pd.DataFrame({"messages": QUESTIONS[:1]}),
        params={"temperature": 0, "max_completion_tokens": 2},
    )
    table = to_output_table(out)
    choices = json.loads(table.column("choices")[0].as_py())
    assert set(choices[0]) == {"index", "message", "logprobs", "finish_reason"}


def test_a_hub_id_resolves_through_the_local_cache(session, tiny, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub.constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--squall-test--tiny-chat" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny.chat, snapshot)
    (cache / "models--squall-test--tiny-chat" / "refs").mkdir()
    (cache / "models--squall-test--tiny-chat" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    chat = TransformersPipeline(task="text-generation", model="squall-test/tiny-chat")
    assert chat.folder == snapshot
    mv = log(session, chat, name="cached")
    out = mv.run(
        pd.DataFrame({"messages": QUESTIONS[:1]}),
        params={"temperature": 0, "max_completion_tokens": 3},
    )
    assert out["model"][0] == "squall-test/tiny-chat"
