"""The ``explain`` function (SHAP values) of scikit-learn, XGBoost and LightGBM models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from squall.errors import MissingExtraError, SignatureError
from squall.model import load_model, save_model
from squall.model.signature import DataType

pytest.importorskip("shap")

EXPLAIN = {"enable_explainability": True}
BACKGROUND = 100  # sample rows: shap's own maskers keep at most 100 background rows


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((200, 3)), columns=["a", "b", "c"])
    y = 2.0 * X["a"] - X["b"] + 0.5 * X["c"] ** 2 + rng.normal(0, 0.1, len(X))
    return X, y.to_numpy()


def _explained(model: Any, X: pd.DataFrame, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest = save_model(model, folder, sample_input_data=X.iloc[:BACKGROUND], options=EXPLAIN)
    explain = manifest.functions["explain"].signature
    assert explain.output_names == ["a_explanation", "b_explanation", "c_explanation"]
    assert [s.dtype for s in explain.outputs] == [DataType.DOUBLE] * 3
    assert explain.input_names == ["a", "b", "c"]
    loaded = load_model(folder)
    rows = X.iloc[:20]
    return loaded.call("predict", rows), loaded.call("explain", rows)


def _residual(predicted: pd.DataFrame, values: pd.DataFrame) -> np.ndarray:
    """The model output minus the row's SHAP values: the expected value, the same for every row."""
    return predicted.iloc[:, 0].to_numpy() - values.sum(axis=1).to_numpy()


def test_sklearn_explain_values_sum_to_output_minus_expected_value_as_upstream(
    data, tmp_path: Path
) -> None:
    X, y = data
    model = LinearRegression().fit(X, y)
    predicted, values = _explained(model, X, tmp_path / "m")
    residual = _residual(predicted, values)
    # a linear model's expected value over the background (the sample) is its mean output
    np.testing.assert_allclose(residual, model.predict(X.iloc[:BACKGROUND]).mean(), atol=1e-6)


def test_xgboost_explain_values_sum_to_output_minus_expected_value_as_upstream(
    data, tmp_path: Path
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = data
    predicted, values = _explained(xgb.XGBRegressor(n_estimators=20).fit(X, y), X, tmp_path / "m")
    residual = _residual(predicted, values)
    np.testing.assert_allclose(residual, residual[0], atol=1e-4)


def test_lightgbm_explain_values_sum_to_output_minus_expected_value_as_upstream(
    data, tmp_path: Path
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    model = lgb.LGBMRegressor(n_estimators=20, verbose=-1).fit(X, y)
    predicted, values = _explained(model, X, tmp_path / "m")
    residual = _residual(predicted, values)
    np.testing.assert_allclose(residual, residual[0], atol=1e-4)


def test_pipeline_explains_its_last_step_on_the_transformed_features(data, tmp_path: Path) -> None:
    X, y = data
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    predicted, values = _explained(model, X, tmp_path / "m")
    np.testing.assert_allclose(
        _residual(predicted, values), model.predict(X.iloc[:BACKGROUND]).mean(), atol=1e-6
    )


def test_multiclass_explanations_are_json_per_class_as_upstream(data, tmp_path: Path) -> None:
    X, y = data
    labels = np.digitize(y, [-1.0, 1.0])  # three classes
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, labels)
    options = {**EXPLAIN, "target_methods": ["predict_proba"]}
    manifest = save_model(model, tmp_path / "m", sample_input_data=X.iloc[:30], options=options)
    explain = manifest.functions["explain"].signature
    assert [s.dtype for s in explain.outputs] == [DataType.STRING] * 3
    out = load_model(tmp_path / "m").call("explain", X.iloc[:2])
    assert set(json.loads(out["a_explanation"][0])) == {"0", "1", "2"}


def test_explainability_needs_a_sample_as_upstream(data, tmp_path: Path) -> None:
    X, y = data
    from squall.model.signature import infer_signature

    sig = infer_signature(X, pd.DataFrame({"output_feature_0": y}))
    with pytest.raises(SignatureError, match="enable_explainability'\\] needs sample_input_data"):
        save_model(
            LinearRegression().fit(X, y),
            tmp_path / "m",
            signatures={"predict": sig},
            options=EXPLAIN,
        )


def test_without_the_option_there_is_no_explain_function(data, tmp_path: Path) -> None:
    X, y = data
    manifest = save_model(LinearRegression().fit(X, y), tmp_path / "m", sample_input_data=X)
    assert list(manifest.functions) == ["predict"]


def test_missing_shap_names_the_extra(data, tmp_path: Path, monkeypatch) -> None:
    X, y = data
    monkeypatch.setitem(sys.modules, "shap", None)  # as if shap were not installed
    with pytest.raises(MissingExtraError, match=r"squall\[explain\]"):
        save_model(
            LinearRegression().fit(X, y), tmp_path / "m", sample_input_data=X, options=EXPLAIN
        )
