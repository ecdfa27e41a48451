"""Run one pipeline process and measure it from outside: wall time and the peak PSS of its tree.

The tree is the pipeline's process and every descendant, found by a recursive walk of
children at each sample: squall's supervisor runs in its own session but is still a child
of the client process, and spawned workers are its children, so all of them are counted.
Workers forked by squall's warm pool are the pool's children, not the client's: when a
pool runs as the pipeline starts, the pool and its children are counted too (their
memory in full, the pool's CPU time from the run's start).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))


class TreeSampler(threading.Thread):
    """Peak sum of PSS (and RSS) over a process and its descendants, sampled every interval.

    PSS (smaps_rollup) is costly for the large address spaces of Ray's processes: with more
    than 8 processes it is read every ``pss_every``-th sample, RSS every sample.
    """

    def __init__(
        self, pid: int, extra: list[int], interval: float = 0.1, pss_every: int = 5
    ) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.extra: list[psutil.Process] = []
        self.cpu_base: dict[int, float] = {}
        for other in extra:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(other)
                ct = p.cpu_times()
                self.cpu_base[other] = ct.user + ct.system
                self.extra.append(p)
        self.interval = interval
        self.pss_every = pss_every
        self.stop_ev = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.max_procs = self.samples = 0
        self.seen: dict[int, tuple[float, str]] = {}
        self.cpu: dict[int, float] = {}

    def run(self) -> None:
        while not self.stop_ev.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            for other in self.extra:
                with contextlib.suppress(psutil.Error):
                    procs += [other, *other.children(recursive=True)]
            # squall's client, supervisor, warm pool and workers: PSS every sample.
            do_pss = len(procs) <= 8 or self.samples % self.pss_every == 0
            rss = pss = n = 0
            for p in procs:
                try:
                    if p.pid not in self.seen:
                        self.seen[p.pid] = (p.create_time(), " ".join(p.cmdline()[:4])[:100])
                    if do_pss:
                        mi = p.memory_full_info()
                        pss += mi.pss
                    else:
                        mi = p.memory_info()
                    rss += mi.rss
                    ct = p.cpu_times()
                    self.cpu[p.pid] = ct.user + ct.system - self.cpu_base.get(p.pid, 0.0)
                    n += 1
                except psutil.Error:
                    pass
            self.peak_rss = max(self.peak_rss, rss)
            if do_pss:
                self.peak_pss = max(self.peak_pss, pss)
            self.max_procs = max(self.max_procs, n)
            self.samples += 1
            self.stop_ev.wait(self.interval)


def run_one(
    name: str,
    label: str,
    rows: int,
    data: str,
    outdir: str,
    logdir: str,
    tag: str,
    ray_tmp: str,
    cold: bool = False,
) -> dict[str, Any]:
    """Run pipeline ``name`` once in a fresh process; its output goes to ``outdir`` (cleared).

    ``cold``: stop squall's warm pool first, so the job's workers start from nothing.
    """
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    # Every run starts with nothing left to write back: otherwise one pipeline's dirty
    # pages (and the output just removed) are flushed during the next one's timed run.
    os.sync()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    # As installed: an installed package's modules are compiled once (pip does it), so a
    # shell that turns bytecode caching off would charge every process start for compiling.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Daft's UDF worker processes unpickle the bench's functions: they import `common` too.
    env["PYTHONPATH"] = os.pathsep.join(p for p in [HERE, os.environ.get("PYTHONPATH")] if p)
    cmd = [
        sys.executable,
        os.path.join(HERE, "pipelines.py"),
        name,
        "--data",
        data,
        "--out",
        outdir,
        "--rows",
        str(rows),
        "--ray-tmp",
        ray_tmp,
        "--label",
        label,
    ]
    log_out = os.path.join(logdir, f"{tag}.out")
    if cold:
        stop_warm_pool()
    pool_before = warm_pool_pid()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log_out, "w") as fo:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=subprocess.STDOUT, env=env)
        sampler = TreeSampler(proc.pid, [pool_before] if pool_before else [])
        sampler.start()
        rc = proc.wait()
    wall = time.perf_counter() - t0
    sampler.stop_ev.set()
    sampler.join()
    # The warm pool outlives jobs by design: it is no leftover (a cold run starts it).
    keep = {pool_before, warm_pool_pid()}
    leftovers = _end_leftovers({p: v for p, v in sampler.seen.items() if p not in keep})
    res: dict[str, Any] = {
        "rc": rc,
        "wall_s": wall,
        "peak_pss_mb": sampler.peak_pss / 2**20,
        "peak_rss_mb": sampler.peak_rss / 2**20,
        "max_procs": sampler.max_procs,
        "tree_cpu_s": sum(sampler.cpu.values()),
        "loadavg1_before": load_before,
        "warm_pool": bool(pool_before),
        "leftover_procs": leftovers,
    }
    with open(log_out) as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith("RESULT "):
            res.update(json.loads(line[7:]))
    if rc != 0:
        res["error_tail"] = text[-3000:]
    return res


def warm_pool_pid() -> int | None:
    """The pid of squall's warm pool for this Python, or None when none runs."""
    from squall.compute import warm

    info = warm.status()
    return int(info["pid"]) if info else None


def stop_warm_pool() -> None:
    from squall.compute import warm

    warm.stop(timeout=60)


def _end_leftovers(seen: dict[int, tuple[float, str]]) -> list[str]:
    """Processes of the tree still alive after its root exited: wait 10 s, then end them.

    Only processes this run started are touched (same pid and creation time).
    """
    alive = []
    for pid, (ctime, cmdline) in seen.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == ctime and p.is_running():
                alive.append((p, cmdline))
        except psutil.Error:
            pass
    if alive:
        _, still = psutil.wait_procs([p for p, _ in alive], timeout=10)
        for p in still:
            with contextlib.suppress(psutil.Error):
                p.kill()
    return [c for _, c in alive]
