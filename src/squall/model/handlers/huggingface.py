"""Hugging Face pipelines: a model folder and its task, served as one ``__call__`` function.

Saving copies the model's files (a :class:`~squall.model.huggingface.TransformersPipeline`'s
folder, or what ``save_pretrained`` writes for a ``transformers.Pipeline`` object) and
infers the signature from the task. Loading builds the pipeline on the worker's device;
chat models answer through the batched chat generator (``_hf_chat``), other tasks through
the pipeline itself (``_hf_tasks``). torch and tokenizers are not fork-safe: workers of
these models are spawned, never forked from the warm pool.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from squall.errors import InvalidArgumentError, MissingExtraError, SignatureError
from squall.model._manifest import FunctionInfo, Manifest
from squall.model._specs import ModelSignature
from squall.model.handlers._hf_signatures import CHAT_TASKS, infer_signature, is_chat_signature
from squall.model.handlers.base import ModelHandler
from squall.model.resources import Resources

__all__ = ["FUNCTION", "HuggingFaceHandler", "PipelineModel"]

FUNCTION = "__call__"  # upstream's target method of a pipeline
_FILES = "model"
_CONFIG = "pipeline.json"
# A transformer's matrix products scale over a few threads: fewer, wider workers generate
# faster than one single-threaded worker per core, and hold fewer copies of the model.
_CORES_PER_WORKER = 4


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise MissingExtraError("transformers", "hf", "a Hugging Face model") from exc
    return transformers


def _is_pipeline_object(model: Any) -> bool:
    return any(
        getattr(k, "__module__", "").startswith("transformers.pipelines")
        and k.__name__ == "Pipeline"
        for k in type(model).__mro__
    )


def _has_chat_template(folder: Path) -> bool:
    """Whether the saved tokenizer (or processor) carries a chat template."""
    if any((folder / name).exists() for name in ("chat_template.jinja", "chat_template.json")):
        return True
    config = folder / "tokenizer_config.json"
    if config.exists():
        try:
            return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
        except ValueError:
            return False
    return False


def _copy_folder(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".git", ".cache"))


class HuggingFaceHandler(ModelHandler):
    name = "huggingface"
    libraries = ("torch", "transformers")
    fork_safe = False
    gpu_capable = True  # torch runs the model on a GPU when the worker has one

    def can_handle(self, model: Any) -> bool:
        from squall.model.huggingface import TransformersPipeline

        return isinstance(model, TransformersPipeline) or _is_pipeline_object(model)

    def save(
        self,
        model: Any,
        folder: Path,
        *,
        sample_input_data: Any,
        signatures: Mapping[str, ModelSignature] | None,
        options: Mapping[str, Any],
    ) -> dict[str, FunctionInfo]:
        from squall.model.huggingface import TransformersPipeline

        files = folder / _FILES
        if isinstance(model, TransformersPipeline):
            config = model.to_config()
            _copy_folder(model.folder, files)
        else:
            config = self._save_pipeline(model, files)
        (folder / _CONFIG).write_text(json.dumps(config, indent=1), encoding="utf-8")
        return {FUNCTION: FunctionInfo(FUNCTION, self._signature(config, files, signatures))}

    def _save_pipeline(self, pipe: Any, files: Path) -> dict[str, Any]:
        task = getattr(pipe, "task", None)
        if not task:
            raise InvalidArgumentError(
                f"the {type(pipe).__name__} has no task; build it with transformers.pipeline(task, ...)"
            )
        pipe.save_pretrained(str(files))
        name = str(getattr(pipe.model, "name_or_path", "") or task)
        return {
            "task": task,
            "model_name": Path(name).name if Path(name).is_absolute() else name,
            "revision": None,
            "trust_remote_code": None,
            "model_kwargs": {},
            "pipeline_kwargs": {},
        }

    def _signature(
        self,
        config: Mapping[str, Any],
        files: Path,
        signatures: Mapping[str, ModelSignature] | None,
    ) -> ModelSignature:
        task = config["task"]
        given = dict(signatures or {})
        if given:
            unknown = [k for k in given if k.lower() not in (FUNCTION, "call")]
            if unknown or len(given) > 1:
                raise SignatureError(
                    f"signatures names {', '.join(map(repr, given))}; a pipeline has one "
                    f"function, {FUNCTION!r}"
                )
            sig = next(iter(given.values()))
            if not isinstance(sig, ModelSignature):
                raise SignatureError(f"signatures[{FUNCTION!r}] is not a ModelSignature: {sig!r}")
            return sig
        inferred = infer_signature(
            task, config.get("pipeline_kwargs") or {}, _has_chat_template(files)
        )
        if inferred is None:
            raise SignatureError(
                f"squall infers no signature for pipeline task {task!r}; pass "
                f"signatures={{'{FUNCTION}': ModelSignature(...)}} to log_model"
            )
        return inferred

    def default_workers(self, folder: Path) -> int | None:
        """As many workers as fit the machine's memory (one model each, twice its files),
        each with at least ``_CORES_PER_WORKER`` cores for torch's threads."""
        import os

        import psutil

        size = sum(f.stat().st_size for f in (folder / _FILES).rglob("*") if f.is_file())
        per_worker = 2 * size + (512 << 20)  # weights, activations, the interpreter and torch
        fit = int(psutil.virtual_memory().available // per_worker)
        cores = max(1, (os.cpu_count() or 1) // _CORES_PER_WORKER)
        return max(1, min(cores, fit))

    def load(
        self, folder: Path, manifest: Manifest, resources: Resources | None = None
    ) -> PipelineModel:
        # The worker's GPUs are its CUDA_VISIBLE_DEVICES: the pipeline takes cuda:0 when it
        # owns one (see _device), the CPU otherwise.
        config = json.loads((folder / _CONFIG).read_text(encoding="utf-8"))
        signature = manifest.functions[FUNCTION].signature
        engine_args = resources.engine_args if resources is not None else None
        return PipelineModel(folder / _FILES, config, signature, load=engine_args is None)

    def save_object(self, model: Any, folder: Path) -> None:
        raise InvalidArgumentError("a Hugging Face pipeline cannot be nested in another model")

    def load_object(self, folder: Path) -> Any:
        raise InvalidArgumentError("a Hugging Face pipeline cannot be nested in another model")


def _device() -> Any:
    import torch

    return 0 if torch.cuda.is_available() else -1


class PipelineModel:
    """A loaded pipeline: ``model(X, **params)`` answers a batch of rows."""

    def __init__(
        self,
        files: Path,
        config: Mapping[str, Any],
        signature: ModelSignature,
        load: bool = True,
    ) -> None:
        self.task = config["task"]
        self.files = files
        self.signature = signature
        self.model_name = config.get("model_name") or self.task
        self._stages: Any = None
        self._budget = 64 << 20
        self._chat: Any = None
        self._config = config
        self._pipe: Any = None
        if load:  # not when another engine (vLLM) will hold the weights: see use_vllm
            self._pipe = self._pipeline(config)

    @property
    def pipe(self) -> Any:
        """The transformers pipeline, loaded on first use when the worker was started for
        another engine."""
        if self._pipe is None:
            self._pipe = self._pipeline(self._config)
        return self._pipe

    def _pipeline(self, config: Mapping[str, Any]) -> Any:
        transformers = _transformers()
        kwargs = dict(config.get("pipeline_kwargs") or {})
        if config.get("trust_remote_code") is not None:
            kwargs["trust_remote_code"] = config["trust_remote_code"]
        if config.get("model_kwargs"):
            kwargs["model_kwargs"] = config["model_kwargs"]
        kwargs.setdefault("device", _device())
        from squall.model.handlers._hf_tasks import Seq2Seq, seq2seq_kind

        if seq2seq_kind(self.task) is not None:
            return Seq2Seq(
                str(self.files),
                self.task,
                kwargs["device"],
                **dict(config.get("model_kwargs") or {}),
            )
        pipe = transformers.pipeline(self.task, model=str(self.files), **kwargs)
        tokenizer = getattr(pipe, "tokenizer", None)
        if tokenizer is not None and tokenizer.pad_token_id is None and tokenizer.eos_token:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer is not None and self.task == "text-generation":
            tokenizer.padding_side = "left"  # decoder-only models continue from the right
        return pipe

    def use_stages(self, stages: Any, byte_budget: int) -> None:
        """Read ``image_url`` stage paths through ``stages``, at most ``byte_budget`` each."""
        self._stages, self._budget = stages, byte_budget
        self._chat = None

    def use_vllm(self, engine_args: list[str]) -> None:
        """Answer chat batches through a vLLM engine started now with ``engine_args``."""
        from squall.model.handlers._hf_messages import ImageReader
        from squall.model.handlers._vllm import VllmChat

        self.close()
        images = ImageReader(self._stages, self._budget)
        self._chat = VllmChat(self.files, self.model_name, engine_args, images)

    def close(self) -> None:
        """Shut down the vLLM engine, if one runs."""
        close = getattr(self._chat, "close", None)
        if callable(close):
            close()
        self._chat = None

    def _chat_runner(self) -> Any:
        if self._chat is None:
            from squall.model.handlers._hf_chat import ChatGenerator, MultimodalChat
            from squall.model.handlers._hf_messages import ImageReader

            images = ImageReader(self._stages, self._budget)
            if self.task == "image-text-to-text":
                self._chat = MultimodalChat(self.pipe, self.model_name, images=images)
            else:
                self._chat = ChatGenerator(self.pipe, self.model_name, images=images)
        return self._chat

    def __call__(self, X: pd.DataFrame, **params: Any) -> pd.DataFrame:
        if self.task in CHAT_TASKS and is_chat_signature(self.signature):
            return self._chat_runner()(X["messages"].tolist(), params)  # type: ignore[no-any-return]
        from squall.model.handlers._hf_tasks import run_task

        return run_task(self.pipe, self.task, self.signature, X, params)
