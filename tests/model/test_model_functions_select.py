"""Which methods become a model's functions: ``signatures`` names them, as upstream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from squall.errors import InvalidSpecError, SignatureError
from squall.model import custom_model, load_model, save_model
from squall.model.signature import DataType, FeatureSpec, ModelSignature, ParamSpec

X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
SIG = ModelSignature([FeatureSpec("x", DataType.DOUBLE)], [FeatureSpec("y", DataType.DOUBLE)])


def _method(k: float):  # type: ignore[no-untyped-def]
    def method(self, X: pd.DataFrame) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        return pd.DataFrame({"y": X["x"] * k})

    return custom_model.inference_api(method)


SevenMethods = type(
    "SevenMethods",
    (custom_model.CustomModel,),
    {f"m{i}": _method(float(i)) for i in range(7)},
)


def test_signatures_for_five_of_seven_methods_give_five_functions_as_upstream(
    tmp_path: Path,
) -> None:
    chosen = {f"m{i}": SIG for i in (0, 2, 3, 5, 6)}
    manifest = save_model(SevenMethods(), tmp_path / "m", signatures=chosen)
    assert list(manifest.functions) == list(chosen)
    loaded = load_model(tmp_path / "m")
    assert loaded.call("m5", X)["y"].tolist() == [5.0, 10.0, 15.0]
    with pytest.raises(InvalidSpecError, match="no function 'm1'"):
        loaded.call("m1", X)


def test_sample_with_a_signature_for_one_method_gives_that_function_only_as_upstream(
    tmp_path: Path,
) -> None:
    manifest = save_model(
        SevenMethods(), tmp_path / "m", sample_input_data=X, signatures={"M4": SIG}
    )
    assert list(manifest.functions) == ["m4"]
    # with one function, no function_name is needed
    assert manifest.resolve_function(None).name == "m4"


def test_signature_for_a_method_the_model_lacks_is_refused_as_upstream(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="signatures names function 'predict'"):
        save_model(SevenMethods(), tmp_path / "m", signatures={"predict": SIG})


def test_sample_lacking_a_signature_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="sample_input_data lacks input"):
        save_model(
            SevenMethods(),
            tmp_path / "m",
            sample_input_data=pd.DataFrame({"z": [1.0]}),
            signatures={"m0": SIG},
        )


def test_sklearn_signatures_pick_the_target_methods_as_upstream(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.standard_normal((40, 2)), columns=["a", "b"])
    clf = LogisticRegression().fit(train, (train.a > 0).astype(int))
    sig = ModelSignature(
        [FeatureSpec("a", DataType.DOUBLE), FeatureSpec("b", DataType.DOUBLE)],
        [FeatureSpec("output_feature_0", DataType.INT64)],
    )
    manifest = save_model(
        clf, tmp_path / "sig", sample_input_data=train, signatures={"predict": sig}
    )
    assert list(manifest.functions) == ["predict"]
    targets = save_model(
        clf,
        tmp_path / "opt",
        sample_input_data=train,
        options={"target_methods": ["predict_proba"]},
    )
    assert list(targets.functions) == ["predict_proba"]


def test_target_methods_option_must_name_existing_methods(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="options\\['target_methods'\\] names function 'x'"):
        save_model(
            SevenMethods(), tmp_path / "m", sample_input_data=X, options={"target_methods": ["x"]}
        )
    with pytest.raises(InvalidSpecError, match="target_methods"):
        save_model(
            SevenMethods(), tmp_path / "n", sample_input_data=X, options={"target_methods": "m0"}
        )


class Typed(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, scale=2.0) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        return pd.DataFrame({"y": X["x"] * scale})


def test_a_signature_with_params_types_an_unannotated_method_as_upstream(tmp_path: Path) -> None:
    sig = ModelSignature(SIG.inputs, SIG.outputs, [ParamSpec("scale", DataType.DOUBLE, 2.0)])
    save_model(Typed(), tmp_path / "m", signatures={"predict": sig})
    assert load_model(tmp_path / "m").call("predict", X, {"scale": 3})["y"].tolist() == [
        3.0,
        6.0,
        9.0,
    ]
