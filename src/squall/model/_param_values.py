"""Param values checked against their specs, and partial dicts merged into group defaults.

Specs are duck-typed here (a group has ``specs``), so the spec classes can use these
functions to check their own defaults. Errors are InvalidSpecError naming the param by
its path: ``config``, ``config.sampling``, ``config.records[1]``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from squall.errors import InvalidSpecError

__all__ = ["by_name", "check_leaf", "element_default", "is_group", "merge_group"]


def is_group(spec: Any) -> bool:
    return hasattr(spec, "specs")


def by_name(
    specs: Sequence[Any], given: Mapping[Any, Any], what: str, of: str = ""
) -> dict[str, tuple[Any, Any]]:
    """Match given names to specs ignoring case; returns {spec name: (spec, value)}."""
    lookup = {s.name.lower(): s for s in specs}
    out: dict[str, tuple[Any, Any]] = {}
    spelled: dict[str, str] = {}
    unknown = []
    for key, value in given.items():
        spec = lookup.get(str(key).lower())
        if spec is None:
            unknown.append(str(key))
            continue
        if spec.name in out:
            raise InvalidSpecError(
                f"{what} {spec.name!r}{of} is given twice: as {spelled[spec.name]!r} and as "
                f"{key!r} (names are case-insensitive)"
            )
        out[spec.name] = (spec, value)
        spelled[spec.name] = str(key)
    if unknown:
        valid = ", ".join(s.name for s in specs)
        raise InvalidSpecError(
            f"unknown {what}(s) {', '.join(unknown)}{of}; valid {what}s: {valid or '(none)'}"
        )
    return out


def check_leaf(spec: Any, value: Any, label: str) -> Any:
    """``value`` normalised for the ParamSpec ``spec``; InvalidSpecError when it does not fit."""
    if not spec.accepts(value):
        raise InvalidSpecError(
            f"{label} {spec.name!r} = {value!r} ({type(value).__name__}) does not fit "
            f"{spec.describe_type()}"
        )
    return spec.normalize(value)


def element_default(group: Any) -> dict[str, Any]:
    """One dict of a group's members at their defaults (a list of them when shaped)."""
    return {s.name: copy.deepcopy(s.default_value) for s in group.specs}


def merge_group(group: Any, value: Any, path: str, base: Any = None) -> Any:
    """A group param's value: given keys checked, missing ones filled in from the defaults.

    An unshaped group merges into ``base`` (its default unless given); every dict of a
    shaped group (a list of dicts) merges into the members' defaults. Nested groups
    merge the same way at every level.
    """
    if group.shape:
        return _merge_shaped(group, value, path, tuple(group.shape))
    if base is None:
        base = group.default_value
    return _merge_dict(group, value, path, base if isinstance(base, Mapping) else None)


def _merge_shaped(group: Any, value: Any, path: str, shape: tuple[int, ...]) -> Any:
    if not shape:
        return _merge_dict(group, value, path, None)
    if not isinstance(value, list | tuple):
        raise InvalidSpecError(
            f"param {path!r} = {value!r} ({type(value).__name__}) must be a list of dicts "
            f"(shape {tuple(group.shape)})"
        )
    if shape[0] != -1 and len(value) != shape[0]:
        raise InvalidSpecError(
            f"param {path!r} holds {len(value)} item(s); its shape {tuple(group.shape)} "
            f"wants {shape[0]}"
        )
    return [_merge_shaped(group, v, f"{path}[{i}]", shape[1:]) for i, v in enumerate(value)]


def _merge_dict(group: Any, value: Any, path: str, base: Mapping[str, Any] | None) -> Any:
    if not isinstance(value, Mapping):
        raise InvalidSpecError(
            f"param {path!r} = {value!r} ({type(value).__name__}) must be a dict "
            f"with keys among {', '.join(s.name for s in group.specs)}"
        )
    given = by_name(group.specs, value, "key", f" of param {path!r}")
    if base is None:
        base = element_default(group)
    out: dict[str, Any] = {}
    for spec in group.specs:
        if spec.name not in given:
            out[spec.name] = copy.deepcopy(base.get(spec.name, spec.default_value))
        elif is_group(spec):
            out[spec.name] = merge_group(
                spec, given[spec.name][1], f"{path}.{spec.name}", base.get(spec.name)
            )
        else:
            out[spec.name] = check_leaf(spec, given[spec.name][1], f"param {path!r} key")
    return out
