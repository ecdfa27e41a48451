"""Inference engines a model can be served with: the ``engine`` of ``inference_engine_options``.

>>> InferenceEngine.from_value("vllm") is InferenceEngine("VLLM") is InferenceEngine.VLLM
True
>>> InferenceEngine.from_value(" Python_Generic ")
<InferenceEngine.PYTHON_GENERIC: 'python_generic'>
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from squall.errors import InvalidSpecError

__all__ = ["InferenceEngine", "parse_engine_options"]


class InferenceEngine(enum.Enum):
    """An inference engine: member names and values parse ignoring case and spaces around."""

    VLLM = "vllm"
    PYTHON_GENERIC = "python_generic"

    @classmethod
    def choices(cls) -> str:
        return ", ".join(m.value for m in cls)

    @classmethod
    def from_value(cls, value: InferenceEngine | str) -> InferenceEngine:
        """The member ``value`` names; InvalidSpecError (a ValueError) listing the choices."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise InvalidSpecError(
                f"inference engine must be a string or InferenceEngine, got "
                f"{type(value).__name__} {value!r}; supported engines: {cls.choices()}"
            )
        wanted = value.strip().lower()
        for member in cls:
            if wanted in (member.value, member.name.lower()):
                return member
        raise InvalidSpecError(
            f"unsupported inference engine {value!r}; supported engines: {cls.choices()}"
        )

    @classmethod
    def _missing_(cls, value: object) -> InferenceEngine:
        return cls.from_value(value)  # type: ignore[arg-type]


_OPTION_KEYS = ("engine", "engine_args_override")


def parse_engine_options(
    options: Mapping[str, Any] | None,
) -> tuple[InferenceEngine, list[str]] | None:
    """``inference_engine_options`` checked: ``(engine, engine_args_override)``, or None.

    Raises InvalidSpecError for anything but a dict with ``engine`` (required) and
    ``engine_args_override`` (a list of strings), naming the bad value.
    """
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise InvalidSpecError(
            f"inference_engine_options must be a dict with {' and '.join(_OPTION_KEYS)}, "
            f"got {options!r}"
        )
    unknown = [str(k) for k in options if k not in _OPTION_KEYS]
    if unknown:
        raise InvalidSpecError(
            f"unknown inference_engine_options key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(_OPTION_KEYS)}"
        )
    if options.get("engine") is None:
        raise InvalidSpecError(
            f"inference_engine_options needs an engine ({InferenceEngine.choices()})"
        )
    engine = InferenceEngine.from_value(options["engine"])
    args = options.get("engine_args_override") or []
    if not isinstance(args, list | tuple) or not all(isinstance(a, str) for a in args):
        raise InvalidSpecError(
            f"inference_engine_options['engine_args_override'] must be a list of strings, "
            f"got {args!r}"
        )
    return engine, list(args)
