#!/usr/bin/env python3
"""How fast the dashboard's job list is with 10,000 jobs in the catalog (target: under 1 s).

    python bench/ui_bench.py [--jobs 10000] [--runs 5] [--home DIR]

Records 10,000 finished jobs straight into a fresh workspace's catalog (running that many
real jobs would take hours; the list reads only their records), plus 20 active ones whose
supervisors are gone (the list settles those first, as it does for a crashed job). Starts
`squall ui` on a free loopback port and times, from outside: the JSON of the first page,
of page 100, of the FAILED filter, and, when Chromium and Playwright are installed, the
jobs page in a headless browser until its 50 rows are drawn. Prints median [min-max] and
writes bench/results/ui-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_S = 1.0


def fill(home: str, n: int) -> None:
    import squall

    session = squall.connect(home)
    statuses = ["DONE"] * 8 + ["FAILED", "CANCELLED"]
    now = time.time()
    rows = []
    for i in range(n):
        t = now - (n - i) * 60
        status = statuses[i % len(statuses)]
        rows.append(
            (
                uuid.uuid4().hex,
                f"BATCH_INFERENCE_{uuid.uuid4().hex[:12].upper()}",
                status,
                f"{1000 + i} rows written" if status == "DONE" else "stopped",
                f"MODEL_{i % 7}",
                "V1",
                "predict",
                f"@results/run_{i}/",
                1000 + i,
                1000 + i if status == "DONE" else i % 1000,
                t,
                t + 1,
                t + 30,
            )
        )
    for i in range(20):  # active on record, but no supervisor: INTERNAL_ERROR once looked at
        rows.append(
            (
                uuid.uuid4().hex,
                f"STALE_{i}",
                "RUNNING",
                None,
                "MODEL_0",
                "V1",
                "predict",
                f"@results/stale_{i}/",
                10,
                0,
                now - 7200,
                now - 7199,
                None,
            )
        )
    with session.catalog.connect() as con:
        con.executemany(
            "INSERT INTO jobs (id, name, status, message, model, version, function, "
            "output_location, rows_total, rows_done, created_time, started_time, completed_time, "
            "heartbeat, supervisor_pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?, ?, NULL)",
            [(*r, r[-2]) for r in rows],
        )


def get(host: str, path: str, token: str) -> tuple[float, int]:
    start = time.perf_counter()
    con = http.client.HTTPConnection(host, timeout=60)
    con.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = con.getresponse()
    body = resp.read()
    con.close()
    assert resp.status == 200, body[:200]
    return time.perf_counter() - start, len(json.loads(body)["jobs"])


def browser_times(url: str, token: str, runs: int) -> list[float] | None:
    sys.path.insert(0, os.path.dirname(HERE))
    from tests.ui.browser import available, launch

    if not available():
        return None
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        b = launch(pw)
        page = b.new_page()
        page.goto(f"{url}/?token={token}")
        page.wait_for_selector("#jobs tr[data-job]")
        for _ in range(runs):
            start = time.perf_counter()
            page.goto(f"{url}/")
            page.wait_for_function("document.querySelectorAll('#jobs tr[data-job]').length === 50")
            out.append(time.perf_counter() - start)
        b.close()
    return out


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--home", default=None)
    a = ap.parse_args()
    home = a.home or tempfile.mkdtemp(prefix="squall-ui-bench-")
    fill(home, a.jobs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "squall", "--home", home, "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        found = re.search(r"http://(127\.0\.0\.1:\d+)/\?token=(\S+)", proc.stdout.readline())
        assert found
        host, token = found.group(1), found.group(2)
        results: dict[str, Any] = {"jobs": a.jobs, "runs": a.runs}
        for label, path in [
            ("first page (JSON)", "/api/jobs?per_page=50"),
            ("page 100 (JSON)", "/api/jobs?per_page=50&page=100"),
            ("FAILED filter (JSON)", "/api/jobs?per_page=50&status=FAILED"),
        ]:
            times = []
            for _ in range(a.runs):
                took, n = get(host, path, token)
                assert n == 50, (label, n)
                times.append(took)
            results[label] = summary(times)
        shown = browser_times(f"http://{host}", token, a.runs)
        if shown:
            results["jobs page drawn in Chromium"] = summary(shown)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if a.home is None:
            shutil.rmtree(home, ignore_errors=True)
    ok = True
    for label, value in results.items():
        if isinstance(value, dict):
            met = value["median"] < TARGET_S
            ok &= met
            print(
                f"{label:32s} {value['median'] * 1000:7.1f} ms  "
                f"[{value['min'] * 1000:.1f}-{value['max'] * 1000:.1f}]  "
                f"{'ok' if met else f'over {TARGET_S}s'}"
            )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"ui-{stamp}.json"), "w") as f:
        json.dump(results, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
