"""Signatures: types, inference from data, JSON round trips."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from squall.errors import SignatureError
from squall.model.signature import (
    DataType,
    FeatureGroupSpec,
    FeatureSpec,
    ModelSignature,
    ParamGroupSpec,
    ParamSpec,
    infer_signature,
)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.int8, DataType.INT8),
        (np.uint32, DataType.UINT32),
        (np.float32, DataType.FLOAT),
        (np.float64, DataType.DOUBLE),
        (np.bool_, DataType.BOOL),
        ("datetime64[ns]", DataType.TIMESTAMP_NTZ),
        ("<U3", DataType.STRING),
        ("S2", DataType.BYTES),
        (pd.Int64Dtype(), DataType.INT64),
        (pd.BooleanDtype(), DataType.BOOL),
        (pd.Float32Dtype(), DataType.FLOAT),
        (pd.StringDtype(), DataType.STRING),
        (pd.StringDtype("pyarrow"), DataType.STRING),
        (pd.ArrowDtype(pa.int16()), DataType.INT16),
        (pd.CategoricalDtype(["a", "b"]), DataType.STRING),
    ],
)
def test_from_numpy(dtype: object, expected: DataType) -> None:
    assert DataType.from_numpy(dtype) is expected


def test_from_numpy_refuses_object_and_time_zones() -> None:
    with pytest.raises(SignatureError, match="typed from their values"):
        DataType.from_numpy(np.dtype(object))
    with pytest.raises(SignatureError, match="tz_convert"):
        DataType.from_numpy(pd.DatetimeTZDtype(tz="UTC"))


def test_arrow_round_trip_of_every_type() -> None:
    for t in DataType:
        assert DataType.from_arrow(t.to_arrow()) is t
    assert DataType.from_arrow(pa.large_string()) is DataType.STRING
    assert DataType.from_arrow(pa.dictionary(pa.int32(), pa.string())) is DataType.STRING
    assert DataType.TIMESTAMP_NTZ.to_numpy() == np.dtype("datetime64[us]")
    assert DataType.FLOAT.to_numpy() == np.float32


def test_infer_from_pandas_3_columns() -> None:
    X = pd.DataFrame(
        {
            "i": np.arange(3, dtype="int32"),
            "f": np.ones(3, dtype="float32"),
            "s": ["a", "b", None],  # pandas 3: the str dtype
            "o": pd.Series(["x", "y", "z"], dtype=object),
            "b": [b"\x00", b"\x01", None],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
            "vec": [np.zeros(4), np.ones(4), np.ones(4)],
            "ragged": [[1, 2], [3], []],
            "rec": [{"label": "a", "score": 0.5}, {"label": "b", "score": 1}, None],
            "n": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    sig = infer_signature(X, pd.DataFrame({"y": [1.0, 2.0, 3.0]}))
    by_name = {s.name: s for s in sig.inputs}
    assert by_name["i"] == FeatureSpec("i", DataType.INT32)
    assert by_name["f"].dtype is DataType.FLOAT
    assert by_name["s"].dtype is DataType.STRING
    assert by_name["o"].dtype is DataType.STRING
    assert by_name["b"].dtype is DataType.BYTES
    assert by_name["t"].dtype is DataType.TIMESTAMP_NTZ
    assert by_name["vec"] == FeatureSpec("vec", DataType.DOUBLE, shape=(4,))
    assert by_name["ragged"] == FeatureSpec("ragged", DataType.INT64, shape=(-1,))
    rec = by_name["rec"]
    assert isinstance(rec, FeatureGroupSpec)
    assert [(s.name, s.dtype) for s in rec.specs] == [
        ("label", DataType.STRING),
        ("score", DataType.DOUBLE),
    ]
    assert by_name["n"].dtype is DataType.INT64
    assert sig.output_names == ["y"]


def test_infer_from_arrow_table_and_numpy() -> None:
    table = pa.table(
        {
            "x": pa.array([1.0, 2.0], pa.float32()),
            "tags": pa.array([["a"], ["b", "c"]]),
            "emb": pa.array([[1, 2], [3, 4]], pa.list_(pa.int64(), 2)),
        }
    )
    sig = infer_signature(table, np.array([0.1, 0.2]))
    assert list(sig.inputs) == [
        FeatureSpec("x", DataType.FLOAT),
        FeatureSpec("tags", DataType.STRING, shape=(-1,)),
        FeatureSpec("emb", DataType.INT64, shape=(2,)),
    ]
    assert sig.outputs == (FeatureSpec("output_feature_0", DataType.DOUBLE),)
    sig = infer_signature(np.zeros((2, 3), dtype="float32"), np.zeros((2, 2)))
    assert sig.input_names == ["input_feature_0", "input_feature_1", "input_feature_2"]
    assert sig.output_names == ["output_feature_0", "output_feature_1"]


def test_infer_params_from_defaults() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30)
    sig = infer_signature(
        pd.DataFrame({"x": [1]}),
        pd.DataFrame({"y": [1]}),
        {
            "k": 3,
            "t": 0.5,
            "name": "a",
            "on": True,
            "raw": b"\x00",
            "when": when,
            "ids": [1, 2],
            "opts": {"a": 1},
        },
    )
    assert list(sig.params) == [
        ParamSpec("k", DataType.INT64, 3),
        ParamSpec("t", DataType.DOUBLE, 0.5),
        ParamSpec("name", DataType.STRING, "a"),
        ParamSpec("on", DataType.BOOL, True),
        ParamSpec("raw", DataType.BYTES, b"\x00"),
        ParamSpec("when", DataType.TIMESTAMP_NTZ, when),
        ParamSpec("ids", DataType.INT64, [1, 2], shape=(-1,)),
        ParamGroupSpec("opts", [ParamSpec("a", DataType.INT64, 1)]),
    ]


def test_json_round_trip_keeps_everything() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, 15, 123456)
    sig = ModelSignature(
        inputs=[
            FeatureSpec("a", DataType.INT8, nullable=False),
            FeatureSpec("img", DataType.BYTES),
            FeatureSpec("emb", DataType.FLOAT, shape=(2, -1)),
            FeatureGroupSpec("rec", [FeatureSpec("k", DataType.STRING)], shape=(-1,)),
        ],
        outputs=[FeatureSpec("t", DataType.TIMESTAMP_NTZ)],
        params=[
            ParamSpec("when", DataType.TIMESTAMP_NTZ, when),
            ParamSpec("raw", DataType.BYTES, b"\xff\x00"),
            ParamSpec("stamps", DataType.TIMESTAMP_NTZ, [when], shape=(-1,)),
            ParamSpec("none", DataType.DOUBLE, None),
            ParamGroupSpec("opts", [ParamSpec("n", DataType.INT32, 4)]),
        ],
    )
    text = json.dumps(sig.to_dict())
    back = ModelSignature.from_dict(json.loads(text))
    assert back == sig
    assert back.params[0].default_value == when
    assert back.params[1].default_value == b"\xff\x00"


def test_repr_is_readable() -> None:
    sig = ModelSignature(
        [FeatureSpec("a", DataType.DOUBLE)],
        [FeatureSpec("b", DataType.STRING, shape=(-1,))],
        [ParamSpec("k", DataType.INT64, 1)],
    )
    assert repr(sig) == (
        "ModelSignature(\n"
        "    inputs=[\n"
        "        FeatureSpec(name='a', dtype=DataType.DOUBLE),\n"
        "    ],\n"
        "    outputs=[\n"
        "        FeatureSpec(name='b', dtype=DataType.STRING, shape=(-1,)),\n"
        "    ],\n"
        "    params=[\n"
        "        ParamSpec(name='k', dtype=DataType.INT64, default_value=1),\n"
        "    ],\n"
        ")"
    )


def test_specs_refuse_bad_values() -> None:
    with pytest.raises(SignatureError, match="collide"):
        ModelSignature([FeatureSpec("a", DataType.INT8), FeatureSpec("A", DataType.INT8)], [])
    with pytest.raises(SignatureError, match="does not fit"):
        ParamSpec("k", DataType.INT64, "three")
    with pytest.raises(SignatureError, match="does not fit"):
        ParamSpec("k", DataType.INT64, True)  # bool is not an int
    with pytest.raises(SignatureError, match="shape"):
        FeatureSpec("a", DataType.INT8, shape=(0,))
    with pytest.raises(SignatureError, match="not a DataType"):
        FeatureSpec("a", "COMPLEX")  # type: ignore[arg-type]
    assert ParamSpec("t", DataType.DOUBLE, 1).default_value == 1.0


def test_inference_errors_name_the_column() -> None:
    with pytest.raises(SignatureError, match="'empty' holds only nulls"):
        infer_signature(pd.DataFrame({"empty": pd.Series([None, None], dtype=object)}), [1, 2])
    with pytest.raises(SignatureError, match=r"'mixed' mixes value types \(BYTES, STRING\)"):
        infer_signature(pd.DataFrame({"mixed": ["a", b"b"]}), [1, 2])
