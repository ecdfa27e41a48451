"""scikit-learn estimators and pipelines, stored as a portable pickle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from squall.errors import InvalidArgumentError, SignatureError
from squall.model._checks import match_names
from squall.model._manifest import FunctionInfo, Manifest
from squall.model._pickle import dump_portable, load_pickle
from squall.model._specs import ModelSignature
from squall.model.custom_model import FunctionKind
from squall.model.handlers.base import (
    EstimatorFunctions,
    ModelHandler,
    build_functions,
    feature_names,
    sample_frame,
)
from squall.model.handlers.explain import add_explain, explain_methods
from squall.model.resources import Resources

__all__ = ["TARGET_METHODS", "SklearnHandler", "estimator_functions"]

TARGET_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")
_BLOB = "model.pkl"


def estimator_functions(model: Any) -> dict[str, FunctionKind]:
    """The target methods the fitted estimator has, all inference functions."""
    return {m: "inference" for m in TARGET_METHODS if hasattr(model, m)}


def check_fitted(model: Any) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise InvalidArgumentError(f"the {type(model).__name__} is not fitted: {exc}") from exc
    except TypeError:
        pass  # not an estimator sklearn can tell about; the sample call will show


def save_estimator(
    model: Any,
    sample_input_data: Any,
    signatures: Mapping[str, ModelSignature] | None,
    candidates: Mapping[str, FunctionKind],
    fit_names: list[str] | None,
    methods: Mapping[str, Callable[[Any], Any]] | None = None,
    *,
    options: Mapping[str, Any],
    folder: Path,
) -> dict[str, FunctionInfo]:
    """The functions of an sklearn-style estimator, inferred by calling it on the sample.

    ``options`` may pick them (``target_methods``) and add ``explain``
    (``enable_explainability``), whose background data goes into ``folder``.
    """
    sample = sample_frame(sample_input_data, fit_names)
    functions = EstimatorFunctions(model, candidates, fit_names, methods)
    infos = build_functions(
        candidates,
        lambda name, X: getattr(functions, name)(X),
        sample,
        signatures,
        target_methods=options.get("target_methods"),
    )
    for info in infos.values():
        _, missing = match_names(fit_names or [], info.signature.input_names)
        if missing:
            raise SignatureError(
                f"signature of {info.name!r} lacks input(s) {', '.join(missing)} that the "
                f"model was fitted on; its inputs: {', '.join(info.signature.input_names)}"
            )
    return add_explain(infos, model, sample_input_data, options, folder, fit_names)


class SklearnHandler(ModelHandler):
    name = "sklearn"
    libraries = ("sklearn.base",)

    def can_handle(self, model: Any) -> bool:
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator) and bool(estimator_functions(model))

    def save(
        self,
        model: Any,
        folder: Path,
        *,
        sample_input_data: Any,
        signatures: Mapping[str, ModelSignature] | None,
        options: Mapping[str, Any],
    ) -> dict[str, FunctionInfo]:
        check_fitted(model)
        infos = save_estimator(
            model,
            sample_input_data,
            signatures,
            estimator_functions(model),
            feature_names(model),
            options=options,
            folder=folder,
        )
        self.save_object(model, folder)
        return infos

    def load(
        self, folder: Path, manifest: Manifest, resources: Resources | None = None
    ) -> EstimatorFunctions:
        model = self.load_object(folder)
        names = feature_names(model)
        explain = explain_methods(model, folder, manifest, names)
        return EstimatorFunctions(model, manifest.functions, names, explain)

    def save_object(self, model: Any, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        dump_portable(model, folder / _BLOB)

    def load_object(self, folder: Path) -> Any:
        return load_pickle(folder / _BLOB)
