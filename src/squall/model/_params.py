"""Inference parameters: read them off a method's keyword-only arguments, resolve given values."""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from squall.errors import InvalidSpecError, SignatureError
from squall.model._dtypes import DataType
from squall.model._infer import infer_param
from squall.model._param_values import by_name, check_leaf, merge_group
from squall.model._specs import ModelSignature, ParamGroupSpec, ParamSpec

__all__ = ["param_names_of_method", "params_of_method", "resolve_params"]

_SCALARS: dict[Any, DataType] = {
    int: DataType.INT64,
    float: DataType.DOUBLE,
    str: DataType.STRING,
    bool: DataType.BOOL,
    bytes: DataType.BYTES,
    dt.datetime: DataType.TIMESTAMP_NTZ,
}
_SUPPORTED = (
    "int, float, str, bool, bytes, datetime.datetime, dict, or lists (list[...], nested) of those"
)


def _keyword_only(func: Callable[..., Any], where: str) -> list[inspect.Parameter]:
    """The keyword-only arguments of ``(self, X, *, ...)``; refuses any other shape."""
    positional = []
    found = []
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            raise SignatureError(
                f"{where}: **{p.name} is not allowed; declare each parameter as a "
                "keyword-only argument with a type and a default"
            )
        if p.kind is p.VAR_POSITIONAL:
            raise SignatureError(
                f"{where}: *{p.name} is not allowed; take X and keyword-only params"
            )
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional.append(p.name)
        else:
            found.append(p)
    if len(positional) > 2:
        extra = ", ".join(positional[2:])
        raise SignatureError(
            f"{where}: takes positional argument(s) {extra} beyond X; make them keyword-only "
            "parameters (after *) with a type and a default"
        )
    if len(positional) < 2:
        raise SignatureError(f"{where}: must take the input DataFrame X as its first argument")
    return found


def param_names_of_method(func: Callable[..., Any], where: str) -> list[str]:
    """The names of a model method's params, for a signature that types them itself."""
    names = []
    for p in _keyword_only(func, where):
        if p.default is p.empty:
            raise SignatureError(f"{where}: keyword-only argument {p.name!r} needs a default")
        names.append(p.name)
    return names


def params_of_method(func: Callable[..., Any], where: str) -> list[ParamSpec | ParamGroupSpec]:
    """The ParamSpecs of a model method ``(self, X, *, name: type = default, ...)``.

    ``where`` names the method in errors (``"Churn.predict"``). Refuses ``*args``,
    ``**kwargs``, positional arguments beyond X and keyword-only ones lacking an
    annotation or a default.
    """
    params = _keyword_only(func, where)
    hints = _type_hints(func) if params else {}
    specs: list[ParamSpec | ParamGroupSpec] = []
    for p in params:
        if p.name not in hints or p.default is p.empty:
            lacks = " and ".join(
                w
                for w, ok in (
                    ("a type annotation", p.name in hints),
                    ("a default", p.default is not p.empty),
                )
                if not ok
            )
            raise SignatureError(f"{where}: keyword-only argument {p.name!r} needs {lacks}")
        specs.append(_spec_for(p.name, hints[p.name], p.default, where))
    return specs


