"""Params: read off custom model methods, resolved against given values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from squall.errors import InvalidSpecError, SignatureError
from squall.model import custom_model
from squall.model.custom_model import resolve_params
from squall.model.signature import (
    DataType,
    FeatureSpec,
    ModelSignature,
    ParamGroupSpec,
    ParamSpec,
)

WHEN = dt.datetime(2024, 1, 2, 3, 4, 5)


class Everything(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(
        self,
        X: pd.DataFrame,
        *,
        threshold: float = 0.5,
        top_k: int = 3,
        mode: str = "fast",
        verbose: bool = False,
        salt: bytes = b"\x01",
        since: dt.datetime = WHEN,
        ids: list[int] = [1, 2],  # noqa: B006
        weights: list[float] | None = None,
        options: dict[str, float] = {"temperature": 0.7, "top_p": 1},  # noqa: B006
        extra: dict = {"tag": "a", "n": 2},  # noqa: B006
    ) -> pd.DataFrame:
        return X


def test_params_read_off_keyword_only_arguments() -> None:
    assert Everything.method_params("predict") == [
        ParamSpec("threshold", DataType.DOUBLE, 0.5),
        ParamSpec("top_k", DataType.INT64, 3),
        ParamSpec("mode", DataType.STRING, "fast"),
        ParamSpec("verbose", DataType.BOOL, False),
        ParamSpec("salt", DataType.BYTES, b"\x01"),
        ParamSpec("since", DataType.TIMESTAMP_NTZ, WHEN),
        ParamSpec("ids", DataType.INT64, [1, 2], shape=(-1,)),
        ParamSpec("weights", DataType.DOUBLE, None, shape=(-1,)),
        ParamGroupSpec(
            "options",
            [
                ParamSpec("temperature", DataType.DOUBLE, 0.7),
                ParamSpec("top_p", DataType.DOUBLE, 1.0),
            ],
        ),
        ParamGroupSpec(
            "extra", [ParamSpec("tag", DataType.STRING, "a"), ParamSpec("n", DataType.INT64, 2)]
        ),
    ]


def _refusal(method: Any) -> str:
    cls = type("Bad", (custom_model.CustomModel,), {"predict": custom_model.inference_api(method)})
    with pytest.raises(SignatureError) as info:
        cls.method_params("predict")
    return str(info.value)


def test_bad_method_arguments_are_refused_naming_method_and_argument() -> None:
    def kwargs(self, X, **options): ...  # type: ignore[no-untyped-def]

    def untyped(self, X, *, k=1): ...  # type: ignore[no-untyped-def]

    def no_default(self, X: pd.DataFrame, *, k: int) -> None: ...

    def positional(self, X: pd.DataFrame, y: int = 1) -> None: ...

    def star_args(self, X: pd.DataFrame, *rest: int) -> None: ...

    def odd_type(self, X: pd.DataFrame, *, k: complex = 1j) -> None: ...

    assert "Bad.predict: **options is not allowed" in _refusal(kwargs)
    assert _refusal(untyped) == "Bad.predict: keyword-only argument 'k' needs a type annotation"
    assert _refusal(no_default) == "Bad.predict: keyword-only argument 'k' needs a default"
    assert "Bad.predict: takes positional argument(s) y beyond X" in _refusal(positional)
    assert "*rest is not allowed" in _refusal(star_args)
    assert "Bad.predict: parameter 'k': type <class 'complex'> is not supported" in _refusal(
        odd_type
    )


def test_a_default_that_does_not_fit_its_type_is_refused() -> None:
    def wrong(self, X: pd.DataFrame, *, k: int = 0.5) -> None: ...  # type: ignore[assignment]

    assert "Bad.predict: parameter 'k': default 0.5 does not fit INT64" in _refusal(wrong)


SIG = ModelSignature(
    [FeatureSpec("x", DataType.DOUBLE)],
    [FeatureSpec("y", DataType.DOUBLE)],
    Everything.method_params("predict"),
)


def test_defaults_fill_what_is_not_given() -> None:
    resolved = resolve_params(SIG, None)
    assert resolved["threshold"] == 0.5
    assert resolved["options"] == {"temperature": 0.7, "top_p": 1.0}
    resolved["ids"].append(3)  # a caller mutating a default does not change the signature
    assert resolve_params(SIG, {})["ids"] == [1, 2]
    assert resolve_params(ModelSignature([], []), None) == {}


def test_given_values_match_names_ignoring_case_and_are_normalised() -> None:
    resolved = resolve_params(
        SIG,
        {
            "THRESHOLD": 1,
            "Top_K": np.int64(5),
            "ids": (4, 5),
            "weights": [1, 2.5],
            "Options": {"TOP_P": 0.9},
        },
    )
    assert resolved["threshold"] == 1.0 and isinstance(resolved["threshold"], float)
    assert resolved["top_k"] == 5 and type(resolved["top_k"]) is int
    assert resolved["ids"] == [4, 5]
    assert resolved["weights"] == [1.0, 2.5]
    assert resolved["options"] == {"temperature": 0.7, "top_p": 0.9}
    assert resolved["mode"] == "fast"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"treshold": 0.3}, "unknown param(s) treshold; valid params: threshold, top_k, mode"),
        (
            {"threshold": 0.1, "Threshold": 0.2},
            "'threshold' is given twice: as 'threshold' and as 'Threshold'",
        ),
        ({"top_k": True}, "param 'top_k' = True (bool) does not fit INT64"),
        ({"top_k": 2.0}, "param 'top_k' = 2.0 (float) does not fit INT64"),
        ({"threshold": "0.3"}, "param 'threshold' = '0.3' (str) does not fit DOUBLE"),
        ({"ids": [1, "2"]}, "param 'ids' = [1, '2'] (list) does not fit INT64 with shape (-1,)"),
        ({"ids": 1}, "param 'ids' = 1 (int) does not fit INT64 with shape (-1,)"),
        ({"mode": None}, "param 'mode' = None (NoneType) does not fit STRING"),
        ({"since": "2024-01-01"}, "param 'since' = '2024-01-01' (str) does not fit TIMESTAMP_NTZ"),
        (
            {"options": 3},
            "param 'options' = 3 (int) must be a dict with keys among temperature, top_p",
        ),
        (
            {"options": {"temp": 1.0}},
            "unknown key(s) temp of param 'options'; valid keys: temperature, top_p",
        ),
        (
            {"options": {"top_p": "x"}},
            "param 'options' key 'top_p' = 'x' (str) does not fit DOUBLE",
        ),
    ],
)
def test_bad_params_are_refused_naming_the_value(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        resolve_params(SIG, params)
    assert message in str(info.value)


def test_params_given_to_a_function_without_params() -> None:
    with pytest.raises(InvalidSpecError) as info:
        resolve_params(ModelSignature([], []), {"threshold": 0.3})
    assert str(info.value) == "params threshold were given, but this function takes no params"
