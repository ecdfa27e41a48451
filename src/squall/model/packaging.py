"""Save a model to a folder (manifest + artifacts) and load it back to call its functions.

>>> import pandas as pd, tempfile, pathlib
>>> from sklearn.linear_model import LinearRegression
>>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
>>> model = LinearRegression().fit(X, [1.0, 3.0, 5.0])
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "m"
>>> save_model(model, folder, sample_input_data=X).model_type
'sklearn'
>>> load_model(folder).call("predict", X).round(6)["output_feature_0"].tolist()
[1.0, 3.0, 5.0]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from squall.errors import AlreadyExistsError, InvalidSpecError, SignatureError
from squall.model._checks import cast_input, check_output
from squall.model._manifest import (
    MANIFEST_FILE,
    SQUALL_VERSION,
    FunctionInfo,
    Manifest,
    read_manifest,
)
from squall.model._params import resolve_params
from squall.model._specs import ModelSignature
from squall.model.handlers import find_handler, get_handler
from squall.model.handlers.base import CallMode
from squall.model.resources import Resources

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MANIFEST_FILE",
    "SQUALL_VERSION",
    "FunctionInfo",
    "LoadedModel",
    "Manifest",
    "load_model",
    "read_manifest",
    "save_model",
]

FUNCTION_TYPES = ("FUNCTION", "TABLE_FUNCTION")


def _check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InvalidSpecError(f"options must be a dict, got {options!r}")
    options = dict(options)
    function_type = options.get("function_type")
    if function_type is not None and function_type not in FUNCTION_TYPES:
        raise InvalidSpecError(
            f"options['function_type'] = {function_type!r}; use one of {', '.join(FUNCTION_TYPES)}"
        )
    _check_gpu_options(options)
    targets = options.get("target_methods")
    if targets is not None and (
        not isinstance(targets, list | tuple)
        or not targets
        or not all(isinstance(t, str) for t in targets)
    ):
        raise InvalidSpecError(
            f"options['target_methods'] must be a non-empty list of method names, got {targets!r}"
        )
    try:
        json.dumps(options)
    except (TypeError, ValueError) as exc:
        raise InvalidSpecError(f"options must be JSON values: {exc}") from exc
    return options


def _check_gpu_options(options: Mapping[str, Any]) -> None:
    gpu, cuda = options.get("gpu_support"), options.get("cuda_version")
    if gpu is not None and not isinstance(gpu, bool):
        raise InvalidSpecError(f"options['gpu_support'] must be True or False, got {gpu!r}")
    if cuda is not None and (not isinstance(cuda, str) or not re.fullmatch(r"\d+(\.\d+)*", cuda)):
        raise InvalidSpecError(
            f"options['cuda_version'] must be a version string such as '12.4', got {cuda!r}"
        )
    if gpu is False and cuda is not None:
        raise InvalidSpecError(
            f"options['cuda_version'] = {cuda!r} asks for a GPU, options['gpu_support'] = False "
            "forbids one: give one of them"
        )


def _gpu_support(options: Mapping[str, Any], handler: Any, model: Any) -> bool:
    """Options decide; without them, the model's kind (XGBoost can, scikit-learn cannot)."""
    if options.get("gpu_support") is not None:
        return bool(options["gpu_support"])
    return options.get("cuda_version") is not None or bool(handler.can_use_gpu(model))


def _check_requirements(pip_requirements: Iterable[str] | None) -> list[str]:
    if pip_requirements is None:
        return []
    if isinstance(pip_requirements, str):
        raise InvalidSpecError(
            f"pip_requirements is a list of requirement strings, got the string {pip_requirements!r}"
        )
    found = list(pip_requirements)
    bad = [r for r in found if not isinstance(r, str) or not r.strip()]
    if bad:
        raise InvalidSpecError(f"pip_requirements holds non-requirements: {bad!r}")
    return found


