"""The manifest of a saved model: what kind it is, its functions and how it was saved."""

from __future__ import annotations

import datetime as dt
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from squall.errors import InvalidSpecError, ModelNotFoundError
from squall.model._specs import ModelSignature
from squall.model.custom_model import FunctionKind

__all__ = ["MANIFEST_FILE", "SQUALL_VERSION", "FunctionInfo", "Manifest", "read_manifest"]

MANIFEST_FILE = "manifest.json"
SQUALL_VERSION = "0.1.0"
_FORMAT = 1


@dataclass(frozen=True)
class FunctionInfo:
    """One function of a model: its name, signature and how it is called."""

    name: str
    signature: ModelSignature
    kind: FunctionKind = "inference"

    def __post_init__(self) -> None:
        if self.kind not in get_args(FunctionKind):
            raise InvalidSpecError(
                f"function {self.name!r}: kind {self.kind!r} is not one of {get_args(FunctionKind)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "signature": self.signature.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FunctionInfo:
        return cls(data["name"], ModelSignature.from_dict(data["signature"]), data["kind"])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Manifest:
    """What ``manifest.json`` of a saved model holds."""

    model_type: str
    functions: dict[str, FunctionInfo]
    options: dict[str, Any] = field(default_factory=dict)
    pip_requirements: list[str] = field(default_factory=list)
    python_version: str = field(default_factory=platform.python_version)
    squall_version: str = SQUALL_VERSION
    created: str = field(default_factory=_now)
    comment: str | None = None
    # Whether the model can use a GPU: its kind's library can, or it was logged with
    # options={"cuda_version": ...} or {"gpu_support": True}. gpu_requests need it.
    gpu_support: bool = False

    def resolve_function(self, name: str | None) -> FunctionInfo:
        """The function ``name`` names, ignoring case; None picks the only function.

        Raises InvalidSpecError listing the choices when the name is unknown, ambiguous or
        None for a model with several functions.
        """
        choices = ", ".join(self.functions)
        if name is None:
            if len(self.functions) == 1:
                return next(iter(self.functions.values()))
            raise InvalidSpecError(f"model has several functions ({choices}): pass function_name")
        if name in self.functions:
            return self.functions[name]
        found = [f for n, f in self.functions.items() if n.lower() == name.lower()]
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidSpecError(
                f"function_name {name!r} is ambiguous: it matches "
                f"{', '.join(f.name for f in found)} ignoring case; pass the exact name"
            )
        raise InvalidSpecError(f"model has no function {name!r}; its functions: {choices}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "model_type": self.model_type,
            "functions": [f.to_dict() for f in self.functions.values()],
            "options": self.options,
            "pip_requirements": self.pip_requirements,
            "python_version": self.python_version,
            "squall_version": self.squall_version,
            "created": self.created,
            "comment": self.comment,
            "gpu_support": self.gpu_support,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        functions = [FunctionInfo.from_dict(f) for f in data["functions"]]
        return cls(
            model_type=data["model_type"],
            functions={f.name: f for f in functions},
            options=dict(data.get("options") or {}),
            pip_requirements=list(data.get("pip_requirements") or []),
            python_version=data.get("python_version", ""),
            squall_version=data.get("squall_version", ""),
            created=data.get("created", ""),
            comment=data.get("comment"),
            gpu_support=bool(data.get("gpu_support", False)),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.from_dict(json.loads(text))

    def write(self, folder: Path) -> None:
        (folder / MANIFEST_FILE).write_text(self.to_json(), encoding="utf-8")


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of the model saved in ``folder``, without loading the model."""
    path = Path(folder) / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelNotFoundError(
            f"no saved model in {folder}: {MANIFEST_FILE} is missing"
        ) from None
    try:
        return Manifest.from_json(text)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelNotFoundError(f"{path} is not a squall model manifest: {exc!r}") from exc
