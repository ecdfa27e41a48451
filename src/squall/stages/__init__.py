"""Stages: named storage locations (internal folders of the workspace, or Amazon S3).

A stage path is ``@name/sub/path``; see :mod:`squall.stages.paths`. Stage kinds implement
:class:`Stage` and are registered by name in :data:`squall.stages.registry.STAGE_KINDS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.stages.base import Stage, StageFile, StageInfo
    from squall.stages.internal import InternalStage
    from squall.stages.manager import StageManager
    from squall.stages.paths import StagePath, parse_stage_path
    from squall.stages.registry import STAGE_KINDS

# Imported on first use: a process that only needs a light module of this package (the
# supervisor's shard addresses, squall.stages.urls) does not pay for pyarrow and fsspec.
_LAZY = {
    "STAGE_KINDS": "squall.stages.registry",
    "InternalStage": "squall.stages.internal",
    "Stage": "squall.stages.base",
    "StageFile": "squall.stages.base",
    "StageInfo": "squall.stages.base",
    "StageManager": "squall.stages.manager",
    "StagePath": "squall.stages.paths",
    "parse_stage_path": "squall.stages.paths",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "STAGE_KINDS",
    "InternalStage",
    "Stage",
    "StageFile",
    "StageInfo",
    "StageManager",
    "StagePath",
    "parse_stage_path",
]
