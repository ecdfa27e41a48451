"""Build a signature from sample data: the column types, shapes of array columns, params."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from squall.errors import SignatureError
from squall.model._dtypes import DataType
from squall.model._specs import (
    FeatureGroupSpec,
    FeatureSpec,
    ModelSignature,
    ParamGroupSpec,
    ParamSpec,
)

__all__ = ["as_frame", "infer_features", "infer_param", "infer_signature"]

_SCAN = 100  # values of an object column looked at to type it


def as_frame(data: Any, *, what: str, prefix: str = "input_feature_") -> pd.DataFrame:
    """Sample data as a DataFrame; array columns are named ``{prefix}{i}``."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pa.Table | pa.RecordBatch):
        return data.to_pandas()
    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if isinstance(data.name, str) else f"{prefix}0")
    if isinstance(data, list):
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2:
            raise SignatureError(f"{what}: a {data.ndim}-D array; pass a 1-D or 2-D one")
        return pd.DataFrame(data, columns=[f"{prefix}{i}" for i in range(data.shape[1])])
    if hasattr(data, "to_pandas"):  # polars and friends
        frame = data.to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    raise SignatureError(
        f"{what}: a {type(data).__name__}; pass a pandas DataFrame, a pyarrow Table "
        "or a numpy array"
    )


def infer_features(frame: pd.DataFrame, *, what: str) -> list[FeatureSpec | FeatureGroupSpec]:
    """One spec per column of ``frame``, typed from its dtype (object columns: values)."""
    specs: list[FeatureSpec | FeatureGroupSpec] = []
    if len(set(frame.columns)) != len(frame.columns):
        dup = sorted({str(c) for c in frame.columns if list(frame.columns).count(c) > 1})
        raise SignatureError(f"{what}: duplicate column names {dup}")
    for name, column in frame.items():
        specs.append(_infer_column(str(name), column, what))
    return specs


def _infer_column(name: str, column: pd.Series, what: str) -> FeatureSpec | FeatureGroupSpec:
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return _from_arrow_type(name, dtype.pyarrow_dtype, what)
    if dtype != np.dtype(object):
        try:
            return FeatureSpec(name, DataType.from_numpy(dtype))
        except SignatureError as exc:
            raise SignatureError(f"{what}: column {name!r}: {exc}") from exc
    values = column.dropna().iloc[:_SCAN].tolist()
    if not values:
        raise SignatureError(
            f"{what}: column {name!r} holds only nulls, so its type cannot be inferred; "
            "pass signatures= explicitly"
        )
    return _from_values(name, values, what)


def _from_values(name: str, values: list[Any], what: str) -> FeatureSpec | FeatureGroupSpec:
    first = values[0]
    if isinstance(first, dict):
        if not all(isinstance(v, dict) for v in values):
            raise SignatureError(f"{what}: column {name!r} mixes records and other values")
        return _group(name, values, None, what)
    if isinstance(first, list | tuple | np.ndarray):
        shapes = {np.shape(v) if isinstance(v, np.ndarray) else (len(v),) for v in values}
        shape = shapes.pop() if len(shapes) == 1 else (-1,)
        flat: list[Any] = []
        for v in values:
            flat.extend(np.ravel(v).tolist() if isinstance(v, np.ndarray) else _flatten(v))
        flat = [v for v in flat if v is not None]
        if flat and all(isinstance(v, dict) for v in flat):
            return _group(name, flat, (-1,), what)
        if not flat:
            raise SignatureError(
                f"{what}: column {name!r} holds only empty arrays; pass signatures= explicitly"
            )
        return FeatureSpec(name, _common_type(name, flat, what), tuple(shape))
    return FeatureSpec(name, _common_type(name, values, what))


def _flatten(value: Any) -> list[Any]:
    out: list[Any] = []
    for v in value:
        if isinstance(v, list | tuple):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _group(name: str, records: list[dict[str, Any]], shape: Any, what: str) -> FeatureGroupSpec:
    keys: dict[str, list[Any]] = {}
    for record in records:
        for key, value in record.items():
            if value is not None:
                keys.setdefault(str(key), []).append(value)
    specs = [FeatureSpec(k, _common_type(f"{name}.{k}", v, what)) for k, v in keys.items()]
    return FeatureGroupSpec(name, specs, shape)


def _common_type(name: str, values: list[Any], what: str) -> DataType:
    try:
        types = {DataType.from_value(v) for v in values}
    except SignatureError as exc:
        raise SignatureError(f"{what}: column {name!r}: {exc}") from exc
    if len(types) == 1:
        return types.pop()
    if all(t.is_numeric for t in types):
        return DataType.DOUBLE
    found = ", ".join(sorted(t.name for t in types))
    raise SignatureError(f"{what}: column {name!r} mixes value types ({found})")


