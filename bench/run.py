#!/usr/bin/env python3
"""squall's benchmark: throughput against the hardware's limit, the I/O floor, Daft and Ray Data.

  python bench/run.py            # 20M rows + 20k PNGs, 1 warm-up + 3 timed runs (make bench)
  python bench/run.py --quick    # 1M rows + 2k PNGs, 1 timed run (make bench-quick)

Every pipeline runs as its own process; runs are interleaved (each round runs every
pipeline once) so the machine's noise spreads over all of them. Reported per pipeline:
median [min-max] of wall time (the whole process, as seen from outside), rows/s, and the
peak PSS of the whole process tree. Outputs are checked against the limit's row by row.
Results go to bench/results/ as JSON and Markdown; a full run also updates bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

import data as bench_data
from common import FILE_COLUMN, IMG_OUTPUTS, STAGE, TAB_OUTPUTS, id_from_path
from measure import run_one, stop_warm_pool, warm_pool_pid

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 2e-6

TARGETS = {
    "T-squall-stage/T-limit-stream": (">=", 0.9),
    "T-squall-sql/T-limit-stream": (">=", 0.8),
    "T-squall-stage/T-daft": (">=", 1.5),
    "F-squall/F-limit": (">=", 0.9),
    "F-squall/F-daft": (">=", 1.5),
    "F-squall-decoded/F-daft-native": (">=", 1.2),
    "T-squall-stage/T-limit": (">=", 0.8),
    "T-squall-sql/T-limit": (">=", 0.8),
    "T-squall-stage/T-ray": (">=", 5.0),
    "T-squall-sql/T-ray": (">=", 5.0),
    "T-squall-ray/T-ray": (">=", 3.0),
    "T-squall-ray/T-squall-stage": (">=", 0.7),
    "T-squall-ray-warm/T-squall-stage": (">=", 0.7),
    "T-squall-ray-ship/T-squall-stage": (">=", 0.7),
    "run_batch -> first batch inferred, Ray pool (s)": ("<=", 3.0),
    "run_batch -> first batch inferred, Ray pool, warm workers (s)": ("<=", 3.0),
    "F-squall/F-ray (best)": (">=", 4.0),
    "run_batch -> first batch inferred, 1-row job (s)": ("<=", 1.0),
    "1-row job end to end (s)": ("<=", 2.5),
    "run_batch -> first batch inferred, 1-row job, no warm pool (s)": ("<=", 1.0),
    "1-row job end to end, no warm pool (s)": ("<=", 2.5),
    "peak PSS, large/small input": ("<=", 1.2),
}


def plan(a: argparse.Namespace) -> list[tuple[str, str, int, str]]:
    """(label, pipeline, rows, family) in the order each round runs them."""
    ray = [] if a.no_ray else ["T-ray", "T-squall-ray", "T-squall-ray-warm", "T-squall-ray-ship"]
    daft = [] if a.no_daft else ["T-daft"]
    tab = ["T-limit", "T-limit-stream", "T-copy", "T-squall-stage", "T-squall-sql", *daft, *ray]
    out = [(n, n, a.rows, "T") for n in tab]
    if a.images:
        fray = [] if a.no_ray else (["F-ray"] if a.quick else ["F-ray", "F-ray-manifest"])
        fdaft = [] if a.no_daft else ["F-daft", "F-daft-native"]
        files = ["F-limit", "F-squall", "F-squall-decoded", *fdaft, *fray]
        out += [(n, n, 0, "F") for n in files]
    out.insert(0, ("S-1row-cold", "S-1row", a.rows, "S"))  # first: the pool restarts after it
    out.append(("S-1row", "S-1row", a.rows, "S"))
    out.append(("T-squall-stage-small", "T-squall-stage", a.small_rows, "M"))
    if a.only:
        keep = set(a.only.split(","))
        out = [p for p in out if p[0] in keep]
    return out


def outdir_of(a: argparse.Namespace, label: str) -> str:
    if "squall" in label or label.startswith("S-"):
        return os.path.join(a.data, "ws", "stages", STAGE, "out", label)
    return os.path.join(a.work, "out", label)


def stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(results: list[dict[str, Any]], rows_of: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in dict.fromkeys(r["label"] for r in results):
        rs = [r for r in results if r["label"] == label and r["rc"] == 0]
        if not rs:
            out[label] = {"failed": True}
            continue
        ent: dict[str, Any] = {"runs": len(rs), "rows": rows_of[label]}
        for key in [
            "wall_s",
            "work_s",
            "peak_pss_mb",
            "peak_rss_mb",
            "tree_cpu_s",
            "import_s",
            "staged_s",
            "supervisor_running_s",
            "first_batch_s",
            "first_part_s",
            "e2e_s",
            "ray_init_s",
            "ray_shutdown_s",
            "shards",
            "shard_rows",
            "shard_s",
            "part_mb",
        ]:
            s = stats([r[key] for r in rs if isinstance(r.get(key), int | float)])
            if s is not None:
                ent[key] = s
        ent["rows_per_s"] = stats([rows_of[label] / r["wall_s"] for r in rs])
        out[label] = ent
    return out


def _load_sorted(folder: str, columns: list[str], path_col: str | None = None) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as pads

    files = [
        os.path.join(root, f)
        for root, _, names in os.walk(folder)
        for f in names
        if f.endswith(".parquet") and not f.startswith((".", "_"))
    ]
    cols = ([path_col] if path_col else ["id"]) + columns
    t = pads.dataset(files, format="parquet").to_table(columns=cols)
    if path_col:
        ids = np.fromiter((id_from_path(p) for p in t.column(path_col).to_pylist()), np.int64)
        t = t.drop_columns([path_col]).append_column("id", pa.array(ids))
    return t.sort_by("id")


COPY_CHECK = ["f00", "f15"]


def agreement(outdirs: dict[str, str], ref: str, columns: list[str]) -> dict[str, Any]:
    import numpy as np

    def load(label: str, cols: list[str]) -> Any:
        path_col = FILE_COLUMN if label.startswith("F-squall") else None
        return _load_sorted(outdirs[label], cols, path_col)

    r = load(ref, columns + (COPY_CHECK if "T-copy" in outdirs else []))
    rid = r.column("id").to_numpy()
    report = {}
    for label in outdirs:
        # The I/O floor runs no model: its copied input columns are what it must get right.
        cols = COPY_CHECK if label == "T-copy" else columns
        t = load(label, cols)
        ent: dict[str, Any] = {"rows": t.num_rows, "rows_equal": t.num_rows == r.num_rows}
        if ent["rows_equal"]:
            ent["ids_equal"] = bool(np.array_equal(t.column("id").to_numpy(), rid))
            diff = 0.0
            for c in cols:
                a_ = t.column(c).to_numpy().astype(np.float64)
                b_ = r.column(c).to_numpy().astype(np.float64)
                diff = max(diff, float(np.max(np.abs(a_ - b_))) if len(a_) else 0.0)
            ent["max_abs_diff"] = diff
            ent["ok"] = ent["ids_equal"] and diff <= TOLERANCE
        else:
            ent["ok"] = False
        report[label] = ent
    return report


def ratios(summary: dict[str, Any]) -> dict[str, float]:
    def wall(label: str) -> float | None:
        s = summary.get(label)
        return s["wall_s"]["median"] if s and "wall_s" in s else None

    def e2e(label: str) -> float | None:
        s = summary.get(label)
        return s["e2e_s"]["median"] if s and "e2e_s" in s else None

    out: dict[str, float] = {}
    for squall, peer in [
        ("T-squall-stage", "T-limit-stream"),
        ("T-squall-sql", "T-limit-stream"),
        ("T-squall-stage", "T-copy"),
        ("T-limit-stream", "T-copy"),
        ("T-squall-stage", "T-daft"),
        ("T-squall-sql", "T-daft"),
        ("F-squall", "F-daft"),
        ("F-squall-decoded", "F-daft-native"),
        ("F-squall-decoded", "F-squall"),
        ("T-squall-stage", "T-limit"),
        ("T-squall-sql", "T-limit"),
        ("T-squall-stage", "T-ray"),
        ("T-squall-sql", "T-ray"),
        ("T-squall-ray", "T-ray"),
        ("T-squall-ray-ship", "T-ray"),
        ("T-squall-ray", "T-squall-stage"),
        ("T-squall-ray-warm", "T-squall-stage"),
        ("T-squall-ray-ship", "T-squall-stage"),
        ("F-squall", "F-limit"),
        ("F-squall", "F-ray"),
        ("F-squall", "F-ray-manifest"),
    ]:
        ws, wp = wall(squall), wall(peer)
        if squall.startswith("T-squall-ray") and peer == "T-squall-stage":
            # A pool is a running cluster: starting and stopping one is not the pool's cost,
            # so both sides are run_batch -> DONE.
            ws, wp = e2e(squall), e2e(peer)
        if ws and wp:
            out[f"{squall}/{peer}"] = wp / ws  # rows/s ratio = inverse time ratio
    fr = [v for k, v in out.items() if k.startswith("F-squall/F-ray")]
    if fr:
        out["F-squall/F-ray (best)"] = min(fr)
    for label, how in [("T-squall-ray", ""), ("T-squall-ray-warm", ", warm workers")]:
        ray_first = summary.get(label, {}).get("first_batch_s")
        if ray_first:
            out[f"run_batch -> first batch inferred, Ray pool{how} (s)"] = ray_first["median"]
    for label, how in [("S-1row", ""), ("S-1row-cold", ", no warm pool")]:
        one = summary.get(label, {})
        if "first_batch_s" in one:
            key = f"run_batch -> first batch inferred, 1-row job{how} (s)"
            out[key] = one["first_batch_s"]["median"]
        if "e2e_s" in one:
            out[f"1-row job end to end{how} (s)"] = one["e2e_s"]["median"]
    big, small = summary.get("T-squall-stage", {}), summary.get("T-squall-stage-small", {})
    if "peak_pss_mb" in big and "peak_pss_mb" in small:
        out["peak PSS, large/small input"] = (
            big["peak_pss_mb"]["median"] / small["peak_pss_mb"]["median"]
        )
    return out


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gb": round(psutil.virtual_memory().total / 2**30),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for mod in ["squall", "pyarrow", "duckdb", "sklearn", "numpy", "pandas", "PIL", "ray"]:
        try:
            info[mod] = __import__(mod).__version__
        except Exception:
            info[mod] = None
    with contextlib.suppress(OSError):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
    return info


def _fmt(s: dict[str, float] | None, f: str = "{:.2f}") -> str:
    if not s:
        return "-"
    return (f + " [" + f + "-" + f + "]").format(s["median"], s["min"], s["max"])


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}k"


def markdown(full: dict[str, Any]) -> str:
    m, a = full["machine"], full["args"]
    lines = [
        f"Run {full['date']} on {m['cpu']}, {m['cores']} cores, {m['mem_gb']} GiB "
        f"({m['os']}); Python {m['python']}, pyarrow {m['pyarrow']}, scikit-learn "
        f"{m['sklearn']}, ray {m['ray']}, commit {m.get('commit')}.",
        f"Tabular: {a['rows']:,} rows (memory check at {a['small_rows']:,}); files: "
        f"{a['images']:,} PNGs; {a['warmup']} warm-up + {a['runs']} timed runs, interleaved. "
        "Median [min-max]; wall time is the whole process seen from outside; "
        "PSS sums the process tree (client, supervisor, workers, and the warm pool that "
        "forked them). S-1row-cold stops the warm pool first; every other squall run finds "
        "it running.",
        "",
        "| pipeline | rows | wall s | rows/s | peak tree PSS MB | tree CPU s | first batch s "
        "| staged s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, s in full["summary"].items():
        if s.get("failed"):
            lines.append(f"| {label} | - | FAILED | | | | | |")
            continue
        lines.append(
            f"| {label} | {s['rows']:,} | {_fmt(s.get('wall_s'))} | "
            f"{_rate(s['rows_per_s']['median'])} | {_fmt(s.get('peak_pss_mb'), '{:.0f}')} | "
            f"{_fmt(s.get('tree_cpu_s'), '{:.1f}')} | {_fmt(s.get('first_batch_s'))} | "
            f"{_fmt(s.get('staged_s'))} |"
        )
    lines += ["", "| measure | value | target | met |", "|---|---|---|---|"]
    for key, value in full["ratios"].items():
        target = TARGETS.get(key)
        unit = "" if "(s)" in key or "PSS" in key else "x"
        if target:
            op, limit = target
            met = value >= limit if op == ">=" else value <= limit
            lines.append(
                f"| {key} | {value:.2f}{unit} | {op} {limit}{unit} | {'yes' if met else '**no**'} |"
            )
        else:
            lines.append(f"| {key} | {value:.2f}{unit} | | |")
    lines += [
        "",
        f"Agreement with the limit's output (all rows, sorted by id, tolerance {TOLERANCE:g}):",
        "",
    ]
    for _fam, rep in full["agreement"].items():
        for label, e in rep.items():
            lines.append(
                f"- {label}: rows {e['rows']:,}, ok={e['ok']}, "
                f"max abs diff {e.get('max_abs_diff', float('nan')):.2e}"
            )
    return "\n".join(lines) + "\n"


def update_readme(table: str) -> None:
    path = os.path.join(HERE, "README.md")
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    with open(path) as f:
        text = f.read()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + start + "\n" + table + end + tail)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small data, 1 run: for development")
    ap.add_argument("--rows", type=int, default=None, help="tabular rows (20M; quick 1M)")
    ap.add_argument(
        "--small-rows",
        type=int,
        default=None,
        help="rows of the memory check's small input (1M; quick 100k)",
    )
    ap.add_argument("--files", type=int, default=None, help="Parquet files (16; quick 4)")
    ap.add_argument("--images", type=int, default=None, help="PNGs (20000; quick 2000; 0 = none)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs (3; quick 1)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up runs (1; quick 0)")
    ap.add_argument("--only", default=None, help="comma list of pipeline labels")
    ap.add_argument("--no-ray", action="store_true", help="leave the Ray pipelines out")
    ap.add_argument("--no-daft", action="store_true", help="leave the Daft pipelines out")
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    q = a.quick
    a.rows = a.rows or (1_000_000 if q else 20_000_000)
    a.small_rows = a.small_rows or (100_000 if q else 1_000_000)
    a.files = a.files or (4 if q else 16)
    a.images = a.images if a.images is not None else (2_000 if q else 20_000)
    a.runs = a.runs or (1 if q else 3)
    a.warmup = a.warmup if a.warmup is not None else (0 if q else 1)
    a.data, a.work = os.path.abspath(a.data), os.path.abspath(a.work)
    if not a.no_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("ray is not installed (pip install -e '.[bench]'): Ray pipelines left out")
            a.no_ray = True
    if not a.no_daft:
        try:
            import daft  # noqa: F401
        except ImportError:
            print("daft is not installed (pip install -e '.[bench]'): Daft pipelines left out")
            a.no_daft = True

    # Quick runs use their own data folder, so they never replace the full data set.
    if q and a.data == os.path.join(HERE, "data"):
        a.data = os.path.join(HERE, "data", "quick")
    t = time.time()
    bench_data.ensure(a.data, sorted({a.rows, a.small_rows}), a.files, a.images)
    print(f"data ready in {a.data} ({time.time() - t:.1f}s)", flush=True)

    pipelines = plan(a)
    logdir = os.path.join(a.work, "logs")
    os.makedirs(logdir, exist_ok=True)
    ray_tmp = os.path.join("/tmp", f"squall-bench-ray-{os.getpid()}")
    rows_of = {
        label: a.images if fam == "F" else 1 if fam == "S" else rows
        for label, _, rows, fam in pipelines
    }
    print(
        "pipelines: "
        + ", ".join(p[0] for p in pipelines)
        + f"; {a.warmup} warm-up + {a.runs} timed runs, interleaved",
        flush=True,
    )
    results = []
    pool_before = warm_pool_pid()
    for rep in range(-a.warmup, a.runs):
        for label, name, rows, _fam in pipelines:
            tag = "warm-up" if rep < 0 else f"run {rep + 1}"
            r = run_one(
                name,
                label,
                rows,
                a.data,
                outdir_of(a, label),
                logdir,
                f"{label}.{rep}",
                ray_tmp,
                cold=label.endswith("-cold"),
            )
            r.update(label=label, rep=rep)
            extra = "".join(
                f" {k}={r[k]:.2f}s" for k in ["staged_s", "first_batch_s", "e2e_s"] if k in r
            )
            print(
                f"{label:22s} {tag:8s} rc={r['rc']} wall={r['wall_s']:6.2f}s "
                f"pss={r['peak_pss_mb']:6.0f}MB cpu={r['tree_cpu_s']:5.1f}s "
                f"load={r['loadavg1_before']:.1f}{extra}",
                flush=True,
            )
            if r["rc"] != 0:
                print(r.get("error_tail", ""), flush=True)
            if rep >= 0:
                results.append(r)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    if warm_pool_pid() not in (None, pool_before):  # the pool this run started
        stop_warm_pool()

    summary = summarize(results, rows_of)
    ok_labels = {lab for lab, s in summary.items() if not s.get("failed")}
    checks: dict[str, Any] = {}
    for fam, ref, cols in [("T", "T-limit", TAB_OUTPUTS), ("F", "F-limit", IMG_OUTPUTS)]:
        dirs = {
            lab: outdir_of(a, lab) for lab, _, _, f in pipelines if f == fam and lab in ok_labels
        }
        if ref in dirs:
            checks[fam] = agreement(dirs, ref, cols)
    full = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "args": {k: v for k, v in vars(a).items()},
        "summary": summary,
        "ratios": ratios(summary),
        "agreement": checks,
        "results": results,
    }
    table = markdown(full)
    print("\n" + table)
    os.makedirs(a.results, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if q else "")
    with open(os.path.join(a.results, f"{stamp}.json"), "w") as f:
        json.dump(full, f, indent=1, default=str)
    with open(os.path.join(a.results, f"{stamp}.md"), "w") as f:
        f.write(table)
    if not q and not a.only:
        update_readme(table)
    print(f"wrote {a.results}/{stamp}.json and .md", flush=True)
    bad = [lab for rep in checks.values() for lab, e in rep.items() if not e["ok"]]
    failed = [lab for lab, s in summary.items() if s.get("failed")]
    if bad or failed:
        print(f"FAILED: outputs disagree {bad}, pipelines failed {failed}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
