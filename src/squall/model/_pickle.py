"""Pickles that load in a fresh process: user code by value, installed packages by reference.

A model class may live in a script, a notebook (``__main__``) or a test module that a worker
cannot import by name. Such modules are pickled by value; squall itself, the standard
library and installed packages (site-packages) by reference, so the pickle stays small and
uses the worker's own copy of those libraries.
"""

from __future__ import annotations

import functools
import io
import pickle
import site
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

import cloudpickle

__all__ = ["dump_portable", "dumps_portable", "load_pickle"]

_BY_REFERENCE_ROOTS = frozenset({"squall", "__main__"})


@functools.cache
def _installed_dirs() -> tuple[Path, ...]:
    dirs = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.update(site.getsitepackages())
    dirs.add(site.getusersitepackages())
    return tuple(Path(d).resolve() for d in dirs if d)


def _importable_everywhere(module_name: str) -> bool:
    """Whether a worker imports ``module_name`` itself (so it is pickled by reference)."""
    if module_name.partition(".")[0] in _BY_REFERENCE_ROOTS:
        return True  # __main__ included: cloudpickle always copies it by value
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if module is None or file is None:
        return True  # built-in, frozen or namespace: nothing to copy
    # Judged by location, not name: a user's local module may share a name with a library.
    path = Path(file).resolve()
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return True
    return any(path.is_relative_to(d) for d in _installed_dirs())


class _ModuleProbe(cloudpickle.Pickler):
    """A cloudpickle pickler that notes the module of every class and function it meets."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type | types.FunctionType):
            module = getattr(obj, "__module__", None)
            if isinstance(module, str):
                self.modules.add(module)
        return super().reducer_override(obj)


def dumps_portable(obj: Any) -> bytes:
    """Pickle ``obj`` so that a process which never imported the user's modules loads it."""
    registered: list[types.ModuleType] = []
    try:
        while True:
            buffer = io.BytesIO()
            probe = _ModuleProbe(buffer)
            probe.dump(obj)
            # Each round may pull in more code by value, which may name further local modules.
            new = [
                sys.modules[m]
                for m in sorted(probe.modules)
                if not _importable_everywhere(m) and sys.modules.get(m) is not None
            ]
            already = cloudpickle.list_registry_pickle_by_value()
            new = [m for m in new if m not in registered and m.__name__ not in already]
            if not new:
                return buffer.getvalue()
            for module in new:
                cloudpickle.register_pickle_by_value(module)
                registered.append(module)
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def dump_portable(obj: Any, path: Path) -> None:
    path.write_bytes(dumps_portable(obj))


def load_pickle(path: Path) -> Any:
    with path.open("rb") as f:
        return pickle.load(f)
