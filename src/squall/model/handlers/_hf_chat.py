"""Chat completions for a batch of conversations, generated in batches for real.

Prompts are grouped by length (sorted, so a batch pads little), left-padded, and cut into
generation batches that fit a token budget: ``rows x (longest prompt + new tokens)`` stays
under it, so a few long prompts never make one huge batch. Each row gets an OpenAI-style
chat completion: ``finish_reason`` is "length" when the token limit cut the answer and
"stop" otherwise; ``temperature=0`` is greedy and reproducible.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from squall.errors import InvalidArgumentError
from squall.model.handlers._hf_messages import (
    ImageReader,
    Message,
    chat_settings,
    image_urls,
    normalize_messages,
    text_only,
    with_images,
)

__all__ = ["TOKEN_BUDGET", "ChatGenerator", "plan_batches"]

# Tokens (rows x padded length) one generation batch may hold; rows per batch at most.
TOKEN_BUDGET = 32_768
MAX_BATCH_ROWS = 64


def plan_batches(
    lengths: Sequence[int],
    new_tokens: int,
    budget: int = TOKEN_BUDGET,
    max_rows: int = MAX_BATCH_ROWS,
) -> list[list[int]]:
    """Row indices in generation batches: shortest prompts first, each batch in the budget.

    >>> plan_batches([5, 1, 3, 9], new_tokens=3, budget=16)
    [[1, 2], [0], [3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[i] + new_tokens  # sorted: the longest of the batch so far
        if current and ((len(current) + 1) * width > budget or len(current) >= max_rows):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _context_length(config: Any) -> int | None:
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _eos_ids(generation_config: Any, tokenizer: Any) -> set[int]:
    eos = getattr(generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return set()
    return set(eos) if isinstance(eos, list | tuple) else {int(eos)}


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    hits = [text.find(s) for s in stop if s and s in text]
    return (text[: min(hits)], True) if hits else (text, False)


class ChatGenerator:
    """Answers chat conversations with a text-generation pipeline's model and tokenizer."""

    def __init__(
        self,
        pipe: Any,
        model_name: str,
        *,
        images: ImageReader | None = None,
        token_budget: int = TOKEN_BUDGET,
    ) -> None:
        self.pipe = pipe
        self.model = pipe.model
        self.tokenizer = pipe.tokenizer
        self.model_name = model_name
        self.images = images or ImageReader(None, 0)
        self.token_budget = token_budget
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.context = _context_length(self.model.config)
        self.eos = _eos_ids(self.model.generation_config, self.tokenizer)

    # -- prompts ---------------------------------------------------------------------------
    _row_of: dict[int, int]

    def _prompt_ids(self, messages: list[Message], row: int) -> list[int]:
        for url in image_urls(messages):
            self.images.check(url, row)  # a text model cannot see them, but a bad url is bad
        text = self.tokenizer.apply_chat_template(
            text_only(messages), tokenize=False, add_generation_prompt=True
        )
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def _check_length(self, ids: list[int], new_tokens: int, row: int) -> None:
        if self.context is not None and len(ids) + new_tokens > self.context:
            raise InvalidArgumentError(
                f"row {row}: the prompt has {len(ids)} tokens; with max_completion_tokens="
                f"{new_tokens} it passes the model's context of {self.context} tokens"
            )

    # -- generation ------------------------------------------------------------------------
    def _config(self, params: Mapping[str, Any]) -> tuple[Any, int]:
        new_tokens, n, temperature = chat_settings(params)
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = new_tokens
        config.max_length = None
        config.pad_token_id = self.tokenizer.pad_token_id
        config.do_sample = temperature > 0
        config.num_return_sequences = n if temperature > 0 else 1
        if temperature > 0:
            config.temperature = temperature
            config.top_p = float(params.get("top_p") or 1.0)
        else:
            config.temperature = config.top_p = config.top_k = None
        penalty = float(params.get("frequency_penalty") or 0.0)
        if penalty > 0:  # upstream's mapping onto transformers' repetition penalty
            config.repetition_penalty = 1.0 + penalty
        return config, n

    def _generate(self, prompts: list[list[int]], config: Any) -> list[list[int]]:
        """New tokens per prompt (``num_return_sequences`` per prompt, in order)."""
        import torch

        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[r, width - len(p) :] = 1
        device = self.model.device
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config
            )
        return [row[width:].tolist() for row in out.cpu()]

    def _choice(
        self, tokens: list[int], index: int, limit: int, stop: Sequence[str]
    ) -> dict[str, Any]:
        end = next((k for k, t in enumerate(tokens) if t in self.eos), None)
        used = tokens if end is None else tokens[: end + 1]
        text = self.tokenizer.decode(used, skip_special_tokens=True)
        text, stopped = _cut_at_stop(text, stop)
        finish = "length" if end is None and not stopped and len(tokens) >= limit else "stop"
        return {
            "index": index,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": finish,
            "_tokens": len(used),
        }

    def __call__(self, column: Sequence[Any], params: Mapping[str, Any]) -> pd.DataFrame:
        """A chat completion per conversation of ``column``, in its order."""
        config, n = self._config(params)
        stop = [s for s in (params.get("stop") or []) if s]
        conversations = [normalize_messages(v, row) for row, v in enumerate(column)]
        prompts = [self._prompt_ids(c, row) for row, c in enumerate(conversations)]
        self._row_of = {id(p): row for row, p in enumerate(prompts)}
        self._prompt_tokens: dict[int, int] = {}  # a model's own count, where it differs
        for row, ids in enumerate(prompts):
            self._check_length(ids, config.max_new_tokens, row)
        per_row = config.num_return_sequences
        answers: list[list[list[int]]] = [[] for _ in prompts]
        budget = max(1, self.token_budget // max(1, per_row))
        for batch in plan_batches([len(p) for p in prompts], config.max_new_tokens, budget):
            generated = self._generate([prompts[i] for i in batch], config)
            for k, i in enumerate(batch):
                answers[i] = generated[k * per_row : (k + 1) * per_row]
        return self._completions(prompts, answers, n, config.max_new_tokens, stop)

    def _completions(
        self,
        prompts: list[list[int]],
        answers: list[list[list[int]]],
        n: int,
        limit: int,
        stop: Sequence[str],
    ) -> pd.DataFrame:
        rows = []
        created = float(time.time())
        for row, (ids, outs) in enumerate(zip(prompts, answers, strict=True)):
            outs = outs if len(outs) == n else outs * n  # greedy: n equal answers
            choices = [self._choice(t, k, limit, stop) for k, t in enumerate(outs)]
            completion = sum(c.pop("_tokens") for c in choices)
            prompt = self._prompt_tokens.get(row, len(ids))
            rows.append(
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex}",
                    "object": "chat.completion",
                    "created": created,
                    "model": self.model_name,
                    "choices": choices,
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    },
                }
            )
        return pd.DataFrame(rows, columns=["id", "object", "created", "model", "choices", "usage"])


