"""Feature, parameter and signature specs: frozen values that round-trip through JSON."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from squall.errors import InvalidSpecError, SignatureError
from squall.model._dtypes import DataType
from squall.model._param_values import element_default, merge_group

__all__ = [
    "FeatureGroupSpec",
    "FeatureSpec",
    "ModelSignature",
    "ParamGroupSpec",
    "ParamSpec",
]

Shape = tuple[int, ...]


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise SignatureError(f"a {kind} needs a non-empty string name, got {name!r}")


def _as_dtype(kind: str, name: str, dtype: object) -> DataType:
    if isinstance(dtype, DataType):
        return dtype
    if isinstance(dtype, str) and dtype.upper() in DataType.__members__:
        return DataType[dtype.upper()]
    choices = ", ".join(DataType.__members__)
    raise SignatureError(f"{kind} {name!r}: dtype {dtype!r} is not a DataType ({choices})")


def _as_shape(kind: str, name: str, shape: object) -> Shape | None:
    if shape is None:
        return None
    if isinstance(shape, int):
        shape = (shape,)
    if (
        not isinstance(shape, Sequence)
        or not shape
        or not all(isinstance(d, int) and (d == -1 or d > 0) for d in shape)
    ):
        raise SignatureError(
            f"{kind} {name!r}: shape {shape!r} must be a tuple of positive sizes or -1"
        )
    return tuple(shape)


def _list_type(inner: pa.DataType, shape: Shape | None) -> pa.DataType:
    for _ in shape or ():
        inner = pa.list_(inner)
    return inner


def _shape_repr(shape: Shape | None) -> str:
    return "" if shape is None else f", shape={shape!r}"


@dataclass(frozen=True, repr=False)
class FeatureSpec:
    """One column of a model's input or output: a scalar, or an array when ``shape`` is set."""

    name: str
    dtype: DataType
    shape: Shape | None = None
    nullable: bool = True

    def __post_init__(self) -> None:
        _check_name("feature", self.name)
        object.__setattr__(self, "dtype", _as_dtype("feature", self.name, self.dtype))
        object.__setattr__(self, "shape", _as_shape("feature", self.name, self.shape))

    def __repr__(self) -> str:
        nullable = "" if self.nullable else ", nullable=False"
        return f"FeatureSpec(name={self.name!r}, dtype={self.dtype!r}{_shape_repr(self.shape)}{nullable})"

    def to_arrow(self) -> pa.DataType:
        """The Arrow type of the column: the scalar type, in one list per dimension of shape."""
        return _list_type(self.dtype.to_arrow(), self.shape)

    def to_arrow_field(self) -> pa.Field:
        return pa.field(self.name, self.to_arrow(), nullable=self.nullable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "feature",
            "name": self.name,
            "dtype": self.dtype.name,
            "shape": None if self.shape is None else list(self.shape),
            "nullable": self.nullable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        shape = data.get("shape")
        return cls(
            data["name"],
            DataType[data["dtype"]],
            None if shape is None else tuple(shape),
            bool(data.get("nullable", True)),
        )


@dataclass(frozen=True, repr=False)
class FeatureGroupSpec:
    """A column whose values are records (dicts) of named features; a list of them with shape."""

    name: str
    specs: Sequence[FeatureSpec]
    shape: Shape | None = None

    def __post_init__(self) -> None:
        _check_name("feature group", self.name)
        specs = tuple(self.specs)
        if not specs or not all(isinstance(s, FeatureSpec) for s in specs):
            raise SignatureError(
                f"feature group {self.name!r} needs one or more FeatureSpec, got {self.specs!r}"
            )
        _check_unique(f"feature group {self.name!r}", [s.name for s in specs])
        object.__setattr__(self, "specs", specs)
        object.__setattr__(self, "shape", _as_shape("feature group", self.name, self.shape))

    def __repr__(self) -> str:
        specs = ", ".join(repr(s) for s in self.specs)
        return f"FeatureGroupSpec(name={self.name!r}, specs=[{specs}]{_shape_repr(self.shape)})"

    def to_arrow(self) -> pa.DataType:
        return _list_type(pa.struct([s.to_arrow_field() for s in self.specs]), self.shape)

    def to_arrow_field(self) -> pa.Field:
        return pa.field(self.name, self.to_arrow())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "group",
            "name": self.name,
            "specs": [s.to_dict() for s in self.specs],
            "shape": None if self.shape is None else list(self.shape),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureGroupSpec:
        shape = data.get("shape")
        return cls(
            data["name"],
            [FeatureSpec.from_dict(s) for s in data["specs"]],
            None if shape is None else tuple(shape),
        )


def _fits(dtype: DataType, shape: Shape | None, value: Any) -> bool:
    if not shape:
        return dtype.accepts(value)
    if not isinstance(value, list | tuple | np.ndarray):
        return False
    if shape[0] != -1 and len(value) != shape[0]:
        return False
    return all(_fits(dtype, shape[1:] or None, v) for v in value)


def _normalize(dtype: DataType, shape: Shape | None, value: Any) -> Any:
    if not shape or value is None:
        return dtype.python_value(value)
    return [_normalize(dtype, shape[1:] or None, v) for v in value]


def _encode(dtype: DataType, shape: Shape | None, value: Any) -> Any:
    if value is None:
        return None
    if shape:
        return [_encode(dtype, shape[1:] or None, v) for v in value]
    if dtype is DataType.BYTES:
        return base64.b64encode(value).decode("ascii")
    if dtype is DataType.TIMESTAMP_NTZ:
        return value.isoformat()
    return value


def _decode(dtype: DataType, shape: Shape | None, value: Any) -> Any:
    if value is None:
        return None
    if shape:
        return [_decode(dtype, shape[1:] or None, v) for v in value]
    if dtype is DataType.BYTES:
        return base64.b64decode(value)
    if dtype is DataType.TIMESTAMP_NTZ:
        return dt.datetime.fromisoformat(value)
    return value


@dataclass(frozen=True, repr=False)
class ParamSpec:
    """A named inference parameter with its type and the default used when it is not given."""

    name: str
    dtype: DataType
    default_value: Any
    shape: Shape | None = None

    def __post_init__(self) -> None:
        _check_name("parameter", self.name)
        object.__setattr__(self, "dtype", _as_dtype("parameter", self.name, self.dtype))
        object.__setattr__(self, "shape", _as_shape("parameter", self.name, self.shape))
        if self.default_value is not None and not self.accepts(self.default_value):
            raise SignatureError(
                f"parameter {self.name!r}: default {self.default_value!r} does not fit "
                f"{self.describe_type()}"
            )
        object.__setattr__(self, "default_value", self.normalize(self.default_value))

    def __repr__(self) -> str:
        return (
            f"ParamSpec(name={self.name!r}, dtype={self.dtype!r}, "
            f"default_value={self.default_value!r}{_shape_repr(self.shape)})"
        )

    def describe_type(self) -> str:
        return self.dtype.name + ("" if self.shape is None else f" with shape {self.shape}")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` fits this parameter; None fits only where the default is None."""
        if value is None:
            return getattr(self, "default_value", None) is None
        return _fits(self.dtype, self.shape, value)

    def normalize(self, value: Any) -> Any:
        """An accepted value as plain Python: numpy scalars unwrapped, ints widened for floats."""
        return _normalize(self.dtype, self.shape, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "param",
            "name": self.name,
            "dtype": self.dtype.name,
            "default_value": _encode(self.dtype, self.shape, self.default_value),
            "shape": None if self.shape is None else list(self.shape),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamSpec:
        dtype = DataType[data["dtype"]]
        shape = None if data.get("shape") is None else tuple(data["shape"])
        return cls(data["name"], dtype, _decode(dtype, shape, data.get("default_value")), shape)


def _wrap(value: Any, shape: Shape | None) -> Any:
    """``value`` repeated into a list per dimension; a -1 dimension is an empty list."""
    if not shape:
        return value
    if shape[0] == -1:
        return []
    return [_wrap(copy.deepcopy(value), shape[1:]) for _ in range(shape[0])]


def _map_group(group: ParamGroupSpec, value: Any, shape: Shape | None, leaf: Any) -> Any:
    """``value`` of ``group`` with ``leaf(spec, v)`` applied to each member ParamSpec's value."""
    if value is None:
        return None
    if shape:
        return [_map_group(group, v, shape[1:], leaf) for v in value]
    members = {s.name: s for s in group.specs}
    out = {}
    for key, v in value.items():
        spec = members.get(key)
        if spec is None:
            out[key] = v
        elif isinstance(spec, ParamSpec):
            out[key] = leaf(spec, v)
        else:
            out[key] = _map_group(spec, v, spec.shape, leaf)
    return out


@dataclass(frozen=True, repr=False)
class ParamGroupSpec:
    """A dict-valued parameter: named members (params or groups), each with its default.

    With ``shape`` it is a list of such dicts (``shape=(2,)``: two of them). Its default
    is ``default_value`` when given, else the members' defaults (a list of copies of
    them for a fixed shape, an empty list for -1). A partial dict given for it at run
    time is merged into the defaults at every level.
    """

    name: str
    specs: Sequence[ParamSpec | ParamGroupSpec]
    default_value: Any = None
    shape: Shape | None = None

    def __post_init__(self) -> None:
        _check_name("parameter group", self.name)
        specs = tuple(self.specs)
        if not specs or not all(isinstance(s, ParamSpec | ParamGroupSpec) for s in specs):
            raise SignatureError(
                f"parameter group {self.name!r} needs one or more ParamSpec or ParamGroupSpec, "
                f"got {self.specs!r}"
            )
        _check_unique(f"parameter group {self.name!r}", [s.name for s in specs])
        object.__setattr__(self, "specs", specs)
        object.__setattr__(self, "shape", _as_shape("parameter group", self.name, self.shape))
        if self.default_value is None:
            default = _wrap(element_default(self), self.shape)
        else:
            try:
                default = merge_group(self, self.default_value, self.name, element_default(self))
            except InvalidSpecError as exc:
                raise SignatureError(
                    f"parameter group {self.name!r}: default {self.default_value!r} does not "
                    f"fit: {exc}"
                ) from exc
        object.__setattr__(self, "default_value", default)

    def __repr__(self) -> str:
        specs = ", ".join(repr(s) for s in self.specs)
        return f"ParamGroupSpec(name={self.name!r}, specs=[{specs}]{_shape_repr(self.shape)})"

    def describe_type(self) -> str:
        return "dict" if self.shape is None else f"list of dicts with shape {self.shape}"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (a dict, possibly partial; a list of them when shaped) fits."""
        try:
            merge_group(self, value, self.name)
        except InvalidSpecError:
            return False
        return True

    def normalize(self, value: Any) -> Any:
        """An accepted value with every member filled in (from the defaults where missing)."""
        return merge_group(self, value, self.name)

    def to_dict(self) -> dict[str, Any]:
        def encode(spec: ParamSpec, v: Any) -> Any:
            return _encode(spec.dtype, spec.shape, v)

        return {
            "kind": "group",
            "name": self.name,
            "specs": [s.to_dict() for s in self.specs],
            "shape": None if self.shape is None else list(self.shape),
            "default_value": _map_group(self, self.default_value, self.shape, encode),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamGroupSpec:
        shape = None if data.get("shape") is None else tuple(data["shape"])
        specs = [_param_from_dict(s) for s in data["specs"]]
        group = cls(data["name"], specs, None, shape)
        if data.get("default_value") is None:
            return group

        def decode(spec: ParamSpec, v: Any) -> Any:
            return _decode(spec.dtype, spec.shape, v)

        return cls(
            data["name"], specs, _map_group(group, data["default_value"], shape, decode), shape
        )


def _check_unique(where: str, names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.lower(), name)
        if other is not name:
            raise SignatureError(
                f"{where}: names {other!r} and {name!r} collide (names are case-insensitive)"
            )


def _feature_from_dict(data: Mapping[str, Any]) -> FeatureSpec | FeatureGroupSpec:
    if data.get("kind") == "group":
        return FeatureGroupSpec.from_dict(data)
    return FeatureSpec.from_dict(data)


def _param_from_dict(data: Mapping[str, Any]) -> ParamSpec | ParamGroupSpec:
    if data.get("kind") == "group":
        return ParamGroupSpec.from_dict(data)
    return ParamSpec.from_dict(data)


@dataclass(frozen=True, repr=False)
class ModelSignature:
    """What a model function takes (input columns, parameters) and gives (output columns)."""

    inputs: Sequence[FeatureSpec | FeatureGroupSpec]
    outputs: Sequence[FeatureSpec | FeatureGroupSpec]
    params: Sequence[ParamSpec | ParamGroupSpec] = field(default=())

    def __post_init__(self) -> None:
        for what, specs, kinds in (
            ("inputs", self.inputs, (FeatureSpec, FeatureGroupSpec)),
            ("outputs", self.outputs, (FeatureSpec, FeatureGroupSpec)),
            ("params", self.params, (ParamSpec, ParamGroupSpec)),
        ):
            if isinstance(specs, str | bytes) or not isinstance(specs, Sequence):
                raise SignatureError(f"signature {what} must be a list of specs, got {specs!r}")
            bad = [s for s in specs if not isinstance(s, kinds)]
            if bad:
                names = " or ".join(k.__name__ for k in kinds)
                raise SignatureError(f"signature {what} must hold {names}, got {bad[0]!r}")
            _check_unique(f"signature {what}", [s.name for s in specs])
            object.__setattr__(self, what, tuple(specs))

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [s.name for s in self.outputs]

    def __repr__(self) -> str:
        parts = []
        for what in ("inputs", "outputs", "params"):
            specs: Sequence[object] = getattr(self, what)
            if what == "params" and not specs:
                continue
            body = "".join(f"        {s!r},\n" for s in specs)
            parts.append(f"    {what}=[\n{body}    ],\n" if specs else f"    {what}=[],\n")
        return "ModelSignature(\n" + "".join(parts) + ")"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``ModelSignature.from_dict`` reads it back."""
        return {
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "params": [s.to_dict() for s in self.params],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        try:
            return cls(
                [_feature_from_dict(s) for s in data["inputs"]],
                [_feature_from_dict(s) for s in data["outputs"]],
                [_param_from_dict(s) for s in data.get("params", ())],
            )
        except (KeyError, TypeError) as exc:
            raise SignatureError(f"not a signature dict: {exc!r} in {data!r}") from exc
