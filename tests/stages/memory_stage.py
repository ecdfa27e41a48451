"""A stage kind on fsspec's in-memory filesystem, registered only by these tests.

It implements nothing but ``fs``, ``root`` and ``url``, so the contract suite runs the
generic fsspec code of :class:`squall.stages.base.Stage` that remote kinds (S3) build on,
and shows how a kind plugs in through ``STAGE_KINDS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fsspec.implementations.memory import MemoryFileSystem

from squall.stages.base import Stage, StageInfo


class MemoryStage(Stage):
    kind = "memory"

    def __init__(self, info: StageInfo, home: Path) -> None:
        super().__init__(info, home)
        assert info.url is not None
        parts = urlsplit(info.url)
        self._root = "/" + (parts.netloc + parts.path).strip("/")
        self._fs = MemoryFileSystem()

    @property
    def fs(self) -> Any:
        return self._fs

    @property
    def root(self) -> str:
        return self._root

    @property
    def url(self) -> str:
        assert self.info.url is not None
        return self.info.url

    def on_drop(self) -> None:
        if self._fs.exists(self._root):
            self._fs.rm(self._root, recursive=True)
