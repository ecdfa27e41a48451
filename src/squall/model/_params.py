"""Inference parameters: read them off a method's keyword-only arguments, resolve given values."""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from squall.errors import InvalidSpecError, SignatureError
from squall.model._dtypes import DataType
from squall.model._infer import infer_param
from squall.model._specs import ModelSignature, ParamGroupSpec, ParamSpec

__all__ = ["params_of_method", "resolve_params"]

_SCALARS: dict[Any, DataType] = {
    int: DataType.INT64,
    float: DataType.DOUBLE,
    str: DataType.STRING,
    bool: DataType.BOOL,
    bytes: DataType.BYTES,
    dt.datetime: DataType.TIMESTAMP_NTZ,
}
_SUPPORTED = "int, float, str, bool, bytes, datetime.datetime, list[...] of those, or dict"


def params_of_method(func: Callable[..., Any], where: str) -> list[ParamSpec | ParamGroupSpec]:
    """The ParamSpecs of a model method ``(self, X, *, name: type = default, ...)``.

    ``where`` names the method in errors (``"Churn.predict"``). Refuses ``*args``,
    ``**kwargs``, positional arguments beyond X and keyword-only ones lacking an
    annotation or a default.
    """
    hints = _type_hints(func)
    sig = inspect.signature(func)
    positional = []
    specs: list[ParamSpec | ParamGroupSpec] = []
    for p in sig.parameters.values():
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
            continue
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
    if len(positional) > 2:
        extra = ", ".join(positional[2:])
        raise SignatureError(
            f"{where}: takes positional argument(s) {extra} beyond X; make them keyword-only "
            "parameters (after *) with a type and a default"
        )
    if len(positional) < 2:
        raise SignatureError(f"{where}: must take the input DataFrame X as its first argument")
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
    origin = typing.get_origin(annotation) or annotation
    args = typing.get_args(annotation)
    try:
        if origin in (dict, Mapping, typing.Mapping):
            return _group_spec(name, default, args)
        if origin in (list, tuple, typing.Sequence):
            if args and args[0] in _SCALARS:
                return ParamSpec(name, _SCALARS[args[0]], _copy(default), (-1,))
            if not args and isinstance(default, list | tuple) and default:
                spec = infer_param(name, list(default))
                if isinstance(spec, ParamSpec):
                    return spec
            raise SignatureError(
                f"parameter {name!r}: list type {annotation!r} is not supported; use list[T]"
            )
        if origin in _SCALARS:
            return ParamSpec(name, _SCALARS[origin], default)
    except SignatureError as exc:
        raise SignatureError(f"{where}: {exc}") from exc
    raise SignatureError(f"{label}: type {annotation!r} is not supported; use {_SUPPORTED}")


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


def _by_name(
    specs: Any, given: Mapping[str, Any], what: str, of: str = ""
) -> dict[str, tuple[Any, Any]]:
    """Match given names to specs ignoring case; returns {spec name: (spec, value)}."""
    lookup = {s.name.lower(): s for s in specs}
    out: dict[str, tuple[Any, Any]] = {}
    spelled: dict[str, str] = {}
    unknown = []
    for key, value in given.items():
        spec = lookup.get(str(key).lower())
        if spec is None:
            unknown.append(str(key))
            continue
        if spec.name in out:
            raise InvalidSpecError(
                f"{what} {spec.name!r}{of} is given twice: as {spelled[spec.name]!r} and as "
                f"{key!r} (names are case-insensitive)"
            )
        out[spec.name] = (spec, value)
        spelled[spec.name] = str(key)
    if unknown:
        valid = ", ".join(s.name for s in specs)
        raise InvalidSpecError(
            f"unknown {what}(s) {', '.join(unknown)}{of}; valid {what}s: {valid or '(none)'}"
        )
    return out


def _check_value(spec: ParamSpec, value: Any, label: str) -> Any:
    if not spec.accepts(value):
        raise InvalidSpecError(
            f"{label} {spec.name!r} = {value!r} ({type(value).__name__}) does not fit "
            f"{spec.describe_type()}"
        )
    return spec.normalize(value)


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
    given = _by_name(specs, params, "param", of)
    resolved: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in given:
            resolved[spec.name] = _default(spec)
            continue
        _, value = given[spec.name]
        if isinstance(spec, ParamSpec):
            resolved[spec.name] = _check_value(spec, value, "param")
            continue
        if not isinstance(value, Mapping):
            raise InvalidSpecError(
                f"param {spec.name!r} = {value!r} ({type(value).__name__}) must be a dict "
                f"with keys among {', '.join(s.name for s in spec.specs)}"
            )
        members = _by_name(spec.specs, value, "key", f" of param {spec.name!r}")
        resolved[spec.name] = {
            m.name: _check_value(m, members[m.name][1], f"param {spec.name!r} key")
            if m.name in members
            else _default(m)
            for m in spec.specs
        }
    return resolved
