"""Models: signatures, custom models, the model kinds squall saves, and save/load."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.model import custom_model, signature
    from squall.model.inference_engine import InferenceEngine
    from squall.model.packaging import (
        FunctionInfo,
        LoadedModel,
        Manifest,
        load_model,
        read_manifest,
        save_model,
    )

__all__ = [
    "FunctionInfo",
    "InferenceEngine",
    "LoadedModel",
    "Manifest",
    "custom_model",
    "load_model",
    "read_manifest",
    "save_model",
    "signature",
]

# Loaded on first use: a supervisor reads the model kinds' table (squall.model.kinds) and
# a worker's resources without importing pandas.
_LAZY = {
    "InferenceEngine": "squall.model.inference_engine",
    "FunctionInfo": "squall.model.packaging",
    "LoadedModel": "squall.model.packaging",
    "Manifest": "squall.model.packaging",
    "load_model": "squall.model.packaging",
    "read_manifest": "squall.model.packaging",
    "save_model": "squall.model.packaging",
}


def __getattr__(name: str) -> Any:
    if name in ("custom_model", "signature"):
        return importlib.import_module(f"squall.model.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'squall.model' has no attribute {name!r}")
