"""save_model / read_manifest / load_model: the manifest, function resolution, the folder."""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path

import pandas as pd
import pytest

from squall.errors import AlreadyExistsError, InvalidSpecError, ModelNotFoundError, SignatureError
from squall.model import custom_model
from squall.model.packaging import (
    FunctionInfo,
    Manifest,
    load_model,
    read_manifest,
    save_model,
)
from squall.model.signature import DataType, FeatureSpec, ModelSignature, ParamSpec

X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})


class Three(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, k: float = 1.0) -> pd.DataFrame:
        return pd.DataFrame({"y": X["x"] * k})

    @custom_model.inference_api
    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"s": X["x"] - 1})

    @custom_model.inference_api
    def Score(self, X: pd.DataFrame) -> pd.DataFrame:  # a name differing only in case
        return pd.DataFrame({"s": X["x"] + 1})


class One(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"y": X["x"]})


def test_manifest_records_how_the_model_was_saved(tmp_path: Path) -> None:
    manifest = save_model(
        Three(),
        tmp_path / "m",
        sample_input_data=X,
        options={"function_type": "FUNCTION"},
        pip_requirements=["scikit-learn>=1.3"],
        comment="three functions",
    )
    assert (tmp_path / "m" / "manifest.json").exists()
    read = read_manifest(tmp_path / "m")
    assert read == manifest
    assert read.model_type == "custom"
    assert read.squall_version == "0.1.0"
    assert read.python_version == platform.python_version()
    assert dt.datetime.fromisoformat(read.created).tzinfo is not None
    assert read.pip_requirements == ["scikit-learn>=1.3"]
    assert read.options == {"function_type": "FUNCTION"}
    assert read.comment == "three functions"
    assert list(read.functions) == ["predict", "score", "Score"]
    assert read.functions["predict"] == FunctionInfo(
        "predict",
        ModelSignature(
            [FeatureSpec("x", DataType.DOUBLE)],
            [FeatureSpec("y", DataType.DOUBLE)],
            [ParamSpec("k", DataType.DOUBLE, 1.0)],
        ),
        "inference",
    )
    assert Manifest.from_json(read.to_json()) == read


def test_resolve_function(tmp_path: Path) -> None:
    manifest = save_model(Three(), tmp_path / "m", sample_input_data=X)
    assert manifest.resolve_function("PREDICT").name == "predict"
    assert manifest.resolve_function("score").name == "score"  # the exact name wins
    with pytest.raises(InvalidSpecError) as info:
        manifest.resolve_function(None)
    assert (
        str(info.value) == "model has several functions (predict, score, Score): pass function_name"
    )
    with pytest.raises(InvalidSpecError) as info:
        manifest.resolve_function("forecast")
    assert (
        str(info.value) == "model has no function 'forecast'; its functions: predict, score, Score"
    )
    with pytest.raises(InvalidSpecError, match="'SCORE' is ambiguous: it matches score, Score"):
        manifest.resolve_function("SCORE")
    one = save_model(One(), tmp_path / "one", sample_input_data=X)
    assert one.resolve_function(None).name == "predict"


def test_call_resolves_function_and_params(tmp_path: Path) -> None:
    save_model(Three(), tmp_path / "m", sample_input_data=X)
    model = load_model(tmp_path / "m")
    assert model.call("Predict", pd.DataFrame({"X": [2.0]}), {"K": 3})["y"].tolist() == [6.0]
    bound = model.bind("predict", {"k": 2})
    assert bound(X)["y"].tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(InvalidSpecError, match="valid params: k"):
        model.call("predict", X, {"kk": 2})
    with pytest.raises(InvalidSpecError, match="pass function_name"):
        model.call(None, X)
    assert "functions=['predict', 'score', 'Score']" in repr(model)


def test_folder_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    save_model(One(), tmp_path / "empty", sample_input_data=X)  # an empty folder is fine
    with pytest.raises(AlreadyExistsError, match="it exists and is not empty"):
        save_model(One(), tmp_path / "empty", sample_input_data=X)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no staging folder left


def test_bad_options_and_requirements(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError, match="'TABLE'; use one of FUNCTION, TABLE_FUNCTION"):
        save_model(One(), tmp_path / "a", sample_input_data=X, options={"function_type": "TABLE"})
    with pytest.raises(
        InvalidSpecError, match="a list of requirement strings, got the string 'numpy'"
    ):
        save_model(One(), tmp_path / "b", sample_input_data=X, pip_requirements="numpy")
    with pytest.raises(SignatureError, match="pass sample_input_data or signatures"):
        save_model(One(), tmp_path / "c")
    assert not any(tmp_path.iterdir())


def test_read_manifest_of_a_folder_without_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"manifest.json is missing"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="is not a squall model manifest"):
        read_manifest(tmp_path)
