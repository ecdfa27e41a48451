"""Custom models: a Python class whose decorated methods squall serves.

>>> import pandas as pd
>>> from squall.model import custom_model
>>> class Doubler(custom_model.CustomModel):
...     @custom_model.inference_api
...     def predict(self, X: pd.DataFrame, *, factor: float = 2.0) -> pd.DataFrame:
...         return pd.DataFrame({"y": X["x"] * factor})
>>> Doubler(custom_model.ModelContext()).predict(pd.DataFrame({"x": [1.0]}))["y"].tolist()
[2.0]
>>> Doubler.api_methods()
{'predict': 'inference'}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from squall.errors import InvalidArgumentError, NotFoundError
from squall.model._params import param_names_of_method, params_of_method, resolve_params
from squall.model._specs import ParamGroupSpec, ParamSpec

__all__ = [
    "CustomModel",
    "FunctionKind",
    "ModelContext",
    "inference_api",
    "partitioned_api",
    "partitioned_inference_api",
    "resolve_params",
]

FunctionKind = Literal["inference", "partitioned"]
_F = TypeVar("_F", bound=Callable[..., Any])
_MARK = "_squall_api"


class ModelContext:
    """The sub-models and files a custom model needs, looked up by key.

    When the model is saved, sub-models are stored with it and artifacts copied into its
    folder; after a load, ``path(key)`` is the copy's location inside that folder. Extra
    keyword arguments are sorted as Snowflake's ModelContext does: a path (str or PathLike)
    is an artifact, anything else a model.
    """

    def __init__(
        self,
        models: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
        **more: Any,
    ) -> None:
        self._models: dict[str, Any] = dict(models or {})
        self._artifacts: dict[str, str] = {k: os.fspath(v) for k, v in (artifacts or {}).items()}
        for key, value in more.items():
            if key in self._models or key in self._artifacts:
                raise InvalidArgumentError(f"context key {key!r} is given twice")
            if isinstance(value, str | os.PathLike):
                self._artifacts[key] = os.fspath(value)
            else:
                self._models[key] = value
        for kind, keys in (("model", self._models), ("artifact", self._artifacts)):
            bad = [k for k in keys if not isinstance(k, str) or not k]
            if bad:
                raise InvalidArgumentError(f"{kind} keys must be non-empty strings, got {bad!r}")

    def __getitem__(self, key: str) -> Any:
        """The model or the artifact path stored under ``key``."""
        if key in self._models:
            return self._models[key]
        if key in self._artifacts:
            return self._artifacts[key]
        raise NotFoundError(
            f"nothing under {key!r} in the context; models: {_keys(self._models)}; "
            f"artifacts: {_keys(self._artifacts)}"
        )

    @property
    def models(self) -> dict[str, Any]:
        return dict(self._models)

    @property
    def artifacts(self) -> dict[str, str]:
        return dict(self._artifacts)

    def model_ref(self, key: str) -> Any:
        """The sub-model stored under ``key``."""
        if key not in self._models:
            raise NotFoundError(f"no model {key!r} in the context; models: {_keys(self._models)}")
        return self._models[key]

    def path(self, key: str) -> str:
        """The local path of the artifact stored under ``key``."""
        if key not in self._artifacts:
            raise NotFoundError(
                f"no artifact {key!r} in the context; artifacts: {_keys(self._artifacts)}"
            )
        return self._artifacts[key]

    def __repr__(self) -> str:
        return f"ModelContext(models={_keys(self._models)}, artifacts={_keys(self._artifacts)})"


def _keys(d: Mapping[str, Any]) -> str:
    return ", ".join(sorted(d)) if d else "(none)"


class CustomModel:
    """Base class of custom models: subclass it and decorate the methods to serve.

    The subclass's ``__init__`` must take the context as its only argument: squall calls
    it again with a new context (stored sub-models, copied artifacts) when it loads.
    """

    def __init__(self, context: ModelContext | None = None) -> None:
        self.context = context if context is not None else ModelContext()

    @classmethod
    def api_methods(cls) -> dict[str, FunctionKind]:
        """``{method name: kind}`` of the decorated methods, in definition order."""
        found: dict[str, FunctionKind] = {}
        for klass in reversed(cls.__mro__):
            for name, attr in vars(klass).items():
                kind = getattr(attr, _MARK, None)
                if kind is not None:
                    found[name] = kind
                elif name in found:
                    del found[name]  # overridden by an undecorated method
        return found

    @classmethod
    def method_params(cls, name: str) -> list[ParamSpec | ParamGroupSpec]:
        """The params of one decorated method, read off its keyword-only arguments."""
        return params_of_method(getattr(cls, name), f"{cls.__qualname__}.{name}")

    @classmethod
    def method_param_names(cls, name: str) -> list[str]:
        """The param names of one decorated method (for a signature that types them)."""
        return param_names_of_method(getattr(cls, name), f"{cls.__qualname__}.{name}")


def inference_api(func: _F) -> _F:
    """Serve this method: it takes a DataFrame and returns one output row per input row."""
    setattr(func, _MARK, "inference")
    return func


def partitioned_api(func: _F) -> _F:
    """Serve this method once per whole partition; it may return any number of rows.

    Models with such methods are saved with ``options={"function_type": "TABLE_FUNCTION"}``.
    """
    setattr(func, _MARK, "partitioned")
    return func


partitioned_inference_api = partitioned_api