class MultimodalChat(ChatGenerator):
    """Chat completions from an image-text-to-text model: images read from stages.

    Each conversation's images are read first (a bad one fails its row); the processor
    expands the image tokens and left-pads each length-sorted batch.
    """

    def __init__(
        self, pipe: Any, model_name: str, *, images: ImageReader, token_budget: int = TOKEN_BUDGET
    ):
        self.processor = pipe.processor
        pipe.tokenizer = getattr(pipe, "tokenizer", None) or self.processor.tokenizer
        super().__init__(pipe, model_name, images=images, token_budget=token_budget)
        self.tokenizer.padding_side = "left"
        self._pending: dict[int, tuple[str, list[Any]]] = {}

    def _prompt_ids(self, messages: list[Message], row: int) -> list[int]:
        pictures: list[Any] = []

        def load(url: str) -> Any:
            pictures.append(self.images.image(url, row))
            return None

        with_parts = [
            {
                "role": m["role"],
                "content": [
                    {"type": "image"} if p.get("type") == "image" else p for p in m["content"]
                ]
                if isinstance(m["content"], list)
                else [{"type": "text", "text": m["content"]}],
            }
            for m in with_images(messages, load)
        ]
        text = self.processor.apply_chat_template(with_parts, add_generation_prompt=True)
        self._pending[row] = (text, pictures)
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def __call__(self, column: Sequence[Any], params: Mapping[str, Any]) -> pd.DataFrame:
        self._pending = {}
        return super().__call__(column, params)

    def _generate(self, prompts: list[list[int]], config: Any) -> list[list[int]]:
        import torch

        rows = [self._row_of[id(p)] for p in prompts]
        texts = [self._pending[r][0] for r in rows]
        pictures = [self._pending[r][1] for r in rows]
        flat = [p for group in pictures for p in group]
        inputs = self.processor(
            text=texts, images=flat or None, padding=True, return_tensors="pt"
        ).to(self.model.device)
        width = inputs["input_ids"].shape[1]
        for r, used in zip(rows, inputs["attention_mask"].sum(dim=1).tolist(), strict=True):
            self._prompt_tokens[r] = int(used)  # with the image tokens the processor added
        with torch.inference_mode():
            out = self.model.generate(**inputs, generation_config=config)
        return [row[width:].tolist() for row in out.cpu()]
