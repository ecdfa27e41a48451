"""Model kinds, registered by name and imported only when a model of theirs is met.

``import squall.model.handlers`` imports neither xgboost nor lightgbm: a kind's module is
imported when a model it may claim is saved, or a model saved with it is loaded.
"""

from __future__ import annotations

from typing import Any

from squall.model.handlers.base import ModelHandler
from squall.model.kinds import MODEL_KINDS, is_fork_safe
from squall.plugins import Plugin

__all__ = [
    "MODEL_KINDS",
    "ModelHandler",
    "find_handler",
    "get_handler",
    "handler_names",
    "is_fork_safe",
    "register_handler",
]

_LOADED: dict[str, ModelHandler] = {}


def register_handler(
    name: str,
    target: str,
    *,
    library: str | None = None,
    extra: str | None = None,
    fork_safe: bool | None = None,
) -> None:
    """Add a model kind: ``target`` is ``"module:Class"`` of a ModelHandler subclass.

    ``library`` is the optional package its models come from (only models whose class
    comes from it are offered to the kind); ``extra`` the squall extra that installs it;
    ``fork_safe`` repeats the handler's own declaration so a supervisor can decide how to
    start workers without importing the kind's library. Kinds registered later are probed
    first.
    """
    traits = () if fork_safe is None else (("fork_safe", fork_safe),)
    MODEL_KINDS.register(name, Plugin(target, library, extra or library, traits), first=True)
    _LOADED.pop(name, None)


def handler_names() -> list[str]:
    return MODEL_KINDS.names()


def get_handler(name: str) -> ModelHandler:
    """The handler of the kind ``name``; MissingExtraError when its library is not installed."""
    handler = _LOADED.get(name)
    if handler is None:
        handler = _LOADED[name] = MODEL_KINDS.load(name)()  # type: ignore[assignment]
    return handler


def _comes_from(model: Any, library: str) -> bool:
    return any(
        getattr(klass, "__module__", "").partition(".")[0] == library
        for klass in type(model).__mro__
    )


def find_handler(model: Any) -> ModelHandler | None:
    """The handler of the first kind that claims ``model``, or None."""
    for name, entry in MODEL_KINDS.items():
        if entry.library is not None and not _comes_from(model, entry.library):
            continue  # its library cannot have made this model: do not import it
        handler = get_handler(name)
        if handler.can_handle(model):
            return handler
    return None