def _prepare_folder(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise AlreadyExistsError(f"cannot save a model into {folder}: it exists and is not empty")
    folder.parent.mkdir(parents=True, exist_ok=True)


def save_model(
    model: Any,
    folder: str | os.PathLike[str],
    *,
    sample_input_data: Any = None,
    signatures: Mapping[str, ModelSignature] | None = None,
    options: Mapping[str, Any] | None = None,
    pip_requirements: Iterable[str] | None = None,
    comment: str | None = None,
) -> Manifest:
    """Write ``model`` into ``folder`` (missing or empty): ``manifest.json`` and its files.

    Function signatures come from ``signatures`` or from calling each function on the
    first rows of ``sample_input_data``. A model with ``partitioned_api`` methods needs
    ``options={"function_type": "TABLE_FUNCTION"}``. The folder appears complete or not at all.
    """
    folder = Path(folder)
    opts = _check_options(options)
    requirements = _check_requirements(pip_requirements)
    if signatures is not None and not isinstance(signatures, Mapping):
        raise SignatureError(
            f"signatures must be a dict of function name to ModelSignature, got {signatures!r}"
        )
    handler = find_handler(model)
    if handler is None:
        raise InvalidSpecError(
            f"cannot save a {type(model).__module__}.{type(model).__qualname__}: squall saves "
            "custom_model.CustomModel subclasses, scikit-learn estimators and pipelines, "
            "XGBoost and LightGBM models"
        )
    _prepare_folder(folder)
    staging = folder.parent / f".{folder.name}.saving-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        functions = handler.save(
            model, staging, sample_input_data=sample_input_data, signatures=signatures, options=opts
        )
        partitioned = [f.name for f in functions.values() if f.kind == "partitioned"]
        if partitioned and opts.get("function_type") != "TABLE_FUNCTION":
            raise InvalidSpecError(
                f"method(s) {', '.join(partitioned)} are partitioned_api methods, which run as "
                "table functions: save with options={'function_type': 'TABLE_FUNCTION'}"
            )
        manifest = Manifest(
            model_type=handler.name,
            functions=functions,
            options=opts,
            pip_requirements=requirements,
            comment=comment,
            gpu_support=_gpu_support(opts, handler, model),
        )
        manifest.write(staging)
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


class LoadedModel:
    """A saved model, loaded: call its functions with DataFrames."""

    def __init__(
        self, manifest: Manifest, model: Any, folder: Path, call_mode: CallMode = "batch"
    ) -> None:
        self.manifest = manifest
        self.model = model  # what the kind's handler loaded: one callable per function
        self.folder = folder
        self.call_mode: CallMode = call_mode  # "stream": functions take a shard's batches

    def close(self) -> None:
        """Free what the loaded model holds (its ``close()``, when its kind gives it one)."""
        close = getattr(self.model, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return (
            f"LoadedModel({self.manifest.model_type}, functions={list(self.manifest.functions)}, "
            f"folder={str(self.folder)!r})"
        )

    def bind(
        self, function_name: str | None = None, params: Mapping[str, Any] | None = None
    ) -> Callable[[pd.DataFrame], pd.DataFrame]:
        """``X -> output`` for one function with fixed params, resolved once for a hot loop."""
        info = self.manifest.resolve_function(function_name)
        kwargs = resolve_params(info.signature, params, info.name)
        method = getattr(self.model, info.name)
        signature = info.signature
        per_row = info.kind == "inference"

        def call(X: pd.DataFrame) -> pd.DataFrame:
            out = method(cast_input(X, signature), **kwargs)
            return check_output(out, signature, len(X) if per_row else None, info.name)

        return call

    def bind_stream(
        self, function_name: str | None = None, params: Mapping[str, Any] | None = None
    ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pd.DataFrame]]:
        """``batches -> outputs`` for a kind whose functions take a whole shard as a stream.

        Each output the model yields is checked against the signature; the caller matches
        output rows to input rows (one each, in order).
        """
        info = self.manifest.resolve_function(function_name)
        kwargs = resolve_params(info.signature, params, info.name)
        method = getattr(self.model, info.name)
        signature = info.signature

        def call(batches: Iterator[pa.RecordBatch]) -> Iterator[pd.DataFrame]:
            import pyarrow as pa

            for out in method(batches, **kwargs):
                if isinstance(out, pa.Table | pa.RecordBatch):
                    out = out.to_pandas()
                yield check_output(out, signature, None, info.name)

        return call

    def call(
        self,
        function_name: str | None,
        X: pd.DataFrame,
        params: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Run one function on ``X``: inputs matched to the signature, params checked, output too."""
        return self.bind(function_name, params)(X)


def load_model(folder: str | os.PathLike[str], resources: Resources | None = None) -> LoadedModel:
    """Load the model saved in ``folder``; works in a process that never saw its code.

    ``resources`` is what the calling worker may use (device, threads), for its handler.
    """
    folder = Path(folder).resolve()
    manifest = read_manifest(folder)
    handler = get_handler(manifest.model_type)
    model = handler.load(folder, manifest, resources)
    return LoadedModel(manifest, model, folder, handler.call_mode)
