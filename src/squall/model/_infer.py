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


def infer_param(name: str, value: Any) -> ParamSpec | ParamGroupSpec:
    """A param spec whose type is read off its default value."""
    if isinstance(value, Mapping):
        return ParamGroupSpec(
            name, [_plain_param(f"{name}.{k}", str(k), v) for k, v in value.items()]
        )
    return _plain_param(name, name, value)


def _plain_param(label: str, name: str, value: Any) -> ParamSpec:
    try:
        if isinstance(value, list | tuple | np.ndarray):
            items = list(np.ravel(value)) if isinstance(value, np.ndarray) else list(value)
            if not items:
                raise SignatureError("an empty list has no item type")
            return ParamSpec(name, _param_item_type(items), list(value), (-1,))
        return ParamSpec(name, DataType.from_value(value), value)
    except SignatureError as exc:
        raise SignatureError(f"parameter {label!r}: {exc}") from exc


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
