"""The contract every model kind implements, and the helpers the kinds share."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from squall.errors import SignatureError
from squall.model._checks import match_names
from squall.model._infer import as_frame, infer_features
from squall.model._manifest import FunctionInfo, Manifest
from squall.model._specs import ModelSignature, ParamGroupSpec, ParamSpec
from squall.model.custom_model import FunctionKind
from squall.model.resources import Resources

__all__ = [
    "SAMPLE_ROWS",
    "CallMode",
    "EstimatorFunctions",
    "ModelHandler",
    "build_functions",
    "sample_frame",
]

CallMode = Literal["batch", "stream"]
SAMPLE_ROWS = 100  # rows of the sample input a function is called on to infer its outputs


class ModelHandler(abc.ABC):
    """Saves and loads one kind of model.

    ``save`` writes the model's files into a folder and returns its functions; ``load``
    reads them back as an object with one callable per function, taking the input
    DataFrame (columns as in the signature) and the params as keywords.
    ``save_object``/``load_object`` store the bare model, for models nested in others.

    Hooks for large models:

    - ``load`` is handed the worker's ``Resources`` (its device, threads, memory): put the
      model on ``resources.device``, size thread pools to ``resources.threads``.
    - The loaded object may have a ``close()``: the worker calls it once, before it exits,
      to free what the model holds (GPU memory included).
    - ``fork_safe = False`` declares that the kind's library breaks in a forked child
      (torch, tokenizers, vLLM): its workers are spawned, never forked from the warm pool.
    - ``call_mode = "stream"``: each function is called once per shard with an iterator of
      Arrow record batches (the model's columns) and the params as keywords, and yields
      outputs (DataFrames or Arrow tables) holding one row per input row, in order; for
      engines that schedule their own batches. ``"batch"`` (the default) calls it per
      pandas batch of ``max_batch_rows``.
    """

    name: ClassVar[str]
    # Modules a loaded model of this kind needs, imported ahead of the model's loading
    # (compute/warm.py); the handler's own module imports the rest.
    libraries: ClassVar[tuple[str, ...]] = ()
    fork_safe: ClassVar[bool] = True
    call_mode: ClassVar[CallMode] = "batch"
    # Whether models of this kind can run on a GPU without being told (their library can).
    gpu_capable: ClassVar[bool] = False

    def can_use_gpu(self, model: Any) -> bool:
        """Whether ``model`` can use a GPU when logged without a GPU option; the kind's default."""
        return self.gpu_capable

    @abc.abstractmethod
    def can_handle(self, model: Any) -> bool: ...

    @abc.abstractmethod
    def save(
        self,
        model: Any,
        folder: Path,
        *,
        sample_input_data: Any,
        signatures: Mapping[str, ModelSignature] | None,
        options: Mapping[str, Any],
    ) -> dict[str, FunctionInfo]: ...

    @abc.abstractmethod
    def load(self, folder: Path, manifest: Manifest, resources: Resources | None = None) -> Any: ...

    @abc.abstractmethod
    def save_object(self, model: Any, folder: Path) -> None: ...

    @abc.abstractmethod
    def load_object(self, folder: Path) -> Any: ...


def sample_frame(sample: Any, default_names: list[str] | None = None) -> pd.DataFrame | None:
    """The first rows of the sample input as a DataFrame (arrays named after the model)."""
    if sample is None:
        return None
    frame = as_frame(sample, what="sample_input_data").iloc[:SAMPLE_ROWS]
    if (
        not isinstance(sample, pd.DataFrame)
        and default_names
        and len(default_names) == frame.shape[1]
        and list(frame.columns) == [f"input_feature_{i}" for i in range(frame.shape[1])]
    ):
        frame = frame.set_axis(default_names, axis=1)
    if frame.empty:
        raise SignatureError("sample_input_data has no rows; pass at least one")
    return frame


def _outputs_of(out: Any, name: str) -> pd.DataFrame:
    frame = as_frame(out, what=f"output of {name!r}", prefix="output_feature_")
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis([f"output_feature_{i}" for i in range(frame.shape[1])], axis=1)
    return frame


def _selected(
    candidates: Mapping[str, FunctionKind], names: Iterable[str], what: str
) -> dict[str, FunctionKind]:
    """The candidates ``names`` names (case-insensitively), in the order given."""
    out: dict[str, FunctionKind] = {}
    for key in names:
        if not isinstance(key, str):
            raise SignatureError(f"{what} names functions by string, got {key!r}")
        found, missing = match_names([key], list(candidates))
        if missing:
            raise SignatureError(
                f"{what} names function {key!r}, which the model does not have; "
                f"its functions: {', '.join(candidates) or '(none)'}"
            )
        out[found[0]] = candidates[found[0]]
    return out


def build_functions(
    candidates: Mapping[str, FunctionKind],
    call: Callable[[str, pd.DataFrame], Any],
    sample: pd.DataFrame | None,
    signatures: Mapping[str, ModelSignature] | None,
    *,
    params: Callable[[str], list[ParamSpec | ParamGroupSpec]] | None = None,
    param_names: Callable[[str], list[str]] | None = None,
    target_methods: Iterable[str] | None = None,
) -> dict[str, FunctionInfo]:
    """The FunctionInfos of a model's functions.

    As in snowflake-ml-python, ``signatures`` names the functions: exactly the methods it
    has a signature for (``sample`` is then only checked against their inputs). Without
    it, each of ``target_methods`` (default: every candidate) is called on ``sample``
    and its signature inferred from what it returns. ``params`` reads a method's params
    off its code, ``param_names`` just their names (to check a signature's params).
    """
    explicit: dict[str, ModelSignature] = {}
    if signatures:
        for key, sig in signatures.items():
            if not isinstance(sig, ModelSignature):
                raise SignatureError(
                    f"signatures[{key!r}] is a {type(sig).__name__}, not a ModelSignature"
                )
            (found,) = _selected(candidates, [key], "signatures")
            if found in explicit:
                raise SignatureError(f"signatures names function {found!r} twice")
            explicit[found] = sig
        chosen = {name: candidates[name] for name in explicit}
    elif sample is None:
        raise SignatureError(
            "pass sample_input_data or signatures to describe the model's functions"
        )
    else:
        chosen = dict(candidates)
        if target_methods is not None:
            chosen = _selected(candidates, target_methods, "options['target_methods']")
    infos: dict[str, FunctionInfo] = {}
    for name, kind in chosen.items():
        if name in explicit:
            sig = explicit[name]
            if sample is not None:
                _check_sample_inputs(sample, sig, name)
            if sig.params and param_names is not None:
                _check_param_names(sig, param_names(name), name)
            elif not sig.params and params is not None:
                inferred = params(name)
                sig = ModelSignature(sig.inputs, sig.outputs, inferred) if inferred else sig
        else:
            assert sample is not None
            sig = _infer(name, kind, call, sample, params(name) if params is not None else [])
        infos[name] = FunctionInfo(name, sig, kind)
    if not infos:
        raise SignatureError("the model has no function to serve")
    return infos


def _check_sample_inputs(sample: pd.DataFrame, sig: ModelSignature, name: str) -> None:
    _, missing = match_names(sig.input_names, list(sample.columns))
    if missing:
        raise SignatureError(
            f"sample_input_data lacks input(s) {', '.join(missing)} of the signature of "
            f"{name!r}; its columns: {', '.join(map(str, sample.columns))}"
        )


def _infer(
    name: str,
    kind: FunctionKind,
    call: Callable[[str, pd.DataFrame], Any],
    sample: pd.DataFrame,
    params: list[ParamSpec | ParamGroupSpec],
) -> ModelSignature:
    out = _outputs_of(call(name, sample), name)
    if kind == "inference" and len(out) != len(sample):
        raise SignatureError(
            f"function {name!r} returned {len(out)} row(s) for {len(sample)} sample row(s); "
            "an inference function returns one row per input row"
        )
    inputs = infer_features(sample, what="sample_input_data")
    outputs = infer_features(out, what=f"output of {name!r}")
    return ModelSignature(inputs, outputs, params)


def _check_param_names(sig: ModelSignature, taken: list[str], name: str) -> None:
    known = {p.lower() for p in taken}
    extra = [p.name for p in sig.params if p.name.lower() not in known]
    if taken and extra:
        raise SignatureError(
            f"signature of {name!r} names param(s) {', '.join(extra)} that the method does "
            f"not take; its params: {', '.join(taken)}"
        )


def _numeric_only(frame: pd.DataFrame) -> bool:
    return all(
        isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in frame.dtypes.to_numpy()
    )


class EstimatorFunctions:
    """An estimator's methods, called with the signature's DataFrame as the estimator wants it.

    An estimator fitted with column names gets a DataFrame with exactly those names (found
    ignoring case); one fitted on an array gets a plain array when every column is numeric
    (a view: float32 stays float32). Sparse outputs come back dense.
    """

    def __init__(
        self,
        model: Any,
        functions: Iterable[str],
        fit_names: list[str] | None,
        methods: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.model = model
        self._fit_names = fit_names
        for name in functions:
            method = (methods or {}).get(name) or getattr(model, name)
            setattr(self, name, self._bind(method))

    def _bind(self, method: Callable[[Any], Any]) -> Callable[[pd.DataFrame], Any]:
        def call(X: pd.DataFrame) -> Any:
            out = method(self.prepare(X))
            return out.toarray() if hasattr(out, "toarray") else out

        return call

    def prepare(self, X: pd.DataFrame) -> Any:
        names = self._fit_names
        if names is None:
            return X.to_numpy() if _numeric_only(X) else X
        if list(X.columns) == names:
            return X
        found, missing = match_names(names, list(X.columns))
        if missing:
            raise SignatureError(
                f"the model was fitted on column(s) {', '.join(missing)}, which the input "
                f"lacks; input columns: {', '.join(map(str, X.columns))}"
            )
        return X[found].set_axis(names, axis=1)


def feature_names(model: Any) -> list[str] | None:
    """The column names an sklearn-style estimator was fitted with, if any."""
    try:
        names = model.feature_names_in_
    except AttributeError:
        return None
    return None if names is None else [str(n) for n in names]
