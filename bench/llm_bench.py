#!/usr/bin/env python3
"""LLM benchmark: a chat model answering prompts of mixed lengths, greedy, three ways.

  python bench/llm_bench.py            # 512 prompts, 64 new tokens (part of make bench)
  python bench/llm_bench.py --quick    # 64 prompts, 16 new tokens

The model is a decoder of realistic shape for a CPU (Llama, 4 layers, hidden 512, a 32k
vocabulary, random weights, seeded), built locally into bench/data/llm/ when missing.

| pipeline | what it does |
|---|---|
| L-squall | ``run_batch`` of the logged ``TransformersPipeline`` (default workers) |
| L-loop | hand-written: the same model, prompts sorted by length, ``generate`` on left-padded batches of 64 |
| L-naive | the pipeline called on each conversation alone, as upstream's fallback does |

Each pipeline runs as its own process, one after the other (one interleaved round); the
wall time is the whole process. Reported: generated tokens/s (completion tokens, counted
by each pipeline), the ratios squall/loop and squall/naive, and how many answers differ
from L-loop's (greedy: they should not). Results go to bench/results/llm-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOOP_BATCH = 64
PIPELINES = ("L-squall", "L-loop", "L-naive")


def model_folder(data: Path) -> Path:
    folder = data / "llm"
    if not (folder / "config.json").exists():
        sys.path.insert(0, str(ROOT))
        from tests.hf.tiny_models import build_chat_llm

        build_chat_llm(folder, layers=4, hidden=512, vocab_size=32_000, context=2048)
    return folder


def prompts(n: int, seed: int = 7) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    words = ["report", "cat", "quarterly", "sales", "the", "of", "summarise", "why", "a", "data"]
    out = []
    for _ in range(n):
        length = rng.choice([4, 8, 16, 32, 64, 96])
        text = " ".join(rng.choice(words) for _ in range(length))
        out.append([{"role": "user", "content": f"Summarise: {text}"}])
    return out


def run_squall(
    folder: Path, work: Path, convs: list[Any], new_tokens: int
) -> tuple[list[str], int]:
    import pandas as pd

    import squall
    from squall.batch import InputSpec, OutputSpec
    from squall.model.huggingface import TransformersPipeline
    from squall.registry import Registry

    session = squall.connect(work / "ws")
    reg = Registry(session)
    name = f"llm_{int(time.time() * 1000)}"
    mv = reg.log_model(TransformersPipeline("text-generation", str(folder)), model_name=name)
    session.create_stage(name)
    X = pd.DataFrame({"messages": convs, "qid": range(len(convs))})
    job = mv.run_batch(
        X,
        input_spec=InputSpec(params={"temperature": 0, "max_completion_tokens": new_tokens}),
        output_spec=OutputSpec(stage_location=f"@{name}/out/"),
    )
    if job.wait() != "DONE":
        raise RuntimeError(job.get_logs())
    out = session.read.parquet(f"@{name}/out/").to_pandas().sort_values("qid")
    choices = [json.loads(c)[0] for c in out["choices"]]
    usage = [json.loads(u)["completion_tokens"] for u in out["usage"]]
    return [c["message"]["content"] for c in choices], sum(usage)


def _chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def run_loop(folder: Path, convs: list[Any], new_tokens: int) -> tuple[list[str], int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = [_chat_ids(tokenizer, c) for c in convs]
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
    texts: list[str] = [""] * len(ids)
    generated = 0
    eos = model.generation_config.eos_token_id
    for start in range(0, len(order), LOOP_BATCH):
        batch = order[start : start + LOOP_BATCH]
        width = max(len(ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            input_ids[r, width - len(ids[i]) :] = torch.tensor(ids[i])
            mask[r, width - len(ids[i]) :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        for r, i in enumerate(batch):
            new = out[r, width:].tolist()
            if eos in new:
                new = new[: new.index(eos) + 1]
            generated += len(new)
            texts[i] = tokenizer.decode(new, skip_special_tokens=True)
    return texts, generated


def run_naive(folder: Path, convs: list[Any], new_tokens: int) -> tuple[list[str], int]:
    import transformers

    pipe = transformers.pipeline("text-generation", model=str(folder), device=-1)
    texts, generated = [], 0
    for messages in convs:
        out = pipe(messages, max_new_tokens=new_tokens, do_sample=False)
        text = out[0]["generated_text"][-1]["content"]
        texts.append(text)
        # the pipeline reports no token count: max_new_tokens per row, which can only
        # overstate this pipeline's speed (an answer ended early counts in full)
        generated += new_tokens
    return texts, generated


def child(args: argparse.Namespace) -> None:
    """One pipeline, in this process: writes its texts and token count as JSON."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    folder = Path(args.model)
    convs = prompts(args.prompts)
    if args.pipeline == "L-squall":
        texts, tokens = run_squall(folder, Path(args.work), convs, args.new_tokens)
    elif args.pipeline == "L-loop":
        texts, tokens = run_loop(folder, convs, args.new_tokens)
    else:
        texts, tokens = run_naive(folder, convs, args.new_tokens)
    Path(args.out).write_text(json.dumps({"texts": texts, "tokens": tokens}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--prompts", type=int)
    parser.add_argument("--new-tokens", type=int)
    parser.add_argument("--data", default=str(HERE / "data"))
    parser.add_argument("--pipeline", choices=PIPELINES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.prompts = args.prompts or (64 if args.quick else 512)
    args.new_tokens = args.new_tokens or (16 if args.quick else 64)
    if args.pipeline:
        child(args)
        return
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    folder = model_folder(data)
    work = data / "llm-work"
    work.mkdir(exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for name in PIPELINES:
        out = work / f"{name}.json"
        cmd = [sys.executable, __file__, "--pipeline", name, "--model", str(folder)]
        cmd += ["--work", str(work), "--out", str(out), "--prompts", str(args.prompts)]
        cmd += ["--new-tokens", str(args.new_tokens)]
        started = time.monotonic()
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.monotonic() - started
        got = json.loads(out.read_text())
        results[name] = {"wall_s": wall, "tokens": got["tokens"], "texts": got["texts"]}
        print(f"{name}: {wall:.1f} s, {got['tokens']} tokens, {got['tokens'] / wall:.1f} tokens/s")
    rate = {n: r["tokens"] / r["wall_s"] for n, r in results.items()}
    loop_texts = results["L-loop"]["texts"]
    summary = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "prompts": args.prompts,
        "new_tokens": args.new_tokens,
        "cpus": os.cpu_count(),
        "tokens_per_s": rate,
        "wall_s": {n: r["wall_s"] for n, r in results.items()},
        "squall/loop": rate["L-squall"] / rate["L-loop"],
        "squall/naive": rate["L-squall"] / rate["L-naive"],
        "answers differing from L-loop": {
            n: sum(a != b for a, b in zip(r["texts"], loop_texts, strict=True))
            for n, r in results.items()
        },
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "date"}, indent=1))
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = "-quick" if args.quick else ""
    (results_dir / f"llm-{stamp}{suffix}.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
