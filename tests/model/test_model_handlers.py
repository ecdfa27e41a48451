"""scikit-learn, XGBoost and LightGBM models: save, load here and in a fresh process, same numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from squall.errors import InvalidArgumentError, SignatureError
from squall.model.packaging import load_model, read_manifest, save_model
from squall.model.signature import DataType, FeatureSpec, ModelSignature

from .conftest import RunPython

FEATURES = ["age", "income", "tenure", "score"]


def _squash(values: np.ndarray) -> np.ndarray:
    """User code inside a pipeline: a fresh process gets it by value with the model."""
    return np.log1p(values) * 2.0


def _data() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.random((80, 4), dtype=np.float32), columns=FEATURES)
    y = pd.Series((X["age"] + X["score"] > 1.0).astype("int64"))
    y3 = pd.Series(np.digitize(X["income"], [0.33, 0.66]).astype("int64"))
    return X, y, y3


def _models() -> dict[str, tuple[Any, Any]]:
    """name -> (fitted model, sample_input_data)."""
    X, y, y3 = _data()
    A = X.to_numpy()
    town = pd.Series(np.where(X["age"] > 0.5, "north", "south"))
    mixed = X.assign(town=town)
    ct = ColumnTransformer([("town", OneHotEncoder(), ["town"])], remainder="passthrough")
    labels = np.where(y == 1, "stay", "leave")
    return {
        "sk_logreg": (LogisticRegression().fit(X, y), X),
        "sk_pipeline_on_array": (
            make_pipeline(StandardScaler(), LogisticRegression()).fit(A, y),
            A,
        ),
        "sk_named_array_sample": (LogisticRegression().fit(X, y3), A),
        "sk_strings": (make_pipeline(ct, LogisticRegression()).fit(mixed, labels), mixed),
        "sk_pca": (PCA(n_components=3).fit(X), X),
        "sk_user_function": (
            make_pipeline(FunctionTransformer(_squash), LogisticRegression()).fit(X, y),
            X,
        ),
        "sk_two_targets": (LinearRegression().fit(X, np.c_[y, y3]), X),
        "xgb_classifier": (xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(X, y3), X),
        "xgb_regressor_on_array": (
            xgb.XGBRegressor(n_estimators=4, max_depth=2).fit(A, X["income"]),
            X,
        ),
        "xgb_booster": (xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, y), 4), X),
        "lgb_classifier": (
            lgb.LGBMClassifier(n_estimators=4, min_child_samples=5, verbose=-1).fit(X, y3),
            X,
        ),
        "lgb_regressor_on_array": (
            lgb.LGBMRegressor(n_estimators=4, min_child_samples=5, verbose=-1).fit(A, y),
            X,
        ),
        "lgb_booster": (
            lgb.train(
                {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5}, lgb.Dataset(X, y), 4
            ),
            X,
        ),
    }


def _direct(model: Any, function: str, sample: Any) -> np.ndarray:
    """What calling the model itself gives, as a 2-D array."""
    if isinstance(model, xgb.Booster):
        out = model.predict(xgb.DMatrix(sample))
    else:
        out = getattr(model, function)(sample)
    out = np.asarray(out)
    return out.reshape(len(out), -1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every model saved once; the expected outputs of each function on the test input."""
    base = tmp_path_factory.mktemp("handlers")
    X, _, _ = _data()
    models = _models()
    expected: dict[str, dict[str, np.ndarray]] = {}
    inputs: dict[str, pd.DataFrame] = {}
    for name, (model, sample) in models.items():
        save_model(model, base / name, sample_input_data=sample)
        if name == "sk_strings":
            frame = sample
        elif name == "sk_pipeline_on_array":  # an array sample names the inputs input_feature_<i>
            frame = X.set_axis([f"input_feature_{i}" for i in range(4)], axis=1)
        else:
            frame = X
        inputs[name] = frame
        direct_input = (
            frame.to_numpy()
            if name in ("sk_pipeline_on_array", "xgb_regressor_on_array", "lgb_regressor_on_array")
            else frame
        )
        manifest = read_manifest(base / name)
        expected[name] = {f: _direct(model, f, direct_input) for f in manifest.functions}
    return {"base": base, "models": models, "expected": expected, "inputs": inputs}


def test_functions_and_names_follow_the_snowflake_rules(saved: dict[str, Any]) -> None:
    base: Path = saved["base"]
    m = read_manifest(base / "sk_logreg")
    assert m.model_type == "sklearn"
    assert list(m.functions) == [
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
    ]
    proba = m.functions["predict_proba"].signature
    assert proba.input_names == FEATURES
    assert proba.inputs[0] == FeatureSpec("age", DataType.FLOAT)
    assert proba.output_names == ["output_feature_0", "output_feature_1"]
    assert m.functions["predict"].signature.output_names == ["output_feature_0"]
    array_sig = read_manifest(base / "sk_pipeline_on_array").functions["predict"].signature
    assert array_sig.input_names == [f"input_feature_{i}" for i in range(4)]
    assert (
        read_manifest(base / "sk_named_array_sample").functions["predict"].signature.input_names
        == FEATURES
    )
    assert list(read_manifest(base / "sk_pca").functions) == ["transform"]
    assert read_manifest(base / "sk_pca").functions["transform"].signature.output_names == [
        "output_feature_0",
        "output_feature_1",
        "output_feature_2",
    ]
    strings = read_manifest(base / "sk_strings").functions["predict"].signature
    assert strings.outputs == (FeatureSpec("output_feature_0", DataType.STRING),)
    assert strings.inputs[-1] == FeatureSpec("town", DataType.STRING)
    assert list(read_manifest(base / "xgb_classifier").functions) == ["predict", "predict_proba"]
    assert (
        read_manifest(base / "xgb_booster").functions["predict"].signature.input_names == FEATURES
    )
    assert list(read_manifest(base / "lgb_booster").functions) == ["predict"]
    assert (base / "xgb_classifier" / "model.ubj").exists()
    assert (base / "xgb_booster" / "model.ubj").exists()
    assert (base / "lgb_booster" / "model.txt").exists()


