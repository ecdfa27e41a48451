"""XGBoost models (the scikit-learn wrappers and Booster), stored in XGBoost's own format."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xgboost as xgb

from squall.errors import InvalidArgumentError
from squall.model._manifest import FunctionInfo, Manifest
from squall.model._pickle import dump_portable, load_pickle
from squall.model._specs import ModelSignature
from squall.model.handlers.base import EstimatorFunctions, ModelHandler, feature_names
from squall.model.handlers.explain import explain_methods
from squall.model.handlers.sklearn import estimator_functions, save_estimator
from squall.model.resources import Resources

__all__ = ["XGBoostHandler"]

_META = "xgboost.json"
_NATIVE = "model.ubj"
_PICKLE = "model.pkl"


def _is_native(model: Any) -> bool:
    # Subclasses defined outside xgboost may carry state its format does not keep.
    return type(model).__module__.partition(".")[0] == "xgboost"


def _booster_names(booster: xgb.Booster) -> list[str] | None:
    names = booster.feature_names
    return None if names is None else list(names)


def _fit_names(model: Any) -> list[str] | None:
    return _booster_names(model) if isinstance(model, xgb.Booster) else feature_names(model)


def _functions(model: Any, folder: Path, manifest: Manifest) -> EstimatorFunctions:
    names = _fit_names(model)
    methods = explain_methods(model, folder, manifest, names)
    if isinstance(model, xgb.Booster):
        methods["predict"] = model.inplace_predict
    return EstimatorFunctions(model, manifest.functions, names, methods)


class XGBoostHandler(ModelHandler):
    name = "xgboost"
    gpu_capable = True  # XGBoost predicts on CUDA (device="cuda") from the same files

    def can_handle(self, model: Any) -> bool:
        return isinstance(model, xgb.XGBModel | xgb.Booster)

    def save(
        self,
        model: Any,
        folder: Path,
        *,
        sample_input_data: Any,
        signatures: Mapping[str, ModelSignature] | None,
        options: Mapping[str, Any],
    ) -> dict[str, FunctionInfo]:
        if isinstance(model, xgb.Booster):
            candidates: dict[str, Any] = {"predict": "inference"}
            fit_names = _booster_names(model)
            methods = {"predict": model.inplace_predict}
        else:
            try:
                model.get_booster()
            except Exception as exc:  # xgboost's NotFittedError
                raise InvalidArgumentError(f"the {type(model).__name__} is not fitted") from exc
            candidates = estimator_functions(model)
            fit_names = feature_names(model)
            methods = None
        infos = save_estimator(
            model,
            sample_input_data,
            signatures,
            candidates,
            fit_names,
            methods,
            options=options,
            folder=folder,
        )
        self.save_object(model, folder)
        return infos

    def load(
        self, folder: Path, manifest: Manifest, resources: Resources | None = None
    ) -> EstimatorFunctions:
        return _functions(self.load_object(folder), folder, manifest)

    def save_object(self, model: Any, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if not _is_native(model):
            dump_portable(model, folder / _PICKLE)
            meta = {"format": "pickle"}
        else:
            model.save_model(folder / _NATIVE)
            cls = type(model)
            meta = {"format": "native", "class": f"{cls.__module__}:{cls.__qualname__}"}
        (folder / _META).write_text(json.dumps(meta), encoding="utf-8")

    def load_object(self, folder: Path) -> Any:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        if meta["format"] == "pickle":
            return load_pickle(folder / _PICKLE)
        module, _, qualname = meta["class"].partition(":")
        cls = getattr(importlib.import_module(module), qualname)
        if cls is xgb.Booster:
            return xgb.Booster(model_file=str(folder / _NATIVE))
        model = cls()
        model.load_model(folder / _NATIVE)
        return model
