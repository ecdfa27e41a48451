"""Chat messages as rows hold them, made plain: role, content as text or a list of parts.

A ``messages`` value arrives as a list of dicts, a numpy array of them (read back from
Arrow, with every struct member present, absent ones None) or a JSON string. Image parts
name their picture by an ``image_url``: a stage path (read through the worker's stages,
within its byte budget), a ``data:`` URL, or nothing else: squall never fetches from the
network while a job runs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from squall.errors import InvalidArgumentError
from squall.media import ImageDecoder

__all__ = [
    "ImageReader",
    "Message",
    "chat_settings",
    "image_urls",
    "normalize_messages",
    "text_only",
]

Message = dict[str, Any]

_RGB = ImageDecoder("RGB")


def _plain(value: Any) -> Any:
    """Arrow's read-back as plain Python: arrays as lists, None members of structs dropped."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    return value


def normalize_messages(value: Any, row: int) -> list[Message]:
    """One row's conversation as a list of ``{"role", "content"}`` dicts.

    Raises InvalidArgumentError naming ``row`` when the value is not a conversation.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"row {row}: messages is a string that is not JSON: {value[:80]!r}"
            ) from exc
    value = _plain(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidArgumentError(
            f"row {row}: messages must be a non-empty list of {{'role', 'content'}} dicts, "
            f"got {value!r:.120}"
        )
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message:
            raise InvalidArgumentError(
                f"row {row}: message {i} must be a dict with a role, got {message!r:.120}"
            )
        content = message.get("content", "")
        if not isinstance(content, str | list):
            raise InvalidArgumentError(
                f"row {row}: message {i} has content {content!r:.80}; it must be a string "
                "or a list of parts"
            )
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict) or "type" not in part:
                    raise InvalidArgumentError(
                        f"row {row}: message {i} has a content part without a type: {part!r:.80}"
                    )
        out.append({"role": str(message["role"]), "content": content})
    return out


def text_only(messages: list[Message]) -> list[Message]:
    """The messages with text content only, as upstream hands them to a text model.

    A message whose content is a list of parts becomes one message per text part (the
    other parts are left out: a text model cannot see them).
    """
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            out.append(message)
            continue
        for part in content:
            if part.get("type") == "text":
                out.append({"role": message["role"], "content": part.get("text", "")})
    return out


def image_urls(messages: list[Message]) -> list[str]:
    """The urls of the conversation's image parts, in order."""
    urls = []
    for message in messages:
        if isinstance(message["content"], list):
            for part in message["content"]:
                if part.get("type") == "image_url":
                    url = (part.get("image_url") or {}).get("url")
                    urls.append(url if isinstance(url, str) else "")
    return urls


class ImageReader:
    """Reads the image a url names: a stage path through ``stages``, or a ``data:`` URL.

    ``budget`` caps the bytes of one image (the worker's file byte budget); any other URL
    is refused: no network while a job runs.
    """

    def __init__(self, stages: Any | None, budget: int) -> None:
        self.stages = stages
        self.budget = budget

    def check(self, url: str, row: int) -> None:
        """Refuse a url that names neither a stage nor inline data, naming ``row``."""
        if url.startswith("@") or url.startswith("data:"):
            return
        raise InvalidArgumentError(
            f"row {row}: image_url {url[:80]!r} is neither a stage path (@stage/path) nor a "
            "data: URL; squall does not fetch from the network during a job"
        )

    def read(self, url: str, row: int) -> bytes:
        self.check(url, row)
        if url.startswith("data:"):
            _, _, payload = url.partition(",")
            try:
                return base64.b64decode(payload, validate=True)
            except ValueError as exc:
                raise InvalidArgumentError(
                    f"row {row}: image_url holds a data: URL that is not base64"
                ) from exc
        if self.stages is None:
            raise InvalidArgumentError(
                f"row {row}: image_url {url!r} names a stage, and none is open"
            )
        stage, rel = self.stages.resolve(url)
        with stage.open(rel, "rb") as f:
            data = f.read(self.budget + 1)
        if len(data) > self.budget:
            raise InvalidArgumentError(
                f"row {row}: image {url!r} is larger than the worker's file budget of "
                f"{self.budget} bytes"
            )
        return bytes(data)

    def image(self, url: str, row: int) -> Any:
        """The image as an RGB PIL image; an unreadable one raises naming ``row``.

        Decoded by the decoder jobs use for ``convert_to=FileEncoding.IMAGE`` (the same
        pixels); handed over as a PIL image, whose layout processors never have to guess.
        """
        data = self.read(url, row)
        from PIL import Image

        try:
            pixels = _RGB.decode(data)
        except Exception as exc:
            raise InvalidArgumentError(
                f"row {row}: image {url[:80]!r} cannot be read: {exc}"
            ) from exc
        return Image.fromarray(pixels)


def with_images(messages: list[Message], load: Callable[[str], Any]) -> list[Message]:
    """The conversation with each image part as ``{"type": "image", "image": <loaded>}``."""
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "image_url":
                    url = (part.get("image_url") or {}).get("url")
                    parts.append({"type": "image", "image": load(str(url or ""))})
                else:
                    parts.append(part)
            content = parts
        out.append({"role": message["role"], "content": content})
    return out


def chat_settings(params: Mapping[str, Any]) -> tuple[int, int, float]:
    """``(max_completion_tokens, n, temperature)`` checked, with the engines' defaults
    (250 new tokens, one answer, temperature 1)."""
    new_tokens = int(params.get("max_completion_tokens") or 250)
    if new_tokens < 1:
        raise InvalidArgumentError(f"max_completion_tokens must be 1 or more, got {new_tokens}")
    n = int(params.get("n") or 1)
    if n < 1:
        raise InvalidArgumentError(f"n must be 1 or more, got {n}")
    temperature = params.get("temperature")
    temperature = 1.0 if temperature is None else float(temperature)
    if temperature < 0:
        raise InvalidArgumentError(f"temperature must be 0 or more, got {temperature}")
    return new_tokens, n, temperature
