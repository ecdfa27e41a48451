"""Run a pipeline of one task on a batch of rows and shape what it returns as the signature.

Each task takes its input columns, calls the pipeline once on the whole batch (the
pipeline batches on its own with ``batch_size``) and returns a DataFrame of the
signature's output columns. Params left at None are not passed to the pipeline.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from squall.errors import InvalidArgumentError, ModelOutputError
from squall.model._specs import ModelSignature

__all__ = ["SEQ2SEQ_TASKS", "Seq2Seq", "run_task"]

# Tasks of encoder-decoder models that squall runs itself: transformers 5 has no pipeline
# for them any more, and upstream serves them.
SEQ2SEQ_TASKS = ("summarization", "translation", "text2text-generation")
_SEQ2SEQ_OUTPUT = {
    "summarization": "summary_text",
    "translation": "translation_text",
    "text2text-generation": "generated_text",
}

PIPELINE_BATCH = 16  # rows the pipeline pads and runs together


def _given(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params that were set: None and groups of Nones left out."""
    out = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
            if not value:
                continue
        out[name] = value
    return out


def _texts(X: pd.DataFrame, column: str) -> list[str]:
    values = X[column].tolist()
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidArgumentError(f"row {row}: {column} must be a string, got {value!r:.80}")
    return values


def _image(value: Any, row: int) -> Any:
    from PIL import Image

    if isinstance(value, str) and value.startswith("data:"):
        import base64

        value = base64.b64decode(value.partition(",")[2])
    if not isinstance(value, bytes | bytearray):
        raise InvalidArgumentError(f"row {row}: images must hold image bytes, got {value!r:.60}")
    try:
        img = Image.open(io.BytesIO(value))
        img.load()
    except Exception as exc:
        raise InvalidArgumentError(f"row {row}: the image cannot be read: {exc}") from exc
    return img.convert("RGB")


def _audio(value: Any, row: int) -> Any:
    """WAV bytes as samples (no ffmpeg needed); other formats go to the pipeline as bytes."""
    if not isinstance(value, bytes | bytearray):
        raise InvalidArgumentError(f"row {row}: audio must hold audio bytes, got {value!r:.60}")
    if value[:4] != b"RIFF":
        return bytes(value)
    try:
        with wave.open(io.BytesIO(value)) as w:
            frames = w.readframes(w.getnframes())
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise InvalidArgumentError(f"row {row}: the WAV audio cannot be read: {exc}") from exc
    kinds = {1: np.uint8, 2: np.int16, 4: np.int32}
    if width not in kinds:
        raise InvalidArgumentError(f"row {row}: WAV samples of {width} bytes are not supported")
    samples = np.frombuffer(frames, dtype=kinds[width]).astype(np.float32)
    if width == 1:
        samples = (samples - 128.0) / 128.0
    else:
        samples /= float(2 ** (8 * width - 1))
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return {"raw": samples, "sampling_rate": rate}


def _listed(results: Any, n: int, row_is_list: bool = False) -> list[Any]:
    """The pipeline's answer as one result per row.

    A pipeline called on a one-item list may answer that item's result unwrapped: a dict,
    or (for tasks whose row result is a list of dicts, ``row_is_list``) a list of dicts.
    """
    if n == 1 and (
        isinstance(results, dict)
        or (
            row_is_list
            and isinstance(results, list)
            and (not results or isinstance(results[0], dict))
        )
    ):
        return [results]
    results = list(results)
    if len(results) != n:
        raise ModelOutputError(f"the pipeline returned {len(results)} results for {n} rows")
    return results


def _records(results: list[Any], names: list[str]) -> pd.DataFrame:
    """Rows of dicts (a one-dict list counts as the dict) as columns ``names``."""
    rows = [r[0] if isinstance(r, list) and len(r) == 1 else r for r in results]
    return pd.DataFrame({name: [r.get(name) for r in rows] for name in names})


def _as_lists(results: list[Any]) -> list[list[Any]]:
    return [r if isinstance(r, list) else [r] for r in results]


def seq2seq_kind(task: str) -> str | None:
    """The seq2seq task ``task`` is (``translation_en_to_fr`` is a translation), or None."""
    base = "translation" if task.startswith("translation") else task
    return base if base in SEQ2SEQ_TASKS else None


