"""One registry shape for every pluggable kind: stage kinds, model kinds, executors.

Like fsspec's ``known_implementations``: a kind is a name mapped to a ``"module:Class"``
string, imported on first use, so ``import squall`` needs no optional backend, and a
missing one is reported with the extra that installs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from squall.errors import InvalidArgumentError, MissingExtraError, NotSupportedError

__all__ = ["Plugin", "PluginRegistry"]


@dataclass(frozen=True)
class Plugin:
    """One kind: where its class lives, and the optional package and extra it needs."""

    target: str  # "package.module:ClassName"
    library: str | None = None  # the optional package the kind needs
    extra: str | None = None  # the squall extra that installs it (default: ``library``)
    # Facts about the kind a caller needs without importing it (e.g. ``fork_safe``).
    traits: tuple[tuple[str, Any], ...] = ()

    def trait(self, name: str, default: Any = None) -> Any:
        return dict(self.traits).get(name, default)


class PluginRegistry(MutableMapping[str, Plugin]):
    """Kinds of one thing (``what``: "stage kind", "compute pool", ...), by name.

    A mapping of name -> Plugin; assigning a bare ``"module:Class"`` string is short for a
    Plugin with no optional package.
    """

    def __init__(self, what: str, plural: str, base: type | str, kinds: dict[str, Plugin]) -> None:
        self.what = what
        self.plural = plural
        self._base = base  # the class every kind subclasses, or its "module:Class"
        self._kinds = dict(kinds)
        self._loaded: dict[str, type] = {}

    def __getitem__(self, name: str) -> Plugin:
        return self._kinds[name]

    def __setitem__(self, name: str, plugin: Plugin | str) -> None:
        self.register(name, Plugin(plugin) if isinstance(plugin, str) else plugin)

    def __delitem__(self, name: str) -> None:
        del self._kinds[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    @property
    def base(self) -> type:
        if isinstance(self._base, str):
            module_name, _, attr = self._base.partition(":")
            self._base = getattr(importlib.import_module(module_name), attr)
        assert isinstance(self._base, type)
        return self._base

    def register(self, name: str, plugin: Plugin, *, first: bool = False) -> None:
        """Add or replace the kind ``name``; ``first`` puts it ahead of the others."""
        if ":" not in plugin.target:
            raise InvalidArgumentError(
                f"{self.what} target {plugin.target!r} must read 'module:ClassName'"
            )
        self._kinds.pop(name, None)
        if first:
            self._kinds = {name: plugin, **self._kinds}
        else:
            self._kinds[name] = plugin
        self._loaded.pop(name, None)

    def names(self) -> list[str]:
        return list(self._kinds)

    def plugin(self, name: str) -> Plugin:
        try:
            return self._kinds[name]
        except KeyError:
            raise InvalidArgumentError(
                f"unknown {self.what} {name!r}; known: {', '.join(self._kinds)}"
            ) from None

    def load(self, name: str) -> type:
        """The class of the kind ``name``, imported now.

        MissingExtraError when its optional package is not installed; NotSupportedError
        when its own module is missing from this installation.
        """
        if name in self._loaded:
            return self._loaded[name]
        plugin = self.plugin(name)
        module_name, _, attr = plugin.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing == module_name or module_name.startswith(missing + "."):
                raise NotSupportedError(
                    f"{name} {self.plural} are not available in this version of squall "
                    f"(module {module_name} is missing)"
                ) from exc
            if plugin.library is not None and missing.partition(".")[0] != plugin.library:
                raise  # the kind's library is there; something it needs is not
            extra = plugin.extra or plugin.library
            if extra is None:
                raise
            raise MissingExtraError(missing, extra, f"{self.what} '{name}'") from exc
        cls = getattr(module, attr)
        base = self.base
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"{plugin.target} is not a {base.__name__} subclass")
        self._loaded[name] = cls
        return cls