def test_loaded_models_give_the_numbers_of_the_original(saved: dict[str, Any]) -> None:
    for name in saved["models"]:
        loaded = load_model(saved["base"] / name)
        frame = saved["inputs"][name]
        # Upper-cased names and an extra column: matched to the signature like run_batch does.
        shuffled = frame.rename(columns=str.upper).assign(ID=np.arange(len(frame)))[::-1].iloc[::-1]
        for function, want in saved["expected"][name].items():
            got = loaded.call(function, shuffled)
            assert got.shape == want.shape, (name, function)
            assert list(got.columns) == loaded.manifest.functions[function].signature.output_names
            np.testing.assert_array_equal(got.to_numpy(), want, err_msg=f"{name}.{function}")


def test_float32_input_stays_float32(saved: dict[str, Any]) -> None:
    loaded = load_model(saved["base"] / "sk_pca")
    X = saved["inputs"]["sk_pca"]
    out = loaded.call("transform", X)
    assert out.dtypes.iloc[0] == np.float32  # PCA keeps float32 when it is given float32


def test_fresh_process_gives_the_same_numbers(saved: dict[str, Any], run_python: RunPython) -> None:
    base: Path = saved["base"]
    for name, frame in saved["inputs"].items():
        frame.to_parquet(base / f"{name}.input.parquet")
    run_python(
        f"""
        import sys
        from pathlib import Path
        import pandas as pd
        from squall.model.packaging import load_model

        base = Path({str(base)!r})
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            model = load_model(folder)
            X = pd.read_parquet(base / f"{{folder.name}}.input.parquet")
            for function in model.manifest.functions:
                model.call(function, X).to_parquet(base / f"{{folder.name}}.{{function}}.out.parquet")
        assert not any(m.startswith("tests") for m in sys.modules), "the tests were imported"
        """
    )
    for name, functions in saved["expected"].items():
        for function, want in functions.items():
            got = pd.read_parquet(base / f"{name}.{function}.out.parquet").to_numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"{name}.{function}")


def test_explicit_signatures_choose_the_functions(tmp_path: Path) -> None:
    X, y, _ = _data()
    model = LogisticRegression().fit(X, y)
    sig = ModelSignature(
        [FeatureSpec(n.upper(), DataType.DOUBLE) for n in FEATURES],
        [
            FeatureSpec("output_feature_0", DataType.DOUBLE),
            FeatureSpec("output_feature_1", DataType.DOUBLE),
        ],
    )
    manifest = save_model(model, tmp_path / "m", signatures={"predict_proba": sig})
    assert list(manifest.functions) == ["predict_proba"]
    got = load_model(tmp_path / "m").call("predict_proba", X)
    np.testing.assert_array_equal(got.to_numpy(), model.predict_proba(X))
    with pytest.raises(
        SignatureError, match="'transform', which the model does not have; its functions: predict"
    ):
        save_model(model, tmp_path / "n", signatures={"transform": sig})
    other = ModelSignature([FeatureSpec("height", DataType.DOUBLE)], sig.outputs)
    with pytest.raises(SignatureError, match="lacks input\\(s\\) age, income, tenure, score"):
        save_model(model, tmp_path / "o", signatures={"predict_proba": other})


def test_unfitted_and_unsupported_models_are_refused(tmp_path: Path) -> None:
    X, _, _ = _data()
    with pytest.raises(InvalidArgumentError, match="LogisticRegression is not fitted"):
        save_model(LogisticRegression(), tmp_path / "a", sample_input_data=X)
    with pytest.raises(InvalidArgumentError, match="XGBClassifier is not fitted"):
        save_model(xgb.XGBClassifier(), tmp_path / "b", sample_input_data=X)
    with pytest.raises(InvalidArgumentError, match=r"cannot save a builtins.dict"):
        save_model({"not": "a model"}, tmp_path / "c", sample_input_data=X)
    assert not any(tmp_path.iterdir())  # nothing half-written is left behind


def test_missing_library_names_the_extra(saved: dict[str, Any], run_python: RunPython) -> None:
    base: Path = saved["base"]
    proc = run_python(
        f"""
        import sys
        sys.modules["xgboost"] = None  # as if xgboost were not installed
        from pathlib import Path
        from squall.errors import MissingExtraError
        from squall.model.packaging import load_model, read_manifest

        base = Path({str(base)!r})
        print(read_manifest(base / "xgb_classifier").model_type)
        try:
            load_model(base / "xgb_classifier")
        except MissingExtraError as exc:
            print(exc)
        load_model(base / "sk_logreg")
        print("lightgbm" in sys.modules)
        """
    )
    assert proc.stdout.splitlines() == [
        "xgboost",
        "model kind 'xgboost' needs the 'xgboost' package: pip install 'squall[xgboost]'",
        "False",
    ]
    assert (
        json.loads((base / "xgb_classifier" / "manifest.json").read_text())["model_type"]
        == "xgboost"
    )