class Seq2Seq:
    """Summarization, translation and text2text-generation with an encoder-decoder model.

    Like their pipelines: the model's task prefix (``task_specific_params``) is put before
    each text, texts are padded together in batches, and the answer is decoded without
    special tokens. A pipeline-like object: ``model``, ``tokenizer``, called on texts.
    """

    def __init__(self, folder: str, task: str, device: Any, **model_kwargs: Any) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.task = task
        self.kind = seq2seq_kind(task)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(folder, **model_kwargs).eval()
        if device not in (-1, None, "cpu"):
            self.model.to(f"cuda:{device}" if isinstance(device, int) else device)
        params = getattr(self.model.config, "task_specific_params", None) or {}
        self.prefix = str((params.get(task) or params.get(self.kind) or {}).get("prefix", ""))

    def __call__(
        self, texts: list[str], batch_size: int = PIPELINE_BATCH, **kwargs: Any
    ) -> list[dict[str, str]]:
        import torch

        kwargs.pop("clean_up_tokenization_spaces", None)
        truncation = kwargs.pop("truncation", None)
        src, tgt = kwargs.pop("src_lang", None), kwargs.pop("tgt_lang", None)
        if src is not None:
            self.tokenizer.src_lang = src
        if tgt is not None:
            kwargs.setdefault("forced_bos_token_id", self.tokenizer.convert_tokens_to_ids(tgt))
        name = _SEQ2SEQ_OUTPUT[self.kind or "text2text-generation"]
        out: list[dict[str, str]] = []
        for start in range(0, len(texts), batch_size):
            chunk = [self.prefix + t for t in texts[start : start + batch_size]]
            inputs = self.tokenizer(
                chunk, return_tensors="pt", padding=True, truncation=bool(truncation)
            ).to(self.model.device)
            with torch.inference_mode():
                generated = self.model.generate(**inputs, **kwargs)
            texts_out = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            out += [{name: t} for t in texts_out]
        return out


def run_task(
    pipe: Any, task: str, signature: ModelSignature, X: pd.DataFrame, params: Mapping[str, Any]
) -> pd.DataFrame:
    """The outputs of ``pipe`` (a pipeline of ``task``) for the rows of ``X``."""
    kwargs = _given(params)
    n = len(X)
    inputs = signature.input_names
    outputs = signature.output_names
    batch = {"batch_size": min(PIPELINE_BATCH, max(1, n))}
    if task in ("text-classification", "sentiment-analysis"):
        raw = pipe(_texts(X, inputs[0]), **batch, **kwargs)
        if outputs == ["labels"]:
            return pd.DataFrame({"labels": _as_lists(_listed(raw, n, row_is_list=True))})
        return _records(_listed(raw, n), ["label", "score"])
    if task == "zero-shot-classification":
        texts = _texts(X, inputs[0])
        labels = X[inputs[1]].tolist()
        rows = []
        for row, (text, candidates) in enumerate(zip(texts, labels, strict=True)):
            candidates = [str(c) for c in (candidates if candidates is not None else [])]
            if not candidates:
                raise InvalidArgumentError(f"row {row}: candidate_labels is empty")
            rows.append(pipe(text, candidate_labels=candidates, **kwargs))
        return _records(rows, ["sequence", "labels", "scores"])
    if task in ("token-classification", "ner", "fill-mask"):
        results = _listed(pipe(_texts(X, inputs[0]), **batch, **kwargs), n, row_is_list=True)
        return pd.DataFrame({outputs[0]: _as_lists(results)})
    if task == "feature-extraction":
        results = _listed(pipe(_texts(X, inputs[0]), **batch, **kwargs), n)
        vectors = [
            np.asarray(r, dtype=np.float64).reshape(-1, np.shape(r)[-1]).mean(axis=0)
            for r in results
        ]
        return pd.DataFrame({outputs[0]: [v.tolist() for v in vectors]})
    if seq2seq_kind(task) is not None:
        results = _listed(pipe(_texts(X, inputs[0]), **batch, **kwargs), n)
        return _records(results, outputs)
    if task == "text-generation":
        results = _listed(pipe(_texts(X, inputs[0]), **batch, **kwargs), n, row_is_list=True)
        return pd.DataFrame({outputs[0]: _as_lists(results)})
    if task == "image-classification":
        images = [_image(v, row) for row, v in enumerate(X[inputs[0]].tolist())]
        results = _listed(pipe(images, **batch, **kwargs), n, row_is_list=True)
        return pd.DataFrame({outputs[0]: _as_lists(results)})
    if task == "automatic-speech-recognition":
        audio = [_audio(v, row) for row, v in enumerate(X[inputs[0]].tolist())]
        results = _listed(pipe(audio, **batch, **kwargs), n)
        return pd.DataFrame(
            {
                outputs[0]: [
                    {"text": r.get("text", ""), "chunks": r.get("chunks", [])} for r in results
                ]
            }
        )
    # A task with a signature given by the caller: the pipeline's own answer, row by row.
    columns = X[inputs].to_dict(orient="records")
    values = [c[inputs[0]] for c in columns] if len(inputs) == 1 else columns
    results = _listed(pipe(values, **kwargs), n)
    if len(outputs) == 1:
        return pd.DataFrame({outputs[0]: results})
    return _records(results, outputs)
