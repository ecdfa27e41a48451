"""LightGBM models: a Booster in LightGBM's text format, the scikit-learn wrappers pickled.

The wrappers have no save format of their own (LightGBM documents pickling them); their
pickle holds the booster as LightGBM's model text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb

from squall.errors import InvalidArgumentError
from squall.model._manifest import FunctionInfo, Manifest
from squall.model._pickle import dump_portable, load_pickle
from squall.model._specs import ModelSignature
from squall.model.handlers.base import EstimatorFunctions, ModelHandler, feature_names
from squall.model.handlers.explain import explain_methods
from squall.model.handlers.sklearn import estimator_functions, save_estimator
from squall.model.resources import Resources

__all__ = ["LightGBMHandler"]

_META = "lightgbm.json"
_NATIVE = "model.txt"
_PICKLE = "model.pkl"
_AUTO_NAME = re.compile(r"Column_\d+")


def _booster_names(booster: lgb.Booster) -> list[str] | None:
    names = [str(n) for n in booster.feature_name()]
    # LightGBM names the columns of an array Column_<i>: such a model was fitted unnamed.
    return None if all(_AUTO_NAME.fullmatch(n) for n in names) else names


def _functions(model: Any, folder: Path, manifest: Manifest) -> EstimatorFunctions:
    names = _booster_names(model) if isinstance(model, lgb.Booster) else feature_names(model)
    explain = explain_methods(model, folder, manifest, names)
    return EstimatorFunctions(model, manifest.functions, names, explain)


class LightGBMHandler(ModelHandler):
    name = "lightgbm"

    def can_handle(self, model: Any) -> bool:
        return isinstance(model, lgb.LGBMModel | lgb.Booster)

    def save(
        self,
        model: Any,
        folder: Path,
        *,
        sample_input_data: Any,
        signatures: Mapping[str, ModelSignature] | None,
        options: Mapping[str, Any],
    ) -> dict[str, FunctionInfo]:
        if isinstance(model, lgb.Booster):
            candidates: dict[str, Any] = {"predict": "inference"}
            fit_names = _booster_names(model)
        else:
            if not model.__sklearn_is_fitted__():
                raise InvalidArgumentError(f"the {type(model).__name__} is not fitted")
            candidates = estimator_functions(model)
            fit_names = feature_names(model)
        infos = save_estimator(
            model,
            sample_input_data,
            signatures,
            candidates,
            fit_names,
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
        if isinstance(model, lgb.Booster):
            model.save_model(folder / _NATIVE)
            meta = {"format": "native"}
        else:
            dump_portable(model, folder / _PICKLE)
            meta = {"format": "pickle"}
        (folder / _META).write_text(json.dumps(meta), encoding="utf-8")

    def load_object(self, folder: Path) -> Any:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        if meta["format"] == "native":
            return lgb.Booster(model_file=str(folder / _NATIVE))
        return load_pickle(folder / _PICKLE)
