"""The signature of a Hugging Face pipeline, inferred from its task as upstream does.

Chat models (text-generation with a chat template, image-text-to-text) take the OpenAI
chat completion shape, :data:`OPENAI_CHAT_WITH_PARAMS_SIGNATURE`; every other task has
the columns its pipeline takes and returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from squall.errors import NotSupportedError
from squall.model._specs import (
    FeatureGroupSpec,
    FeatureSpec,
    ModelSignature,
    ParamGroupSpec,
    ParamSpec,
)

__all__ = [
    "CHAT_TASKS",
    "GENERATION_PARAMS",
    "OPENAI_CHAT_WITH_PARAMS_SIGNATURE",
    "infer_signature",
    "is_chat_signature",
]

CHAT_TASKS = ("text-generation", "image-text-to-text")


def _f(name: str, dtype: str, shape: tuple[int, ...] | None = None) -> FeatureSpec:
    return FeatureSpec(name, dtype, shape)  # type: ignore[arg-type]


def _g(
    name: str, specs: Sequence[FeatureSpec | FeatureGroupSpec], shape: tuple[int, ...] | None = None
) -> FeatureGroupSpec:
    return FeatureGroupSpec(name, specs, shape)


def _p(
    name: str, dtype: str, shape: tuple[int, ...] | None = None, default: Any = None
) -> ParamSpec:
    return ParamSpec(name, dtype, default, shape)  # type: ignore[arg-type]


_LABEL_SCORE: list[FeatureSpec | FeatureGroupSpec] = [_f("label", "STRING"), _f("score", "DOUBLE")]

_MESSAGES = _g(
    "messages",
    [
        _g(
            "content",
            [
                _f("type", "STRING"),
                _f("text", "STRING"),
                _g("image_url", [_f("url", "STRING"), _f("detail", "STRING")]),
                _g("video_url", [_f("url", "STRING")]),
                _g("input_audio", [_f("data", "STRING"), _f("format", "STRING")]),
            ],
            (-1,),
        ),
        _f("name", "STRING"),
        _f("role", "STRING"),
        _f("title", "STRING"),
    ],
    (-1,),
)

_CHAT_OUTPUTS: list[FeatureSpec | FeatureGroupSpec] = [
    _f("id", "STRING"),
    _f("object", "STRING"),
    _f("created", "FLOAT"),
    _f("model", "STRING"),
    _g(
        "choices",
        [
            _f("index", "INT32"),
            _g("message", [_f("content", "STRING"), _f("name", "STRING"), _f("role", "STRING")]),
            _f("logprobs", "STRING"),
            _f("finish_reason", "STRING"),
        ],
        (-1,),
    ),
    _g(
        "usage",
        [
            _f("completion_tokens", "INT32"),
            _f("prompt_tokens", "INT32"),
            _f("total_tokens", "INT32"),
        ],
    ),
]

#: Upstream's chat completion signature: messages in, a chat completion out, the sampling
#: settings as params.
OPENAI_CHAT_WITH_PARAMS_SIGNATURE = ModelSignature(
    inputs=[_MESSAGES],
    outputs=_CHAT_OUTPUTS,
    params=[
        _p("temperature", "DOUBLE", default=1.0),
        _p("max_completion_tokens", "INT64", default=250),
        _p("stop", "STRING", (-1,), default=[]),
        _p("n", "INT32", default=1),
        _p("stream", "BOOL", default=False),
        _p("top_p", "DOUBLE", default=1.0),
        _p("frequency_penalty", "DOUBLE", default=0.0),
        _p("presence_penalty", "DOUBLE", default=0.0),
    ],
)

GENERATION_PARAMS: tuple[ParamSpec | ParamGroupSpec, ...] = (
    # Length control
    _p("max_length", "INT64"),
    _p("max_new_tokens", "INT64"),
    _p("min_length", "INT64"),
    _p("min_new_tokens", "INT64"),
    # Stopping criteria
    _p("early_stopping", "STRING"),
    _p("max_time", "DOUBLE"),
    _p("stop_strings", "STRING", (-1,)),
    # Sampling strategy
    _p("do_sample", "BOOL"),
    _p("num_beams", "INT64"),
    _p("num_beam_groups", "INT64"),
    _p("penalty_alpha", "DOUBLE"),
    # Sampling parameters
    _p("temperature", "DOUBLE"),
    _p("top_k", "INT64"),
    _p("top_p", "DOUBLE"),
    _p("min_p", "DOUBLE"),
    _p("top_h", "DOUBLE"),
    _p("typical_p", "DOUBLE"),
    _p("epsilon_cutoff", "DOUBLE"),
    _p("eta_cutoff", "DOUBLE"),
    # Diversity / repetition
    _p("diversity_penalty", "DOUBLE"),
    _p("repetition_penalty", "DOUBLE"),
    _p("encoder_repetition_penalty", "DOUBLE"),
    _p("length_penalty", "DOUBLE"),
    _p("no_repeat_ngram_size", "INT64"),
    # Token manipulation
    _p("bad_words_ids", "INT64", (-1, -1)),
    _p("force_words_ids", "INT64", (-1, -1)),
    _p("renormalize_logits", "BOOL"),
    _p("forced_bos_token_id", "INT64"),
    _p("forced_eos_token_id", "INT64"),
    _p("remove_invalid_values", "BOOL"),
    _p("token_healing", "BOOL"),
    # Output control
    _p("num_return_sequences", "INT64"),
    _p("output_attentions", "BOOL"),
    _p("output_hidden_states", "BOOL"),
    _p("output_scores", "BOOL"),
    _p("output_logits", "BOOL"),
    # Token IDs
    _p("pad_token_id", "INT64"),
    _p("bos_token_id", "INT64"),
    _p("eos_token_id", "INT64"),
    # Encoder-decoder
    _p("encoder_no_repeat_ngram_size", "INT64"),
    _p("decoder_start_token_id", "INT64"),
    # Assisted generation
    _p("is_assistant", "BOOL"),
    _p("num_assistant_tokens", "INT64"),
    _p("num_assistant_tokens_schedule", "STRING"),
    _p("assistant_confidence_threshold", "DOUBLE"),
    _p("prompt_lookup_num_tokens", "INT64"),
    _p("max_matching_ngram_size", "INT64"),
    _p("assistant_early_exit", "INT64"),
    _p("assistant_lookbehind", "INT64"),
    _p("target_lookbehind", "INT64"),
    # Miscellaneous
    _p("guidance_scale", "DOUBLE"),
    _p("low_memory", "BOOL"),
    _p("disable_compile", "BOOL"),
    _p("prefill_chunk_size", "INT64"),
    # Suppression
    _p("suppress_tokens", "INT64", (-1,)),
    _p("begin_suppress_tokens", "INT64", (-1,)),
    _p("forced_decoder_ids", "INT64", (-1, -1)),
    # Cache
    _p("use_cache", "BOOL"),
    _p("cache_implementation", "STRING"),
    # Watermarking
    ParamGroupSpec(
        "watermarking_config",
        [
            _p("greenlist_ratio", "DOUBLE"),
            _p("bias", "DOUBLE"),
            _p("hashing_key", "INT64"),
            _p("seeding_scheme", "STRING"),
            _p("context_width", "INT64"),
        ],
    ),
)


def is_chat_signature(signature: ModelSignature) -> bool:
    """Whether a function takes chat messages (and so runs through the chat generator)."""
    return signature.input_names == ["messages"] and "choices" in signature.output_names


def _sig(
    inputs: Sequence[FeatureSpec | FeatureGroupSpec],
    outputs: Sequence[FeatureSpec | FeatureGroupSpec],
    params: Sequence[ParamSpec | ParamGroupSpec] = (),
) -> ModelSignature:
    return ModelSignature(inputs, outputs, list(params))


def _generated(task: str, params: Mapping[str, Any]) -> None:
    if params.get("return_tensors", False):
        raise NotSupportedError(
            f"a {task} pipeline with return_tensors=True has no inferred signature; "
            "pass signatures to log_model"
        )


def infer_signature(
    task: str, params: Mapping[str, Any], has_chat_template: bool
) -> ModelSignature | None:
    """The signature of a pipeline of task (None for a task with none inferred).

    params are the pipeline's keyword arguments: some change what it returns
    (top_k of a text classifier gives every label).
    """
    if task == "fill-mask":
        token = [_f("sequence", "STRING"), _f("score", "DOUBLE"), _f("token", "INT64")]
        return _sig(
            [_f("inputs", "STRING")],
            [_g("outputs", [*token, _f("token_str", "STRING")], (-1,))],
            [_p("targets", "STRING", (-1,)), _p("top_k", "INT64")],
        )
    if task in ("ner", "token-classification"):
        entity = [_f("word", "STRING"), _f("score", "DOUBLE"), _f("entity", "STRING")]
        where = [_f("index", "INT64"), _f("start", "INT64"), _f("end", "INT64")]
        return _sig([_f("inputs", "STRING")], [_g("outputs", entity + where, (-1,))])
    if task in ("text-classification", "sentiment-analysis"):
        cls_params = [_p("top_k", "INT64", default=1), _p("function_to_apply", "STRING")]
        if params.get("top_k") is not None:
            return _sig([_f("text", "STRING")], [_g("labels", _LABEL_SCORE, (-1,))], cls_params)
        return _sig([_f("text", "STRING")], list(_LABEL_SCORE), cls_params)
    if task == "zero-shot-classification":
        return _sig(
            [_f("sequences", "STRING"), _f("candidate_labels", "STRING", (-1,))],
            [
                _f("sequence", "STRING"),
                _f("labels", "STRING", (-1,)),
                _f("scores", "DOUBLE", (-1,)),
            ],
            [
                _p("hypothesis_template", "STRING", default="This example is {}."),
                _p("multi_label", "BOOL", default=False),
            ],
        )
    if task == "feature-extraction":
        return _sig([_f("inputs", "STRING")], [_f("feature_extraction", "DOUBLE", (-1,))])
    if task == "summarization":
        _generated(task, params)
        return _sig(
            [_f("documents", "STRING")],
            [_f("summary_text", "STRING")],
            [
                _p("clean_up_tokenization_spaces", "BOOL"),
                _p("truncation", "STRING"),
                *list(GENERATION_PARAMS),
            ],
        )
    if task.startswith("translation"):
        _generated(task, params)
        return _sig(
            [_f("inputs", "STRING")],
            [_f("translation_text", "STRING")],
            [_p("src_lang", "STRING"), _p("tgt_lang", "STRING"), *GENERATION_PARAMS],
        )
    if task == "text2text-generation":
        _generated(task, params)
        return _sig(
            [_f("inputs", "STRING")],
            [_f("generated_text", "STRING")],
            [
                _p("clean_up_tokenization_spaces", "BOOL"),
                _p("truncation", "STRING"),
                *list(GENERATION_PARAMS),
            ],
        )
    if task in CHAT_TASKS:
        _generated(task, params)
        if task == "image-text-to-text" or has_chat_template:
            return OPENAI_CHAT_WITH_PARAMS_SIGNATURE
        return _sig(
            [_f("inputs", "STRING")],
            [_g("outputs", [_f("generated_text", "STRING")], (-1,))],
            GENERATION_PARAMS,
        )
    if task == "image-classification":
        return _sig(
            [_f("images", "BYTES")],
            [_g("labels", _LABEL_SCORE, (-1,))],
            [
                _p("top_k", "INT64", default=5),
                _p("function_to_apply", "STRING"),
                _p("timeout", "DOUBLE"),
            ],
        )
    if task == "automatic-speech-recognition":
        chunk = _g("chunks", [_f("timestamp", "DOUBLE", (2,)), _f("text", "STRING")], (-1,))
        return _sig(
            [_f("audio", "BYTES")],
            [_g("outputs", [_f("text", "STRING"), chunk])],
            [_p("return_timestamps", "STRING"), *GENERATION_PARAMS],
        )
    return None
