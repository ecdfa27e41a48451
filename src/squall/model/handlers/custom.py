"""Custom models: the class pickled by value, sub-models by their own kinds, files copied.

Loading rebuilds the model as ``cls(context)`` with a context of the loaded sub-models
and the artifacts' copies inside the model folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squall.errors import InvalidArgumentError, SignatureError
from squall.model._manifest import FunctionInfo, Manifest
from squall.model._pickle import dump_portable, load_pickle
from squall.model._specs import ModelSignature
from squall.model.custom_model import CustomModel, ModelContext
from squall.model.handlers.base import ModelHandler, build_functions, sample_frame
from squall.model.resources import Resources

__all__ = ["CustomHandler"]

_CLASS = "model_class.pkl"
_META = "custom.json"
_PICKLED = "pickle"  # the handler name recorded for a sub-model no kind claims


class CustomHandler(ModelHandler):
    name = "custom"

    def can_handle(self, model: Any) -> bool:
        return isinstance(model, CustomModel)

    def save(
        self,
        model: Any,
        folder: Path,
        *,
        sample_input_data: Any,
        signatures: Mapping[str, ModelSignature] | None,
        options: Mapping[str, Any],
    ) -> dict[str, FunctionInfo]:
        cls = type(model)
        candidates = cls.api_methods()
        if not candidates:
            raise SignatureError(
                f"{cls.__qualname__} has no method decorated with @custom_model.inference_api "
                "or @custom_model.partitioned_api"
            )
        context: ModelContext = getattr(model, "context", None) or ModelContext()
        for key, source in context.artifacts.items():
            if not Path(source).exists():
                raise InvalidArgumentError(f"artifact {key!r}: {source} does not exist")
        infos = build_functions(
            candidates,
            lambda name, X: getattr(model, name)(X),
            sample_frame(sample_input_data),
            signatures,
            params=cls.method_params,
            param_names=cls.method_param_names,
            target_methods=options.get("target_methods"),
        )
        self.save_object(model, folder)
        return infos

    def can_use_gpu(self, model: Any) -> bool:
        """A custom model can when one of its sub-models can (an XGBoost model, say)."""
        from squall.model.handlers import find_handler

        context: ModelContext = getattr(model, "context", None) or ModelContext()
        for sub in context.models.values():
            handler = find_handler(sub)
            if handler is not None and handler.can_use_gpu(sub):
                return True
        return False

    def load(
        self, folder: Path, manifest: Manifest, resources: Resources | None = None
    ) -> CustomModel:
        return self.load_object(folder)

    def save_object(self, model: Any, folder: Path) -> None:
        from squall.model.handlers import find_handler

        folder.mkdir(parents=True, exist_ok=True)
        context: ModelContext = getattr(model, "context", None) or ModelContext()
        meta: dict[str, dict[str, Any]] = {"models": {}, "artifacts": {}}
        for i, (key, sub) in enumerate(context.models.items()):
            where = Path("models") / str(i)
            handler = find_handler(sub)
            if handler is None:
                (folder / where).mkdir(parents=True)
                dump_portable(sub, folder / where / "object.pkl")
            else:
                handler.save_object(sub, folder / where)
            meta["models"][key] = {
                "path": where.as_posix(),
                "kind": handler.name if handler else _PICKLED,
            }
        for i, (key, source) in enumerate(context.artifacts.items()):
            src = Path(source)
            if not src.exists():
                raise InvalidArgumentError(f"artifact {key!r}: {source} does not exist")
            where = Path("artifacts") / str(i) / (src.name or "artifact")
            (folder / where).parent.mkdir(parents=True)
            if src.is_dir():
                shutil.copytree(src, folder / where)
            else:
                shutil.copy2(src, folder / where)
            meta["artifacts"][key] = where.as_posix()
        dump_portable(type(model), folder / _CLASS)
        (folder / _META).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    def load_object(self, folder: Path) -> CustomModel:
        from squall.model.handlers import get_handler

        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        models: dict[str, Any] = {}
        for key, entry in meta["models"].items():
            where = folder / entry["path"]
            if entry["kind"] == _PICKLED:
                models[key] = load_pickle(where / "object.pkl")
            else:
                models[key] = get_handler(entry["kind"]).load_object(where)
        artifacts = {key: str(folder / rel) for key, rel in meta["artifacts"].items()}
        cls = load_pickle(folder / _CLASS)
        return cls(ModelContext(models=models, artifacts=artifacts))  # type: ignore[no-any-return]
