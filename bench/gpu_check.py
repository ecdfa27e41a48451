#!/usr/bin/env python3
"""GPU throughput check (run by `make gpu-check` on an NVIDIA machine, never in CI).

The same greedy chat prompts, on the same GPU and model (bench/llm_bench.py's locally built
Llama, random weights), three ways; each prints generated tokens/s:

| pipeline | what it does |
|---|---|
| L-squall-vllm | ``run_batch`` with ``inference_engine_options={"engine": "vllm"}`` |
| L-vllm-raw | ``vllm.LLM.chat`` on the prompts in this process |
| L-squall-hf | ``run_batch`` with squall's transformers engine |

Targets: L-squall-vllm >= 0.9x L-vllm-raw and >= 5x L-squall-hf. The rates compare the
engines at work: for squall, from the first shard handed to a worker (its model loaded, the
engine started) to the last shard's commit; for raw vLLM, ``LLM.chat`` alone. The start
(process, model load, engine start) is printed beside them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from llm_bench import model_folder, prompts  # noqa: E402

MAX_LEN = 1024
# Nothing is fetched from a hub or reported anywhere: the model is built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def run_squall(
    folder: Path, work: Path, convs: list[Any], new_tokens: int, vllm: bool
) -> tuple[int, float, float]:
    """Completion tokens, the seconds its shards ran and the job's whole wall time."""
    import pandas as pd

    import squall
    from squall.batch import InputSpec, JobSpec, OutputSpec
    from squall.model.huggingface import TransformersPipeline
    from squall.registry import Registry

    session = squall.connect(work / "ws")
    name = f"llm_{int(time.time() * 1000)}"
    mv = Registry(session).log_model(
        TransformersPipeline("text-generation", str(folder)), model_name=name
    )
    session.create_stage(name)
    options = None
    if vllm:
        options = {"engine": "vllm", "engine_args_override": [f"--max-model-len={MAX_LEN}"]}
    job = mv.run_batch(
        pd.DataFrame({"messages": convs, "qid": range(len(convs))}),
        input_spec=InputSpec(params={"temperature": 0, "max_completion_tokens": new_tokens}),
        output_spec=OutputSpec(stage_location=f"@{name}/out/"),
        job_spec=JobSpec(num_workers=1, gpu_requests=1, max_batch_rows=len(convs)),
        inference_engine_options=options,
    )
    start = time.perf_counter()
    if job.wait(timeout=540) != "DONE":
        raise RuntimeError(job.get_logs())
    total = time.perf_counter() - start
    out = session.read.parquet(f"@{name}/out/").to_pandas()
    from squall.jobs.store import JobStore

    attempts = JobStore(session.home).shard_attempts(job.id)
    busy = max(a["ended"] for a in attempts) - min(a["started"] for a in attempts)
    return sum(json.loads(u)["completion_tokens"] for u in out["usage"]), busy, total


def run_raw(folder: Path, convs: list[Any], new_tokens: int) -> tuple[int, float, float]:
    """Tokens, seconds of ``LLM.chat`` alone and seconds with the engine's start."""
    begin = time.perf_counter()
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(folder), max_model_len=MAX_LEN)
    start = time.perf_counter()
    outs = llm.chat(convs, SamplingParams(max_tokens=new_tokens, temperature=0), use_tqdm=False)
    seconds = time.perf_counter() - start
    tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    engine = getattr(llm, "llm_engine", None)
    if callable(getattr(engine, "shutdown", None)):
        engine.shutdown()
    del llm, engine
    gc.collect()
    return tokens, seconds, time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1024)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_check needs an NVIDIA GPU with CUDA")
    gpu = torch.cuda.get_device_name(0)
    folder = model_folder(HERE / "data")
    convs = prompts(args.prompts)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, run in (
            ("L-vllm-raw", lambda: run_raw(folder, convs, args.new_tokens)),
            ("L-squall-vllm", lambda: run_squall(folder, work, convs, args.new_tokens, True)),
            ("L-squall-hf", lambda: run_squall(folder, work, convs, args.new_tokens, False)),
        ):
            try:
                tokens, busy, total = run()
            except Exception:  # the other pipelines still run; the table shows what failed
                import traceback

                traceback.print_exc()
                continue
            rows.append((name, tokens, busy, total, tokens / busy))
    rate = {name: r for name, *_, r in rows}
    print(f"\nGPU: {gpu}; {args.prompts} prompts, {args.new_tokens} new tokens, greedy")
    print(
        f"| {'pipeline':<14} | {'tokens':>8} | {'engine s':>8} | {'whole s':>8} | {'tokens/s':>10} |"
    )
    print(f"|{'-' * 16}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 12}|")
    for name, tokens, busy, total, r in rows:
        print(f"| {name:<14} | {tokens:>8} | {busy:>8.2f} | {total:>8.2f} | {r:>10.1f} |")
    if len(rate) < 3:
        sys.exit("a pipeline failed: see its traceback above")
    print(
        f"squall-vllm / raw vllm: {rate['L-squall-vllm'] / rate['L-vllm-raw']:.2f} (target >= 0.9)"
    )
    print(
        f"squall-vllm / squall-hf: {rate['L-squall-vllm'] / rate['L-squall-hf']:.2f} (target >= 5)"
    )
    print(
        "(tokens/s: completion tokens over engine seconds: squall's shards from the first "
        "handed out to the last committed, raw LLM.chat alone; whole s: the job to DONE, "
        "or LLM() and chat())"
    )


if __name__ == "__main__":
    main()
