"""The vLLM inference engine for chat models: checks, argument mapping and output conversion.

vLLM schedules its own batches (continuous batching, a paged KV cache), so a worker hands it
a whole shard's conversations through ``LLM.chat``. The pure parts here (which models it
serves, the engine arguments, ``SamplingParams`` from the chat parameters, and the
conversion of its ``RequestOutput`` objects into the transformers engine's columns) need no
vLLM; :class:`VllmChat` imports vLLM only when it starts the engine.
"""

from __future__ import annotations

import base64
import mimetypes
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from squall.errors import InvalidArgumentError, InvalidSpecError, MissingExtraError

__all__ = [
    "VLLM_TASKS",
    "VllmChat",
    "check_model",
    "check_request",
    "completions",
    "engine_args",
    "engine_kwargs",
    "parse_engine_args",
    "sampling_kwargs",
    "vllm_module",
]

# The pipeline tasks vLLM serves, as upstream lists them.
VLLM_TASKS = ("text-generation", "image-text-to-text", "video-text-to-text", "audio-text-to-text")
COLUMNS = ["id", "object", "created", "model", "choices", "usage"]
_PARALLEL = ("--tensor-parallel-size", "-tp")


def vllm_module() -> Any:
    """The ``vllm`` package; MissingExtraError naming the ``vllm`` extra without it."""
    try:
        import vllm
    except ImportError as exc:
        raise MissingExtraError("vllm", "vllm", "the vLLM inference engine") from exc
    return vllm


def check_model(model_type: str, task: str | None, takes_messages: bool, label: str) -> None:
    """InvalidSpecError unless ``label`` is a pipeline of a vLLM task with the messages signature."""
    if model_type != "huggingface" or task is None:
        raise InvalidSpecError(
            f"inference engine 'vllm' is not available for model {label} ({model_type}): "
            "it serves Hugging Face chat pipelines"
        )
    if task not in VLLM_TASKS:
        raise InvalidSpecError(
            f"the vLLM engine does not serve pipeline task {task!r} (model {label}); "
            f"tasks it serves: {', '.join(VLLM_TASKS)}"
        )
    if not takes_messages:
        raise InvalidSpecError(
            f"the vLLM engine needs the chat signature (a 'messages' column in, chat "
            f"completions out); model {label} was logged with another signature"
        )


def check_request(
    folder: Path,
    model_type: str,
    takes_messages: bool,
    override: Sequence[str],
    gpu_requests: int | None,
    label: str,
) -> list[str]:
    """A run_batch request for the vLLM engine checked before any work: the engine arguments
    the workers start vLLM with. The model is checked first, then vLLM is imported
    (MissingExtraError naming the ``vllm`` extra) and the arguments parsed by its parser."""
    task = None
    config = folder / "pipeline.json"
    if model_type == "huggingface" and config.exists():
        import json

        task = json.loads(config.read_text(encoding="utf-8")).get("task")
    check_model(model_type, task, takes_messages, label)
    args = engine_args(override, gpu_requests)
    parse_engine_args(args)
    return args


def _names_option(args: Sequence[str], names: Sequence[str]) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


def engine_args(override: Sequence[str], gpu_requests: int | None) -> list[str]:
    """The engine's command-line arguments: ``override``, plus ``--tensor-parallel-size``
    from ``gpu_requests`` unless ``override`` sets it.

    >>> engine_args(["--max-model-len=4096"], 2)
    ['--max-model-len=4096', '--tensor-parallel-size=2']
    >>> engine_args(["--tensor-parallel-size", "1"], 4)
    ['--tensor-parallel-size', '1']
    """
    args = list(override)
    if gpu_requests and not _names_option(args, _PARALLEL):
        args.append(f"--tensor-parallel-size={int(gpu_requests)}")
    return args


def _parser() -> Any:
    vllm_module()
    from vllm.engine.arg_utils import EngineArgs

    try:
        from vllm.utils import FlexibleArgumentParser
    except ImportError:  # newer releases moved it
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    return EngineArgs, EngineArgs.add_cli_args(FlexibleArgumentParser(prog="vllm"))


def parse_engine_args(args: Sequence[str], model: str = "model") -> dict[str, Any]:
    """``args`` parsed by vLLM's own argument parser: the ``EngineArgs`` keyword arguments.

    MissingExtraError without vLLM; InvalidSpecError naming an argument vLLM does not know.
    """
    engine_cls, parser = _parser()
    if _names_option(args, ("--model",)):
        raise InvalidSpecError(
            "engine_args_override may not set --model; the engine runs the registered model"
        )
    try:
        namespace, unknown = parser.parse_known_args(["--model", model, *args])
    except SystemExit as exc:  # argparse exits on a bad value
        raise InvalidSpecError(
            f"engine_args_override {list(args)!r} has a value vLLM does not accept"
        ) from exc
    if unknown:
        raise InvalidSpecError(
            f"unknown vLLM engine argument(s) {', '.join(map(repr, unknown))} in "
            "engine_args_override"
        )
    import dataclasses

    fields = {f.name for f in dataclasses.fields(engine_cls)}
    return {k: v for k, v in vars(namespace).items() if k in fields}


