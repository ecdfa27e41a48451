"""Fit data to a signature on the way in (cast_input) and check it on the way out."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from squall.errors import ModelOutputError, SignatureError
from squall.model._dtypes import DataType
from squall.model._specs import FeatureGroupSpec, FeatureSpec, ModelSignature

__all__ = ["arrow_problem", "cast_input", "check_output", "column_index", "match_names"]


@functools.lru_cache(maxsize=256)
def column_index(names: tuple[str, ...]) -> pd.Index:
    """The column labels ``names`` as one shared Index: a batch's frames are built with the
    same labels every time, and pandas builds a new Index from a list at some cost."""
    return pd.Index(list(names))


def match_names(wanted: Sequence[str], available: Sequence[Any]) -> tuple[list[Any], list[str]]:
    """Pick, for each wanted name, the available label it means.

    An exact match wins; otherwise the one label equal ignoring case. Returns the labels
    found (in ``wanted`` order) and the wanted names with no match; raises SignatureError
    when a name matches several labels that differ only in case.
    """
    exact = {str(a): a for a in available}
    folded: dict[str, list[Any]] = {}
    for a in available:
        folded.setdefault(str(a).lower(), []).append(a)
    found: list[Any] = []
    missing: list[str] = []
    for name in wanted:
        candidates = folded.get(name.lower(), [])
        same = [c for c in candidates if str(c) == name]
        if len(same) > 1:
            raise SignatureError(f"column {name!r} is ambiguous: it appears {len(same)} times")
        if same:
            found.append(exact[name])
            continue
        if len(candidates) > 1:
            shown = ", ".join(repr(str(c)) for c in candidates)
            raise SignatureError(
                f"column {name!r} is ambiguous: {shown} all match it ignoring case"
            )
        if candidates:
            found.append(candidates[0])
        else:
            missing.append(name)
    return found, missing


_OBJECT = np.dtype(object)


def _show(labels: Iterable[Any], limit: int = 30) -> str:
    names = [str(c) for c in labels]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "(none)"


def _select(frame: pd.DataFrame, labels: list[Any], names: list[str]) -> pd.DataFrame:
    # Column selection and set_axis share the column buffers (copy-on-write): no data copy.
    if list(frame.columns) != labels:
        frame = frame[labels]
    if list(frame.columns) != names:
        frame = frame.set_axis(names, axis=1)
    return frame


def _matched(
    frame: pd.DataFrame, names: list[str]
) -> tuple[pd.DataFrame | None, list[Any], list[str]]:
    """``frame`` when its columns are exactly ``names`` (the common case, checked first);
    else None with the labels matching ``names`` and the names with no match."""
    labels = list(frame.columns)
    if labels == names:
        return frame, labels, []
    found, missing = match_names(names, labels)
    return None, found, missing


def cast_input(df: pd.DataFrame, signature: ModelSignature) -> pd.DataFrame:
    """The signature's input columns of ``df``, in signature order and named as there.

    Names match case-insensitively (an exact match wins); extra columns are left out. Numeric
    columns keep their dtype (float32 stays float32); a column whose dtype cannot hold the
    signature's type raises SignatureError, as does a missing column.
    """
    if not isinstance(df, pd.DataFrame):
        raise SignatureError(f"model input must be a pandas DataFrame, got {type(df).__name__}")
    names = signature.input_names
    frame, labels, missing = _matched(df, names)
    if missing:
        raise SignatureError(
            f"input is missing column(s) {', '.join(missing)} required by the signature; "
            f"available columns: {_show(df.columns)}"
        )
    if frame is None:
        frame = _select(df, labels, names)
    dtypes = tuple(frame.dtypes)
    problems = _dtype_problems(tuple(signature.inputs), dtypes)
    if problems:
        name, why = problems[0]
        raise SignatureError(f"input column {name!r} {why}")
    # Object columns (bytes, strings, mixed values) are checked by their values instead.
    for spec, dtype in zip(signature.inputs, dtypes, strict=True):
        if dtype == _OBJECT and isinstance(spec, FeatureSpec):
            problem = _object_problem(spec, frame[spec.name])
            if problem:
                raise SignatureError(f"input column {spec.name!r} {problem}")
    return frame


def arrow_problem(spec: FeatureSpec | FeatureGroupSpec, arrow_type: Any) -> str | None:
    """Why a column of Arrow type ``arrow_type`` cannot hold ``spec``'s values, or None.

    The same rule as for pandas dtypes; nested specs and all-null columns are not judged.
    """
    import pyarrow as pa

    if isinstance(spec, FeatureGroupSpec) or spec.shape is not None:
        return None
    if pa.types.is_null(arrow_type) or pa.types.is_nested(arrow_type):
        return None
    return _scalar_problem(spec, f"type {arrow_type}", lambda: DataType.from_arrow(arrow_type))


def _scalar_problem(spec: FeatureSpec, has: str, convert: Any) -> str | None:
    """Why a column described as ``has`` cannot hold a scalar spec; ``convert()`` its type."""
    expected = _describe(spec)
    try:
        got = convert()
    except SignatureError:
        return f"has {has}, which does not fit the signature's {expected}"
    if _fits(got, spec.dtype):
        return None
    return f"has {has} ({got.name}), which does not fit the signature's {expected}"


def _fits(got: DataType, want: DataType) -> bool:
    return got is want or (want.is_numeric and (got.is_numeric or got is DataType.BOOL))


def check_output(
    out: Any, signature: ModelSignature, n_rows: int | None, function_name: str
) -> pd.DataFrame:
    """The model output as a DataFrame of exactly the signature's output columns, in order.

    Accepts a DataFrame (columns matched by name, ignoring case), or for positional outputs
    a numpy array, a Series, a list or a dict of columns. Checks the row count when
    ``n_rows`` is given and that every column's dtype fits; raises ModelOutputError.
    """
    found = _to_frame(out, signature, function_name)
    if n_rows is not None and len(found) != n_rows:
        raise ModelOutputError(
            f"function {function_name!r} returned {len(found)} row(s) for {n_rows} input "
            "row(s); it must return one row per input row"
        )
    names = signature.output_names
    try:
        frame, labels, missing = _matched(found, names)
    except SignatureError as exc:
        raise ModelOutputError(f"function {function_name!r} output: {exc}") from exc
    if missing:
        raise ModelOutputError(
            f"function {function_name!r} output is missing column(s) {', '.join(missing)}; "
            f"it returned column(s) {_show(found.columns)}"
        )
    if frame is None:
        frame = _select(found, labels, names)
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0):
        frame = frame.reset_index(drop=True)
    dtypes = tuple(frame.dtypes)
    problems = _dtype_problems(tuple(signature.outputs), dtypes)
    if problems:
        name, why = problems[0]
        raise ModelOutputError(f"function {function_name!r} output column {name!r} {why}")
    for spec, dtype in zip(signature.outputs, dtypes, strict=True):
        if not isinstance(spec, FeatureSpec):
            continue
        problem: str | None = None
        if dtype == _OBJECT:
            problem = _object_problem(spec, frame[spec.name])
        elif spec.dtype.is_integer and spec.shape is None and dtype.kind == "f":
            problem = _fraction_problem(spec, frame[spec.name])
        if problem:
            raise ModelOutputError(
                f"function {function_name!r} output column {spec.name!r} {problem}"
            )
    return frame


def _to_frame(out: Any, signature: ModelSignature, function_name: str) -> pd.DataFrame:
    names = signature.output_names
    if isinstance(out, pd.DataFrame):
        if len(names) == len(out.columns) and not all(isinstance(c, str) for c in out.columns):
            return out.set_axis(names, axis=1)
        return out
    if isinstance(out, pd.Series):
        return _one_column(out.to_numpy(), signature, function_name)
    if isinstance(out, dict):
        return pd.DataFrame(out)
    if isinstance(out, np.ndarray):
        if out.ndim == 1:
            return _one_column(out, signature, function_name)
        if out.ndim == 2 and out.shape[1] == len(names):
            return pd.DataFrame(out, columns=column_index(tuple(names)), copy=False)
        if out.ndim >= 2 and len(names) == 1 and signature.outputs[0].shape is not None:
            return pd.DataFrame({names[0]: list(out)})
        raise ModelOutputError(
            f"function {function_name!r} returned an array of shape {out.shape}; the "
            f"signature has {len(names)} output column(s): {', '.join(names)}"
        )
    if isinstance(out, list | tuple):
        if len(names) == 1:
            return pd.DataFrame({names[0]: list(out)})
        try:
            return pd.DataFrame(list(out), columns=names)
        except (ValueError, AssertionError) as exc:
            raise ModelOutputError(
                f"function {function_name!r} returned a list whose rows do not have "
                f"{len(names)} values ({', '.join(names)}): {exc}"
            ) from exc
    raise ModelOutputError(
        f"function {function_name!r} returned a {type(out).__name__}; expected a pandas "
        "DataFrame (or an array, a Series or a list)"
    )


def _one_column(values: np.ndarray, signature: ModelSignature, function_name: str) -> pd.DataFrame:
    names = signature.output_names
    if len(names) != 1:
        raise ModelOutputError(
            f"function {function_name!r} returned one column; the signature has "
            f"{len(names)} output columns: {', '.join(names)}"
        )
    return pd.DataFrame({names[0]: values}, copy=False)


def _fraction_problem(spec: FeatureSpec, column: pd.Series) -> str | None:
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[~np.isnan(values)]
    if np.array_equal(finite, np.floor(finite)):
        return None
    return f"holds fractional values ({column.dtype}); the signature says {spec.dtype.name}"


@functools.lru_cache(maxsize=512)
def _dtype_problems(
    specs: tuple[FeatureSpec | FeatureGroupSpec, ...], dtypes: tuple[Any, ...]
) -> tuple[tuple[str, str], ...]:
    """(column, why) for each column whose dtype cannot hold its spec: once per dtype set."""
    found = []
    for spec, dtype in zip(specs, dtypes, strict=True):
        problem = _dtype_problem(spec, dtype)
        if problem:
            found.append((spec.name, problem))
    return tuple(found)


def _dtype_problem(spec: FeatureSpec | FeatureGroupSpec, dtype: Any) -> str | None:
    """Why a column of ``dtype`` cannot hold ``spec``'s values (None when it can).

    Looks at the dtype only, never at the data: this runs once per batch.
    """
    if dtype == _OBJECT:
        return None
    expected = _describe(spec)
    if isinstance(spec, FeatureGroupSpec) or spec.shape is not None:
        # Arrow lists and structs; or JSON text, as records Arrow cannot type are staged
        if isinstance(dtype, pd.ArrowDtype | pd.StringDtype):
            return None
        return f"has dtype {dtype}, but the signature says {expected}"
    return _scalar_problem(spec, f"dtype {dtype}", lambda: DataType.from_numpy(dtype))


_OBJECT_KINDS: dict[DataType, set[str]] = {
    DataType.STRING: {"string", "empty"},
    DataType.BYTES: {"bytes", "empty"},
    DataType.BOOL: {"boolean", "empty"},
    DataType.TIMESTAMP_NTZ: {"datetime", "datetime64", "empty"},
}


def _object_problem(spec: FeatureSpec, column: pd.Series) -> str | None:
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if spec.shape is not None:
        ok = kind in {"mixed", "empty"}
    elif spec.dtype.is_numeric:
        ok = kind in {"integer", "floating", "mixed-integer-float", "decimal", "empty"}
    else:
        ok = kind in _OBJECT_KINDS[spec.dtype]
    if ok:
        return None
    return f"holds {kind} values, which do not fit the signature's {_describe(spec)}"


def _describe(spec: FeatureSpec | FeatureGroupSpec) -> str:
    if isinstance(spec, FeatureGroupSpec):
        return "record group" + ("" if spec.shape is None else f" with shape {spec.shape}")
    return spec.dtype.name + ("" if spec.shape is None else f" with shape {spec.shape}")
