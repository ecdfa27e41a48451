"""Stages: named storage locations (internal folders of the workspace, or Amazon S3).

A stage path is ``@name/sub/path``; see :mod:`squall.stages.paths`. Stage kinds implement
:class:`Stage` and are registered by name in :data:`squall.stages.registry.STAGE_KINDS`.
"""

from squall.stages.base import Stage, StageFile, StageInfo
from squall.stages.internal import InternalStage
from squall.stages.manager import StageManager
from squall.stages.paths import StagePath, parse_stage_path
from squall.stages.registry import STAGE_KINDS

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
