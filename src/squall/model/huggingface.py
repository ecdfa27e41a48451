"""Hugging Face pipelines as squall models: a task and a model folder (or hub id).

``reg.log_model(TransformersPipeline(...), ...)`` copies the model's files into the
registry and infers the signature from the task; ``reg.log_model(transformers.pipeline(...))``
saves a pipeline object the same way. Importing this module needs no transformers.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squall.errors import InvalidArgumentError, ModelNotFoundError

__all__ = ["TransformersPipeline"]


def _resolve(model: str, revision: str | None) -> Path:
    """The local folder of ``model``: itself, or a hub id's snapshot in the local cache."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder.resolve()
    looks_local = model.startswith((".", "/", "~")) or model.count("/") > 1
    if not looks_local:
        hub: Any = None
        with contextlib.suppress(ImportError):
            hub = importlib.import_module("huggingface_hub")
        if hub is not None:
            try:  # the cache first: nothing goes to the network when the model is there
                return Path(hub.snapshot_download(model, revision=revision, local_files_only=True))
            except Exception:
                pass
            try:
                return Path(hub.snapshot_download(model, revision=revision))
            except Exception:
                pass
    raise ModelNotFoundError(
        f"model {model!r} is not a folder and not in the local Hugging Face cache, and it "
        "could not be downloaded (is the network reachable?); pass a local folder, or fetch "
        "it once with `huggingface-cli download`"
    )


class TransformersPipeline:
    """A ``transformers.pipeline(task, model, ...)`` to log in the registry, unbuilt.

    ``model`` is a local folder or a hub id found in the local Hugging Face cache (or
    downloaded when the network is reachable). ``pipeline_kwargs`` are passed to
    ``transformers.pipeline`` when the model is loaded, and must be JSON values.
    """

    def __init__(
        self,
        task: str,
        model: str | os.PathLike[str],
        *,
        revision: str | None = None,
        trust_remote_code: bool | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        **pipeline_kwargs: Any,
    ) -> None:
        if not isinstance(task, str) or not task.strip():
            raise InvalidArgumentError(f"task must be a pipeline task name, got {task!r}")
        if not isinstance(model, str | os.PathLike) or not str(model).strip():
            raise InvalidArgumentError(f"model must be a folder or a hub id, got {model!r}")
        if model_kwargs is not None and not isinstance(model_kwargs, Mapping):
            raise InvalidArgumentError(f"model_kwargs must be a dict, got {model_kwargs!r}")
        for what, value in (("model_kwargs", model_kwargs), ("pipeline_kwargs", pipeline_kwargs)):
            try:
                json.dumps(dict(value or {}))
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"{what} must hold JSON values: {exc}") from exc
        self.task = task.strip()
        self.model = str(model)
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.model_kwargs = dict(model_kwargs or {})
        self.pipeline_kwargs = dict(pipeline_kwargs)
        self.folder = _resolve(self.model, revision)

    @property
    def model_name(self) -> str:
        """The name completions report as their ``model``: the hub id or the folder's name."""
        return Path(self.model).name if Path(self.model).expanduser().is_dir() else self.model

    def __repr__(self) -> str:
        return f"TransformersPipeline(task={self.task!r}, model={self.model!r})"

    def to_config(self) -> dict[str, Any]:
        """What loading the saved pipeline needs, as JSON values."""
        return {
            "task": self.task,
            "model_name": self.model_name,
            "revision": self.revision,
            "trust_remote_code": self.trust_remote_code,
            "model_kwargs": self.model_kwargs,
            "pipeline_kwargs": self.pipeline_kwargs,
        }
