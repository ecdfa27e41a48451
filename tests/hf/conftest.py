"""Tiny Hugging Face models for the whole run, built once in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the hf extra is not installed")
pytest.importorskip("torch", reason="the hf extra is not installed")

# Nothing reaches a hub: every model is built here. Set before any worker starts, so the
# job processes inherit it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


class TinyModels:
    """Builds each tiny model the first time a test asks for it, in one folder per run."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _get(self, name: str, build) -> Path:  # type: ignore[no-untyped-def]
        folder = self.root / name
        if not folder.exists():
            build(folder)
        return folder

    @property
    def chat(self) -> Path:
        from tests.hf.tiny_models import build_chat_llm

        return self._get("tiny-chat", build_chat_llm)

    @property
    def plain_llm(self) -> Path:
        from tests.hf.tiny_models import build_chat_llm

        return self._get("tiny-gpt", lambda f: build_chat_llm(f, chat=False))

    def bert(self, head: str, labels: list[str] | None = None) -> Path:
        from tests.hf.tiny_models import build_bert

        name = f"tiny-bert-{head}-{'-'.join(labels or [])}"
        return self._get(name, lambda f: build_bert(f, head, labels))

    @property
    def seq2seq(self) -> Path:
        from tests.hf.tiny_models import build_seq2seq

        return self._get("tiny-bart", build_seq2seq)

    @property
    def vit(self) -> Path:
        from tests.hf.tiny_models import build_vit

        return self._get("tiny-vit", build_vit)

    @property
    def llava(self) -> Path:
        from tests.hf.tiny_models import build_llava

        return self._get("tiny-llava", build_llava)

    @property
    def ctc(self) -> Path:
        from tests.hf.tiny_models import build_ctc

        return self._get("tiny-ctc", build_ctc)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp("hf-models"))
