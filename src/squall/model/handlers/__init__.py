"""Model kinds, registered by name and imported only when a model of theirs is met.

``import squall.model.handlers`` imports neither xgboost nor lightgbm: a kind's module is
imported when a model it may claim is saved, or a model saved with it is loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from squall.errors import InvalidArgumentError, MissingExtraError
from squall.model.handlers.base import ModelHandler

__all__ = ["ModelHandler", "find_handler", "get_handler", "handler_names", "register_handler"]


@dataclass(frozen=True)
class _Entry:
    target: str  # "package.module:ClassName"
    library: str | None  # the optional package the kind needs, also its extra's name
    extra: str | None


# Probed in this order: the xgboost and lightgbm wrappers are sklearn estimators too.
_REGISTRY: dict[str, _Entry] = {
    "custom": _Entry("squall.model.handlers.custom:CustomHandler", None, None),
    # Claims squall's TransformersPipeline and transformers' pipelines; imports no torch.
    "huggingface": _Entry("squall.model.handlers.huggingface:HuggingFaceHandler", None, "hf"),
    "xgboost": _Entry("squall.model.handlers.xgboost:XGBoostHandler", "xgboost", "xgboost"),
    "lightgbm": _Entry("squall.model.handlers.lightgbm:LightGBMHandler", "lightgbm", "lightgbm"),
    "sklearn": _Entry("squall.model.handlers.sklearn:SklearnHandler", None, None),
}
_LOADED: dict[str, ModelHandler] = {}


def register_handler(
    name: str, target: str, *, library: str | None = None, extra: str | None = None
) -> None:
    """Add a model kind: ``target`` is ``"module:Class"`` of a ModelHandler subclass.

    ``library`` is the optional package its models come from (only models whose class
    comes from it are offered to the kind); ``extra`` the squall extra that installs it.
    Kinds registered later are probed first.
    """
    if ":" not in target:
        raise InvalidArgumentError(f"handler target {target!r} must read 'module:ClassName'")
    entry = _Entry(target, library, extra or library)
    _REGISTRY.pop(name, None)
    items = list(_REGISTRY.items())
    _REGISTRY.clear()
    _REGISTRY.update({name: entry, **dict(items)})
    _LOADED.pop(name, None)


def handler_names() -> list[str]:
    return list(_REGISTRY)


def get_handler(name: str) -> ModelHandler:
    """The handler of the kind ``name``; MissingExtraError when its library is not installed."""
    if name in _LOADED:
        return _LOADED[name]
    entry = _REGISTRY.get(name)
    if entry is None:
        raise InvalidArgumentError(
            f"unknown model kind {name!r}; known kinds: {', '.join(_REGISTRY)}"
        )
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or ""
        if entry.library and missing.partition(".")[0] == entry.library:
            raise MissingExtraError(
                entry.library, entry.extra or entry.library, f"model kind '{name}'"
            ) from exc
        raise
    handler = getattr(module, class_name)()
    _LOADED[name] = handler
    return handler  # type: ignore[no-any-return]


def _comes_from(model: Any, library: str) -> bool:
    return any(
        getattr(klass, "__module__", "").partition(".")[0] == library
        for klass in type(model).__mro__
    )


def find_handler(model: Any) -> ModelHandler | None:
    """The handler of the first kind that claims ``model``, or None."""
    for name, entry in _REGISTRY.items():
        if entry.library is not None and not _comes_from(model, entry.library):
            continue  # its library cannot have made this model: do not import it
        handler = get_handler(name)
        if handler.can_handle(model):
            return handler
    return None