def engine_kwargs(args: Sequence[str], model: str) -> dict[str, Any]:
    """The keyword arguments for ``vllm.LLM``: the model and what ``args`` set, so every
    other setting keeps ``LLM``'s own default (as if the user had called it by hand)."""
    chosen = parse_engine_args(args, model)
    defaults = parse_engine_args([], model)
    return {k: v for k, v in chosen.items() if k == "model" or defaults.get(k) != v}


def sampling_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments from the chat parameters (the transformers
    engine's defaults: 250 new tokens, temperature 1).

    >>> sampling_kwargs({"max_completion_tokens": 8, "temperature": 0, "stop": ["\\n", ""]})
    {'max_tokens': 8, 'temperature': 0.0, 'top_p': 1.0, 'n': 1, 'stop': ['\\n']}
    """
    from squall.model.handlers._hf_messages import chat_settings

    max_tokens, n, temperature = chat_settings(params)
    top_p = params.get("top_p")
    top_p = 1.0 if top_p is None else float(top_p)
    if not 0 < top_p <= 1:
        raise InvalidArgumentError(f"top_p must be in (0, 1], got {top_p}")
    out: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
    out["n"] = n
    stop = [s for s in (params.get("stop") or []) if s]
    if stop:
        out["stop"] = stop
    for name in ("frequency_penalty", "presence_penalty"):
        if params.get(name):
            out[name] = float(params[name])
    return out


def _finish(reason: Any) -> str:
    """vLLM's finish reason as the transformers engine words it: "length" or "stop"."""
    return "length" if reason == "length" else "stop"


def completions(outputs: Sequence[Any], model_name: str, n: int) -> pd.DataFrame:
    """The chat-completion rows for vLLM ``RequestOutput`` objects (one per conversation):
    the transformers engine's columns, with vLLM's own token counts and finish reasons."""
    created = float(time.time())
    rows = []
    for out in outputs:
        choices = []
        completion = 0
        answers = sorted(out.outputs, key=lambda c: c.index)
        if len(answers) < n:  # greedy answers collapse: n equal ones, as the other engine
            answers = (answers * n)[:n]
        for k, answer in enumerate(answers):
            completion += len(answer.token_ids)
            choices.append(
                {
                    "index": k,
                    "message": {"role": "assistant", "content": answer.text},
                    "logprobs": None,
                    "finish_reason": _finish(answer.finish_reason),
                }
            )
        prompt = len(out.prompt_token_ids or [])
        rows.append(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": created,
                "model": model_name,
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def data_url(data: bytes, url: str) -> str:
    """``data`` as a ``data:`` URL, typed from ``url``'s extension (PNG when unknown).

    >>> data_url(b"hi", "@s/a.jpg")
    'data:image/jpeg;base64,aGk='
    """
    kind = mimetypes.guess_type(url)[0] or "image/png"
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def inline_images(messages: list[dict[str, Any]], read: Any, row: int) -> list[dict[str, Any]]:
    """The conversation with each ``image_url`` but a data URL replaced by one, its bytes from
    ``read(url, row)`` (which refuses web URLs, naming the row)."""
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            parts = []
            for part in content:
                url = (part.get("image_url") or {}).get("url") if part.get("type") else None
                if part.get("type") == "image_url" and isinstance(url, str):
                    if not url.startswith("data:"):  # a stage path; web URLs are refused
                        url = data_url(read(url, row), url)
                    part = {**part, "image_url": {**part["image_url"], "url": url}}
                parts.append(part)
            message = {**message, "content": parts}
        out.append(message)
    return out


_OOM_HINT = (
    "the vLLM engine ran out of GPU memory while starting; lower --max-model-len or "
    "--gpu-memory-utilization (or raise --tensor-parallel-size) in engine_args_override"
)


class VllmChat:
    """A vLLM engine over a model folder, started once; ``chat(column, params)`` per shard."""

    def __init__(self, folder: Path, model_name: str, args: Sequence[str], images: Any) -> None:
        vllm = vllm_module()
        kwargs = engine_kwargs(args, str(folder))
        self.model_name = model_name
        self.images = images
        # vLLM runs its engine core (and tensor-parallel workers) in child processes, which
        # a daemonic process may not start; squall's worker still ends them: close() shuts
        # the engine down, and vLLM's processes end with their parent.
        import multiprocessing

        if multiprocessing.current_process().daemon:
            multiprocessing.current_process().daemon = False
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as exc:
            if "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError":
                raise InvalidSpecError(_OOM_HINT) from exc
            raise

    def __call__(self, column: Sequence[Any], params: Mapping[str, Any]) -> pd.DataFrame:
        from vllm import SamplingParams

        from squall.model.handlers._hf_messages import normalize_messages

        sampling = sampling_kwargs(params)
        conversations = [
            inline_images(normalize_messages(v, row), self.images.read, row)  # type: ignore[arg-type]
            for row, v in enumerate(column)
        ]
        outputs = self.llm.chat(conversations, SamplingParams(**sampling), use_tqdm=False)
        return completions(outputs, self.model_name, sampling["n"])

    def close(self) -> None:
        """Shut the engine down and free its GPU memory."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None)
        if callable(shutdown):
            shutdown()
        del llm, engine
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