def _from_arrow_type(name: str, pa_type: pa.DataType, what: str) -> FeatureSpec | FeatureGroupSpec:
    shape: list[int] = []
    while (
        pa.types.is_list(pa_type)
        or pa.types.is_large_list(pa_type)
        or (pa.types.is_fixed_size_list(pa_type))
    ):
        shape.append(pa_type.list_size if pa.types.is_fixed_size_list(pa_type) else -1)
        pa_type = pa_type.value_type
    try:
        if pa.types.is_struct(pa_type):
            specs = [
                FeatureSpec(f.name, DataType.from_arrow(f.type), nullable=f.nullable)
                for f in pa_type.fields
            ]
            return FeatureGroupSpec(name, specs, tuple(shape) or None)
        return FeatureSpec(name, DataType.from_arrow(pa_type), tuple(shape) or None)
    except SignatureError as exc:
        raise SignatureError(f"{what}: column {name!r}: {exc}") from exc


def infer_param(name: str, value: Any, label: str | None = None) -> ParamSpec | ParamGroupSpec:
    """A param spec whose type is read off its default value.

    A dict gives a group (nested dicts nested groups), a list of dicts a group with shape
    ``(-1,)`` whose members come from the first dict, a list (of lists...) of scalars a
    param with one -1 per level.
    """
    label = label or name
    try:
        if isinstance(value, Mapping):
            if not value:
                raise SignatureError("an empty dict has no keys to type")
            return ParamGroupSpec(
                name, [infer_param(str(k), v, f"{label}.{k}") for k, v in value.items()]
            )
        if isinstance(value, list | tuple | np.ndarray):
            items = value.tolist() if isinstance(value, np.ndarray) else list(value)
            if not items:
                raise SignatureError("an empty list has no item type")
            if all(isinstance(v, Mapping) for v in items):
                element = infer_param(name, items[0], f"{label}[0]")
                assert isinstance(element, ParamGroupSpec)
                return ParamGroupSpec(name, element.specs, items, (-1,))
            depth, leaves = _nesting(items)
            return ParamSpec(name, _param_item_type(leaves), items, (-1,) * depth)
        return ParamSpec(name, DataType.from_value(value), value)
    except SignatureError as exc:
        if str(exc).startswith("parameter "):
            raise
        raise SignatureError(f"parameter {label!r}: {exc}") from exc


def _nesting(items: list[Any]) -> tuple[int, list[Any]]:
    """How deep a list of lists goes (read off its first items) and its scalars."""
    depth, level = 1, items
    while level and isinstance(level[0], list | tuple):
        if not all(isinstance(v, list | tuple) for v in level):
            raise SignatureError("a list mixes lists and other values")
        depth += 1
        level = [v for sub in level for v in sub]
    if any(isinstance(v, list | tuple | Mapping) for v in level):
        raise SignatureError("a list mixes lists and other values, or nests unevenly")
    if not level:
        raise SignatureError("an empty list has no item type")
    return depth, level


def _param_item_type(items: list[Any]) -> DataType:
    types = {DataType.from_value(v) for v in items}
    if len(types) == 1:
        return types.pop()
    if all(t.is_numeric for t in types):
        return DataType.DOUBLE
    raise SignatureError(f"list mixes item types ({', '.join(sorted(t.name for t in types))})")


def infer_signature(
    input_data: Any,
    output_data: Any,
    params: Mapping[str, Any] | Sequence[ParamSpec | ParamGroupSpec] | None = None,
) -> ModelSignature:
    """Build a signature from sample inputs and the outputs a model gave for them.

    ``params`` is either ready specs or ``{name: default}``, each typed from its default.

    >>> import pandas as pd
    >>> sig = infer_signature(pd.DataFrame({"x": [1.0]}), pd.DataFrame({"y": [2]}), {"k": 3})
    >>> sig.input_names, sig.output_names, sig.params[0].dtype
    (['x'], ['y'], DataType.INT64)
    """
    inputs = infer_features(as_frame(input_data, what="input data"), what="input data")
    outputs = infer_features(
        as_frame(output_data, what="output data", prefix="output_feature_"), what="output data"
    )
    if params is None:
        specs: list[ParamSpec | ParamGroupSpec] = []
    elif isinstance(params, Mapping):
        specs = [infer_param(str(k), v) for k, v in params.items()]
    else:
        specs = list(params)
    return ModelSignature(inputs, outputs, specs)
