"""The ``explain`` function of scikit-learn, XGBoost and LightGBM models: SHAP values.

Logged with ``options={"enable_explainability": True}`` (and a sample input), a model
gets a function ``explain`` taking the inputs of the method it explains (the first of
``predict_proba``/``predict``/``predict_log_proba`` for scikit-learn, ``predict`` /
``predict_proba`` for the boosters) and giving one column ``<feature>_explanation`` per
feature: its SHAP value, so that a row's values add up to the model's output for it minus
the explainer's expected value. A classifier's values are those of its positive class;
with more than two classes each cell is a JSON object of class -> value.

Tree models use SHAP's tree explainer; other scikit-learn models use ``shap.Explainer``
with the sample (its first 1,000 rows, stored with the model) as the background data.
Needs the ``shap`` package: ``pip install 'squall[explain]'``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from squall.errors import MissingExtraError, SignatureError
from squall.model._infer import as_frame, infer_features
from squall.model._manifest import FunctionInfo, Manifest
from squall.model._specs import ModelSignature

__all__ = ["EXPLAIN", "add_explain", "explain_methods"]

EXPLAIN = "explain"
BACKGROUND = "explain_background.parquet"
BACKGROUND_ROWS = 1000
_TARGETS = {
    "sklearn": ("predict_proba", "predict", "predict_log_proba"),
    "tree": ("predict", "predict_proba"),
}


def _shap() -> Any:
    try:
        import shap
    except ImportError as exc:
        raise MissingExtraError("shap", "explain", "the explain function") from exc
    return shap


def _kind(model: Any) -> str:
    module = type(model).__module__.partition(".")[0]
    return "tree" if module in ("xgboost", "lightgbm") else "sklearn"


def add_explain(
    infos: Mapping[str, FunctionInfo],
    model: Any,
    sample_input_data: Any,
    options: Mapping[str, Any],
    folder: Path,
    fit_names: list[str] | None,
) -> dict[str, FunctionInfo]:
    """``infos`` plus ``explain`` when the options enable it; stores its background data."""
    out = dict(infos)
    if not options.get("enable_explainability"):
        return out
    if sample_input_data is None:
        raise SignatureError(
            "options['enable_explainability'] needs sample_input_data: its rows are the "
            "background data of the explanations"
        )
    if EXPLAIN in out:
        raise SignatureError(f"the model already has a function named {EXPLAIN!r}")
    target = next((m for m in _TARGETS[_kind(model)] if m in out), None)
    if target is None:
        raise SignatureError(
            f"explainability needs one of the functions {', '.join(_TARGETS[_kind(model)])}; "
            f"the model has {', '.join(out)}"
        )
    inputs = out[target].signature.inputs
    names = [spec.name for spec in inputs]
    background = as_frame(sample_input_data, what="sample_input_data").iloc[:BACKGROUND_ROWS]
    if list(background.columns) != names and background.shape[1] == len(names):
        background = background.set_axis(names, axis=1)
    explanations = Explanations(model, background, names, fit_names)
    try:
        probe = explanations(explanations.prepare(background.iloc[:5]))
    except MissingExtraError:
        raise
    except Exception as exc:
        raise SignatureError(
            f"cannot explain this {type(model).__name__}: {type(exc).__name__}: {exc}; "
            "log it without options['enable_explainability']"
        ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    background.to_parquet(folder / BACKGROUND)
    outputs = infer_features(probe, what="explanations")
    out[EXPLAIN] = FunctionInfo(EXPLAIN, ModelSignature(inputs, outputs), "inference")
    return out


def explain_methods(
    model: Any, folder: Path, manifest: Manifest, fit_names: list[str] | None
) -> dict[str, Callable[[Any], Any]]:
    """``{"explain": fn}`` for a loaded model that has the function, else ``{}``."""
    info = manifest.functions.get(EXPLAIN)
    if info is None:
        return {}
    background = pd.read_parquet(folder / BACKGROUND)
    return {EXPLAIN: Explanations(model, background, info.signature.input_names, fit_names)}


class Explanations:
    """Callable: the SHAP values of a model for a batch, one column per feature.

    It takes the batch as the model's own methods do (see ``prepare``).
    """

    def __init__(
        self,
        model: Any,
        background: pd.DataFrame,
        names: list[str],
        fit_names: list[str] | None,
    ) -> None:
        from squall.model.handlers.base import EstimatorFunctions

        self.model = model
        self.background = background
        self.names = names
        self.prepare = EstimatorFunctions(model, [], fit_names).prepare
        self._explain: Callable[[Any], np.ndarray[Any, Any]] | None = None

    def __call__(self, X: Any) -> pd.DataFrame:
        if self._explain is None:
            self._explain = self._explainer()
        transformed, columns = _transform(self.model, X, self.names)
        values = np.asarray(self._explain(transformed))
        frame = _to_columns(self.model, values)
        return frame.set_axis([f"{c}_explanation" for c in columns], axis=1)

    def _explainer(self) -> Callable[[Any], np.ndarray[Any, Any]]:
        shap = _shap()
        model = self.model
        if _kind(model) == "tree":
            tree = shap.TreeExplainer(model)
            return lambda X: tree.shap_values(X)
        predictor = model.steps[-1][1] if hasattr(model, "steps") else model
        background, _ = _transform(model, self.prepare(self.background), self.names)
        try:
            explainer = shap.Explainer(predictor, background)
        except TypeError:
            # Not a model shap knows: explain its first explainable method as a function.
            method = next(
                getattr(predictor, m) for m in _TARGETS["sklearn"] if hasattr(predictor, m)
            )
            explainer = shap.Explainer(method, np.asarray(background, dtype=np.float64))
            return lambda X: explainer(np.asarray(X, dtype=np.float64)).values
        return lambda X: explainer(X).values


def _transform(model: Any, data: Any, names: list[str]) -> tuple[Any, list[str]]:
    """The data a pipeline's last step sees and its column names; else the data as given."""
    columns: Any = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else names
    if not hasattr(model, "steps") or len(model.steps) < 2:
        return data, columns
    for step_name, step in model.steps[:-1]:
        data = step.transform(data)
        if not hasattr(step, "get_feature_names_out"):
            raise SignatureError(
                f"pipeline step {step_name!r} has no get_feature_names_out: the explanations "
                "of its outputs cannot be named"
            )
        columns = step.get_feature_names_out(columns)
    if hasattr(data, "toarray"):
        data = data.toarray()
    columns = [str(c) for c in columns]
    return pd.DataFrame(data, columns=columns), columns


def _to_columns(model: Any, values: np.ndarray[Any, Any]) -> pd.DataFrame:
    """SHAP values as one column per feature: the positive class's, or JSON per class."""
    if values.ndim == 2:
        return pd.DataFrame(values.astype(np.float64))
    classes = [str(c) for c in getattr(model, "classes_", range(values.shape[2]))]
    if len(classes) != values.shape[2]:
        classes = [str(i) for i in range(values.shape[2])]
    if len(classes) == 2:
        return pd.DataFrame(values[:, :, 1].astype(np.float64))
    return pd.DataFrame(
        [[json.dumps(dict(zip(classes, map(float, cell)))) for cell in row] for row in values]
    )