def _type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The method's annotations, resolved; as written where they cannot be.

    A class pickled by value and loaded again in the same process gets its methods
    replaced by copies whose globals hold only the names their code uses, so names used
    only in string annotations (``from __future__ import annotations``) are looked up in
    the method's module as well.
    """
    try:
        return typing.get_type_hints(func)
    except Exception:
        pass
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    if module is not None:
        try:
            return typing.get_type_hints(func, globalns={**vars(module), **func.__globals__})
        except Exception:
            pass
    return dict(getattr(func, "__annotations__", {}))


def _spec_for(name: str, annotation: Any, default: Any, where: str) -> ParamSpec | ParamGroupSpec:
    label = f"{where}: parameter {name!r}"
    annotation = _strip_optional(annotation)
    try:
        depth, inner = _list_depth(annotation)
        origin = typing.get_origin(inner) or inner
        if origin in (dict, Mapping, typing.Mapping):
            if depth:  # list[dict]: a list of groups, its members read off the default
                return _inferred_group(name, default, (-1,) * depth)
            return _group_spec(name, default, typing.get_args(inner))
        if depth and inner in _SCALARS:
            return ParamSpec(name, _SCALARS[inner], _copy(default), (-1,) * depth)
        if depth and inner is Any and isinstance(default, list | tuple) and default:
            return infer_param(name, _copy(default))  # a bare list: typed by its default
        if depth:
            raise SignatureError(
                f"parameter {name!r}: list type {annotation!r} is not supported; use list[T] "
                "(nested as deep as needed) with T one of int, float, str, bool, bytes, "
                "datetime.datetime or dict"
            )
        if origin in _SCALARS:
            return ParamSpec(name, _SCALARS[origin], default)
    except SignatureError as exc:
        raise SignatureError(f"{where}: {exc}") from exc
    raise SignatureError(f"{label}: type {annotation!r} is not supported; use {_SUPPORTED}")


def _list_depth(annotation: Any) -> tuple[int, Any]:
    """How many list levels wrap the annotation, and what they wrap (Any for a bare list)."""
    depth = 0
    while (typing.get_origin(annotation) or annotation) in (list, tuple, Sequence):
        depth += 1
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if not args:
            return depth, Any
        annotation = _strip_optional(args[0])
    return depth, annotation


def _inferred_group(name: str, default: Any, shape: tuple[int, ...]) -> ParamGroupSpec:
    spec = infer_param(name, _copy(default))
    if not isinstance(spec, ParamGroupSpec) or spec.shape != shape:
        raise SignatureError(
            f"parameter {name!r}: a list of dicts needs a non-empty default of dicts that "
            f"names their keys, got {default!r}"
        )
    return spec


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _copy(default: Any) -> Any:
    return list(default) if isinstance(default, tuple) else default


def _group_spec(name: str, default: Any, args: tuple[Any, ...]) -> ParamGroupSpec:
    if not isinstance(default, Mapping) or not default:
        raise SignatureError(
            f"parameter {name!r}: a dict parameter needs a non-empty dict default that names its keys, got {default!r}"
        )
    value_type = _SCALARS.get(args[1]) if len(args) == 2 else None
    if value_type is None:
        spec = infer_param(name, default)
        assert isinstance(spec, ParamGroupSpec)
        return spec
    return ParamGroupSpec(name, [ParamSpec(str(k), value_type, v) for k, v in default.items()])


def _default(spec: ParamSpec | ParamGroupSpec) -> Any:
    return copy.deepcopy(spec.default_value)


def resolve_params(
    signature: ModelSignature,
    params: Mapping[str, Any] | None,
    function_name: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments to call a model function with: given values checked, defaults added.

    Names match the signature's params ignoring case. Raises InvalidSpecError, naming the
    values (and ``function_name`` when given), for params given to a function that takes
    none, unknown names, a name given twice in different cases and values that do not fit
    the param's type.
    """
    specs = signature.params
    if params is not None and not isinstance(params, Mapping):
        raise InvalidSpecError(f"params must be a dict of name to value, got {params!r}")
    if not params:
        return {s.name: _default(s) for s in specs}
    function = "this function" if function_name is None else f"function {function_name!r}"
    if not specs:
        raise InvalidSpecError(
            f"params {', '.join(map(str, params))} were given, but {function} takes no params"
        )
    of = "" if function_name is None else f" of {function}"
    given = by_name(specs, params, "param", of)
    resolved: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in given:
            resolved[spec.name] = _default(spec)
        elif isinstance(spec, ParamSpec):
            resolved[spec.name] = check_leaf(spec, given[spec.name][1], "param")
        else:
            resolved[spec.name] = merge_group(spec, given[spec.name][1], spec.name)
    return resolved
