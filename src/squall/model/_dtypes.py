"""The scalar types a signature can name, and their numpy, Arrow and Python faces."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from squall.errors import SignatureError

__all__ = ["DataType"]


class DataType(enum.Enum):
    """The type of one value of a feature or a parameter."""

    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    BOOL = "BOOL"
    STRING = "STRING"
    BYTES = "BYTES"
    TIMESTAMP_NTZ = "TIMESTAMP_NTZ"

    def __repr__(self) -> str:
        return f"DataType.{self.name}"

    @property
    def is_integer(self) -> bool:
        return self in _INTEGERS

    @property
    def is_numeric(self) -> bool:
        return self in _INTEGERS or self in (DataType.FLOAT, DataType.DOUBLE)

    def to_numpy(self) -> np.dtype[Any]:
        """The numpy dtype that holds this type (object for strings and bytes)."""
        return np.dtype(_TO_NUMPY[self])

    def to_arrow(self) -> pa.DataType:
        """The Arrow type that holds this type; timestamps are microseconds, no time zone."""
        return _TO_ARROW[self]()

    @classmethod
    def from_numpy(cls, dtype: Any) -> DataType:
        """The DataType of a numpy or pandas dtype; raises SignatureError for object dtype."""
        if isinstance(dtype, pd.StringDtype):
            return cls.STRING
        if isinstance(dtype, pd.ArrowDtype):
            return cls.from_arrow(dtype.pyarrow_dtype)
        if isinstance(dtype, pd.CategoricalDtype):
            return cls.from_numpy(dtype.categories.dtype)
        if isinstance(dtype, pd.DatetimeTZDtype):
            raise SignatureError(
                f"dtype {dtype} has a time zone; TIMESTAMP_NTZ holds none: "
                "convert the column with .dt.tz_convert(None) first"
            )
        numpy_dtype = getattr(dtype, "numpy_dtype", None)  # pandas masked dtypes: Int64, boolean
        if numpy_dtype is not None:
            return cls.from_numpy(numpy_dtype)
        try:
            npd = np.dtype(dtype)
        except TypeError as exc:
            raise SignatureError(f"dtype {dtype!r} has no squall DataType") from exc
        if npd.kind == "U":
            return cls.STRING
        if npd.kind == "S":
            return cls.BYTES
        if npd.kind == "M":
            return cls.TIMESTAMP_NTZ
        if npd.kind == "f" and npd.itemsize < 4:
            return cls.FLOAT
        found = _FROM_NUMPY.get(npd)
        if found is None:
            raise SignatureError(
                f"dtype {npd} has no squall DataType"
                + (": object columns are typed from their values" if npd.kind == "O" else "")
            )
        return found

    @classmethod
    def from_arrow(cls, pa_type: pa.DataType) -> DataType:
        """The DataType of a scalar Arrow type (nested types are described by shapes/groups)."""
        if pa.types.is_dictionary(pa_type):
            return cls.from_arrow(pa_type.value_type)
        if (
            pa.types.is_string(pa_type)
            or pa.types.is_large_string(pa_type)
            or pa.types.is_string_view(pa_type)
        ):
            return cls.STRING
        if (
            pa.types.is_binary(pa_type)
            or pa.types.is_large_binary(pa_type)
            or pa.types.is_fixed_size_binary(pa_type)
            or pa.types.is_binary_view(pa_type)
        ):
            return cls.BYTES
        if pa.types.is_timestamp(pa_type):
            if pa_type.tz is not None:
                raise SignatureError(
                    f"Arrow type {pa_type} has a time zone; TIMESTAMP_NTZ holds none"
                )
            return cls.TIMESTAMP_NTZ
        if pa.types.is_float16(pa_type):
            return cls.FLOAT
        try:
            return cls.from_numpy(pa_type.to_pandas_dtype())
        except (NotImplementedError, SignatureError) as exc:
            raise SignatureError(f"Arrow type {pa_type} has no squall DataType") from exc

    @classmethod
    def from_value(cls, value: Any) -> DataType:
        """The DataType of one Python or numpy scalar."""
        if isinstance(value, bool | np.bool_):
            return cls.BOOL
        if isinstance(value, int):
            return cls.INT64
        if isinstance(value, float):
            return cls.DOUBLE
        if isinstance(value, str):
            return cls.STRING
        if isinstance(value, bytes | bytearray):
            return cls.BYTES
        if isinstance(value, dt.datetime | np.datetime64):
            return cls.TIMESTAMP_NTZ
        if isinstance(value, np.generic):
            return cls.from_numpy(value.dtype)
        raise SignatureError(f"value {value!r} of type {type(value).__name__} has no DataType")

    def accepts(self, value: Any) -> bool:
        """Whether a Python scalar fits this type: bool is not a number, an int fits a float."""
        if self is DataType.BOOL:
            return isinstance(value, bool | np.bool_)
        if isinstance(value, bool | np.bool_):
            return False
        if self in _INTEGERS:
            if not isinstance(value, int | np.integer):
                return False
            info = np.iinfo(_TO_NUMPY[self])
            return bool(info.min <= int(value) <= info.max)
        if self in (DataType.FLOAT, DataType.DOUBLE):
            return isinstance(value, int | float | np.integer | np.floating)
        if self is DataType.STRING:
            return isinstance(value, str)
        if self is DataType.BYTES:
            return isinstance(value, bytes | bytearray)
        if isinstance(value, dt.datetime):
            return value.tzinfo is None
        return isinstance(value, np.datetime64)

    def python_value(self, value: Any) -> Any:
        """``value`` (already accepted) as the plain Python object the type stands for."""
        if value is None:
            return None
        if self is DataType.BOOL:
            return bool(value)
        if self in _INTEGERS:
            return int(value)
        if self in (DataType.FLOAT, DataType.DOUBLE):
            return float(value)
        if self is DataType.BYTES:
            return bytes(value)
        if self is DataType.TIMESTAMP_NTZ and isinstance(value, np.datetime64):
            return pd.Timestamp(value).to_pydatetime()
        return value


_INTEGERS = frozenset(
    {
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.UINT8,
        DataType.UINT16,
        DataType.UINT32,
        DataType.UINT64,
    }
)

_TO_NUMPY: dict[DataType, Any] = {
    DataType.INT8: np.int8,
    DataType.INT16: np.int16,
    DataType.INT32: np.int32,
    DataType.INT64: np.int64,
    DataType.UINT8: np.uint8,
    DataType.UINT16: np.uint16,
    DataType.UINT32: np.uint32,
    DataType.UINT64: np.uint64,
    DataType.FLOAT: np.float32,
    DataType.DOUBLE: np.float64,
    DataType.BOOL: np.bool_,
    DataType.STRING: object,
    DataType.BYTES: object,
    DataType.TIMESTAMP_NTZ: "datetime64[us]",
}

_FROM_NUMPY: dict[np.dtype[Any], DataType] = {
    np.dtype(v): k for k, v in _TO_NUMPY.items() if k not in (DataType.STRING, DataType.BYTES)
}
_FROM_NUMPY.pop(np.dtype("datetime64[us]"))

_TO_ARROW = {
    DataType.INT8: pa.int8,
    DataType.INT16: pa.int16,
    DataType.INT32: pa.int32,
    DataType.INT64: pa.int64,
    DataType.UINT8: pa.uint8,
    DataType.UINT16: pa.uint16,
    DataType.UINT32: pa.uint32,
    DataType.UINT64: pa.uint64,
    DataType.FLOAT: pa.float32,
    DataType.DOUBLE: pa.float64,
    DataType.BOOL: pa.bool_,
    DataType.STRING: pa.string,
    DataType.BYTES: pa.binary,
    DataType.TIMESTAMP_NTZ: lambda: pa.timestamp("us"),
}
