"""Models: signatures, custom models, the model kinds squall saves, and save/load."""

from __future__ import annotations

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
