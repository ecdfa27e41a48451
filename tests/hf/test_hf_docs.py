"""docs/huggingface.md runs as written, on tiny models built where it expects them."""

from __future__ import annotations

from pathlib import Path

from tests.test_docs_guides import ROOT, run_python_blocks

from .tiny_models import (
    build_bert,
    build_chat_llm,
    build_ctc,
    build_seq2seq,
    build_vit,
    png_bytes,
    wav_bytes,
)


def build_doc_models(where: Path) -> None:
    build_chat_llm(where / "my-llm")
    build_chat_llm(where / "my-gpt", chat=False)
    build_bert(where / "my-classifier", "sequence")
    build_bert(where / "my-nli", "sequence", ["entailment", "neutral", "contradiction"])
    build_bert(where / "my-ner", "token", ["O", "PER", "LOC"])
    build_bert(where / "my-mlm", "masked")
    build_bert(where / "my-encoder", "none")
    build_seq2seq(where / "my-summarizer")
    build_vit(where / "my-vit")
    build_ctc(where / "my-asr")
    (where / "photos").mkdir()
    for i in range(3):
        (where / "photos" / f"p{i}.png").write_bytes(png_bytes((40 * i, 90, 200)))
    (where / "speech.wav").write_bytes(wav_bytes())


def test_huggingface_guide_runs_every_task(tmp_path: Path) -> None:
    build_doc_models(tmp_path)
    stdout = run_python_blocks(ROOT / "docs" / "huggingface.md", tmp_path)
    lines = stdout.splitlines()
    assert lines[0] == "['messages'] ['id', 'object', 'created', 'model', 'choices', 'usage']"
    assert "DONE" in lines
    assert "['outputs'] Once upon" in lines
    assert "['label', 'score'] 2" in lines
    assert "['sequence', 'labels', 'scores'] ['politics', 'sport']" in lines
    assert "2 32" in lines
    assert "['summary_text']" in lines
    assert "DONE 3" in lines
