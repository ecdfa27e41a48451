"""The warm pool: jobs after the first fork their workers from it, and a job's result, its
environment, its retries and its ends are the same as with spawned workers.

Each test here gets a pool of its own: its supervisors run with an extra entry on the import
path, which gives the pool another address. Every pool a test starts is stopped at its end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.jobtools import (
    Sleepy,
    alive,
    assert_no_process_left,
    model_call_started,
    own_supervisor,
    poll,
)
from tests.e2e.models import frame


class Environ(custom_model.CustomModel):
    """Reports what a worker sees of its job's environment."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        n = len(X)
        return pd.DataFrame(
            {
                "marker": [os.environ.get("SQUALL_TEST_MARKER", "")] * n,
                "cwd": [os.getcwd()] * n,
                "pid": [os.getpid()] * n,
                "draw": [int(np.random.randint(0, 2**62))] * n,
                "y": X["x"].to_numpy(dtype="float64") * 2,
            }
        )


def pool_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``squall warm-pool ...`` with this test's environment (so, its pool)."""
    return subprocess.run(
        [sys.executable, "-m", "squall", "warm-pool", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def pool_status() -> dict | None:
    res = pool_cli("status", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def own_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """This test's pool (60 s idle unless the test sets SQUALL_WARM_POOL_IDLE); stopped after."""
    extra = tmp_path / "import-root"
    extra.mkdir()
    path = [str(extra), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    monkeypatch.setenv("SQUALL_WARM_POOL_IDLE", "60")
    assert pool_status() is None
    yield
    pool_cli("stop", "--timeout", "60")


@pytest.fixture
def results(session):
    session.create_stage("results")
    return Registry(session)


def worker_lines(job) -> list[str]:
    return [
        line
        for line in job.get_logs().splitlines()
        if " worker w" in line and " ready (pid " in line
    ]


def run(mv, location: str, rows: int = 30, **spec):
    job = mv.run_batch(
        frame(rows),
        output_spec=OutputSpec(stage_location=location),
        job_spec=JobSpec(**{"num_workers": 2, "max_batch_rows": 10, "shard_rows": 10, **spec}),
    )
    assert job.wait(timeout=180) == "DONE", job.get_logs()
    return job


def test_later_jobs_fork_workers_from_the_pool_with_the_same_output(session, results, own_pool):
    mv = results.log_model(
        Environ(custom_model.ModelContext()), model_name="env", sample_input_data=frame(3)
    )
    first = run(mv, "@results/first/")
    assert all("spawned" in line for line in worker_lines(first)), first.get_logs()
    # The first job's supervisor started the pool as it ended.
    info = poll(pool_status, 60, "the warm pool")
    second = run(mv, "@results/second/")
    lines = worker_lines(second)
    assert len(lines) == 2 and all("forked by the warm pool" in line for line in lines), lines
    a = session.read.parquet("@results/first/").to_pandas().sort_values("id").reset_index(drop=True)
    b = (
        session.read.parquet("@results/second/")
        .to_pandas()
        .sort_values("id")
        .reset_index(drop=True)
    )
    per_process = ["pid", "draw"]
    pd.testing.assert_frame_equal(a.drop(columns=per_process), b.drop(columns=per_process))
    assert b["y"].tolist() == [2.0 * x for x in range(30)]
    assert_no_process_left(second)
    after = pool_status()
    assert after is not None and after["pid"] == info["pid"] and after["workers"] == []


def test_forked_workers_see_their_jobs_environment(
    session, results, own_pool, monkeypatch, tmp_path
):
    mv = results.log_model(
        Environ(custom_model.ModelContext()), model_name="env", sample_input_data=frame(3)
    )
    run(mv, "@results/warmup/", rows=3)
    poll(pool_status, 60, "the warm pool")
    # Set after the pool started: it cannot have inherited them.
    monkeypatch.setenv("SQUALL_TEST_MARKER", "from the job's caller")
    job = run(mv, "@results/env/")
    assert all("forked by the warm pool" in line for line in worker_lines(job))
    out = session.read.parquet("@results/env/").to_pandas()
    assert set(out["marker"]) == {"from the job's caller"}
    assert set(out["cwd"]) == {os.getcwd()}
    # Each worker draws its own random numbers, though forked from one process.
    draws = [set(group["draw"]) for _, group in out.groupby("pid")]
    assert len(draws) == 2 and not draws[0] & draws[1], draws


def test_a_killed_forked_worker_is_retried(session, results, own_pool, monkeypatch):
    mv = results.log_model(
        Environ(custom_model.ModelContext()), model_name="env", sample_input_data=frame(3)
    )
    run(mv, "@results/warmup/", rows=3)
    poll(pool_status, 60, "the warm pool")
    monkeypatch.setenv("SQUALL_FAULT_KILL_WORKER", "1:1:1")
    job = run(mv, "@results/k/", rows=60, shard_rows=20)
    logs = job.get_logs()
    assert "died (exit code -9) during shard 1, attempt 1" in logs, logs
    assert "forked by the warm pool" in logs
    out = session.read.parquet("@results/k/").to_pandas().sort_values("id")
    assert out["id"].tolist() == list(range(60))
    assert out["y"].tolist() == [2.0 * x for x in range(60)]


def sleepy_with_pool(results):
    """The sleepy model, and the warm pool a first job of it started."""
    mv = results.log_model(
        Sleepy(custom_model.ModelContext()), model_name="sleepy", sample_input_data=frame(3)
    )
    assert sleepy_run(mv, "@results/warmup/", seconds=0, rows=3).wait(timeout=180) == "DONE"
    return mv, poll(pool_status, 60, "the warm pool")


def sleepy_run(mv, location: str, seconds: float, rows: int = 40):
    """A job of 2 workers whose model calls take ``seconds``; returns once one started."""
    job = mv.run_batch(
        frame(rows),
        input_spec=InputSpec(params={"seconds": seconds}),
        output_spec=OutputSpec(stage_location=location),
        job_spec=JobSpec(num_workers=2, max_batch_rows=10, shard_rows=20),
    )
    if seconds:
        poll(lambda: model_call_started(job), 60, "the first model call")
    return job


def test_cancel_and_a_killed_supervisor_end_forked_workers(session, results, own_pool):
    mv, pool = sleepy_with_pool(results)
    job = sleepy_run(mv, "@results/c/", seconds=600)
    workers = [pid for pid in job.pids() if pid != job.info()["supervisor_pid"]]
    assert workers and all(psutil.Process(p).ppid() == pool["pid"] for p in workers)
    assert job.cancel() in ("CANCELLING", "CANCELLED")
    assert job.wait(timeout=30) == "CANCELLED"
    assert_no_process_left(job, timeout=10)

    job = sleepy_run(mv, "@results/k/", seconds=600)
    supervisor = own_supervisor(job)  # only what this test started
    os.kill(supervisor, signal.SIGKILL)
    assert job.wait(timeout=60) == "INTERNAL_ERROR"
    assert_no_process_left(job, timeout=10)
    assert pool_status()["workers"] == []


def test_a_dead_pool_takes_its_workers_and_the_job_recovers(session, results, own_pool):
    mv, pool = sleepy_with_pool(results)
    job = sleepy_run(mv, "@results/d/", seconds=1.0)
    os.kill(pool["pid"], signal.SIGKILL)  # this test's own pool (its own import path)
    assert job.wait(timeout=180) == "DONE", job.get_logs()
    logs = job.get_logs()
    assert "died" in logs and "attempt 2" in logs, logs
    out = session.read.parquet("@results/d/").to_pandas().sort_values("id")
    assert out["y"].tolist() == [10.0 * x for x in range(40)]
    assert_no_process_left(job)


def test_an_idle_pool_exits_and_off_means_spawned(session, results, own_pool, monkeypatch):
    mv = results.log_model(
        Environ(custom_model.ModelContext()), model_name="env", sample_input_data=frame(3)
    )
    monkeypatch.setenv("SQUALL_WARM_POOL_IDLE", "0")
    job = run(mv, "@results/off/", rows=3)
    assert all("spawned" in line for line in worker_lines(job))
    assert pool_status() is None  # off: no pool was started either
    assert "no warm pool is running (turned off" in pool_cli("status").stdout

    monkeypatch.setenv("SQUALL_WARM_POOL_IDLE", "1")
    run(mv, "@results/idle/", rows=3)
    poll(pool_status, 60, "the warm pool")
    poll(lambda: pool_status() is None, 60, "the idle pool exiting")


def test_pool_cli_status_and_stop(session, results, own_pool):
    assert "no warm pool is running" in pool_cli("status").stdout
    assert "no warm pool is running" in pool_cli("stop").stdout
    mv = results.log_model(
        Environ(custom_model.ModelContext()), model_name="env", sample_input_data=frame(3)
    )
    run(mv, "@results/a/", rows=3)
    info = poll(pool_status, 60, "the warm pool")
    text = pool_cli("status").stdout
    assert f"warm pool: pid {info['pid']}" in text and "workers: 0 running" in text
    res = pool_cli("stop")
    assert res.returncode == 0 and "warm pool stopped" in res.stdout
    assert pool_status() is None
    assert not alive([info["pid"]])


SQUATTER = r"""
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.bind("\0" + sys.argv[1])
sock.listen(8)
print("listening", flush=True)
while True:
    conn, _ = sock.accept()
    conn.settimeout(5)
    try:
        print(len(conn.recv(1 << 20)), flush=True)
    except OSError:
        print(-1, flush=True)
    conn.close()
"""


def _python_for_nobody() -> str | None:
    """A Python the user ``nobody`` may run (this one may live in a private home)."""
    if not hasattr(os, "getuid") or os.getuid() != 0:
        return None
    for python in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            subprocess.run([python, "-c", "pass"], user=65534, capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            continue
        return python
    return None


@pytest.mark.skipif(_python_for_nobody() is None, reason="needs root, to run as another user")
def test_a_pool_address_held_by_another_user_is_never_used(session, results, own_pool):
    """Another user listening on the pool's address first gets nothing of a job."""
    address = subprocess.run(
        [sys.executable, "-c", "from squall.compute import warm; print(warm.address()[1:])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    squatter = subprocess.Popen(
        [_python_for_nobody() or "", "-c", SQUATTER, address],
        stdout=subprocess.PIPE,
        text=True,
        user=65534,  # nobody
    )
    try:
        assert squatter.stdout.readline().strip() == "listening"
        mv = results.log_model(
            Environ(custom_model.ModelContext()), model_name="env", sample_input_data=frame(3)
        )
        for name in ("a", "b"):
            job = run(mv, f"@results/{name}/", rows=30)
            assert all("spawned" in line for line in worker_lines(job)), job.get_logs()
    finally:
        squatter.kill()
        out, _ = squatter.communicate()
    seen = [int(n) for n in out.split()]
    assert seen and all(n <= 0 for n in seen), seen  # connected to, never sent a byte


def test_a_pool_exits_once_squalls_sources_change(tmp_path, monkeypatch):
    """An upgraded (here: edited) squall gets a new pool; the old one does not linger."""
    import shutil

    import squall

    copy = tmp_path / "src"
    shutil.copytree(
        Path(squall.__file__).parent, copy / "squall", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setenv("PYTHONPATH", str(copy))  # this squall, and a pool of its own
    monkeypatch.setenv("SQUALL_WARM_POOL_IDLE", "600")
    start = "from squall.compute import warm; assert warm.ensure('', [], {!r}, wait=True)"
    subprocess.run([sys.executable, "-c", start.format(str(tmp_path / "pool.log"))], check=True)
    info = poll(pool_status, 60, "the warm pool")
    assert Path(info["python"]) == Path(sys.executable)
    edited = copy / "squall" / "config.py"
    edited.write_text(edited.read_text() + "\n# edited\n")
    poll(lambda: not alive([info["pid"]]), 60, "the old pool exiting")
    assert "squall's sources changed, exiting" in (tmp_path / "pool.log").read_text()
