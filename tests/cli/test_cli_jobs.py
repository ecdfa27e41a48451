"""The ``squall`` command as a user runs it: real subprocesses on a real workspace."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import squall
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.jobtools import Sleepy, alive, model_call_started, poll, success_file
from tests.e2e.models import Failing, frame


class FileSize(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"size": X["FILE_PATH"].map(len).astype("int64")})


def squall_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "squall", "--home", str(home), *args]


def cli(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(squall_cmd(home, *args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def ws(session: squall.Session) -> squall.Session:
    session.create_stage("results")
    session.create_table("numbers", frame(30))
    reg = Registry(session)
    reg.log_model(
        Sleepy(custom_model.ModelContext()),
        model_name="sleepy",
        version_name="v1",
        sample_input_data=frame(3),
    )
    reg.log_model(
        Failing(custom_model.ModelContext()), model_name="failing", sample_input_data=frame(3)
    )
    return session


def test_run_wait_then_list_show_and_logs(ws):
    home = ws.home
    res = cli(
        home, "run", "sleepy:v1", "--table", "numbers", "--output", "@results/a/",
        "--param", "seconds=0.1", "--workers", "2", "--batch-rows", "10", "--wait",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    name = res.stdout.splitlines()[0]
    assert res.stdout.splitlines()[-1] == f"{name} DONE 30 rows written to @results/a/"
    bar = res.stderr.strip().splitlines()[-1]
    assert f"{name} DONE" in bar and "30/30 rows" in bar and "rows/s" in bar and "ETA 0s" in bar
    out = ws.read.parquet("@results/a/").to_pandas().sort_values("id")
    assert out["y"].tolist() == [10.0 * x for x in range(30)]

    res = cli(home, "jobs", "ls")
    assert res.returncode == 0, res.stderr
    header, row = res.stdout.splitlines()
    assert header.split() == [
        "NAME", "STATUS", "MODEL", "VERSION", "ROWS_DONE", "ROWS_TOTAL", "COMPUTE_POOL",
        "CREATED_TIME", "MESSAGE",
    ]  # fmt: skip
    assert row.split()[:6] == [name, "DONE", "SLEEPY", "V1", "30", "30"]

    listed = json.loads(cli(home, "jobs", "ls", "--json").stdout)
    assert [(j["name"], j["status"], j["rows_done"]) for j in listed] == [(name, "DONE", 30)]
    assert listed[0]["output_location"] == "@results/a/"
    assert cli(home, "jobs", "ls", "--status", "failed").stdout.splitlines()[1] == "(none)"

    shown = cli(home, "jobs", "show", name.lower())
    assert shown.returncode == 0, shown.stderr
    fields = dict(
        (k.strip(), v.strip())
        for k, _, v in (ln.partition(":") for ln in shown.stdout.splitlines())
    )
    assert fields["name"] == name and fields["status"] == "DONE"
    assert fields["progress"].startswith("30/30 rows (100%), 1/1 shards")
    info = json.loads(cli(home, "jobs", "show", name, "--json").stdout)
    assert info["rows_done"] == 30 and len(info["worker_pids"]) >= 1

    logs = cli(home, "jobs", "logs", name).stdout.splitlines()
    assert any(ln.startswith("[supervisor] ") and "job ended DONE" in ln for ln in logs)
    assert any(ln.startswith("[w0] ") and " batch of 10 rows" in ln for ln in logs)
    assert cli(home, "jobs", "logs", name, "--limit", "2").stdout.splitlines() == logs[-2:]

    # cancelling a finished job changes nothing and says so
    res = cli(home, "jobs", "cancel", name)
    assert (res.returncode, res.stdout.strip()) == (
        0,
        f"{name} already ended DONE; nothing to cancel",
    )
    assert cli(home, "jobs", "delete", name).stdout.strip() == f"{name} deleted"
    assert success_file(ws, "@results/a/").exists()  # the output stays


def test_long_job_watched_cancelled_from_another_terminal_and_deleted(ws):
    home = ws.home
    res = cli(
        home, "run", "sleepy", "--sql", "SELECT * FROM numbers WHERE id < 20",
        "--output", "@results/long/", "--param", "seconds=600", "--name", "LONG_ONE",
    )  # fmt: skip
    assert (res.returncode, res.stdout.strip()) == (0, "LONG_ONE"), res.stderr
    job = squall.jobs.get_job("LONG_ONE")
    waiter = subprocess.Popen(
        squall_cmd(home, "jobs", "wait", "LONG_ONE"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    follower = subprocess.Popen(
        squall_cmd(home, "jobs", "logs", "LONG_ONE", "--follow"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        poll(lambda: model_call_started(job), 60, "the first model call")
        res = cli(home, "jobs", "delete", "LONG_ONE")
        assert res.returncode == 1
        assert "job LONG_ONE is RUNNING: cancel it first" in res.stderr

        res = cli(home, "jobs", "cancel", "LONG_ONE")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "LONG_ONE CANCELLED cancelled by request"

        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 1  # the job did not finish
        assert out.strip() == "LONG_ONE CANCELLED cancelled by request"
        assert "0/20 rows" in err
        out, err = follower.communicate(timeout=60)
        assert follower.returncode == 0, err
        lines = out.splitlines()
        assert any(
            ln.startswith("[w0] ") and ln.endswith(" batch of 20 rows starting at x=0.0")
            for ln in lines
        )
        assert lines[-1].startswith("[supervisor] ") and "job ended CANCELLED" in lines[-1]
        # every line once, none lost: the same lines as the whole log, grouped by source
        assert sorted(lines) == sorted(job.get_logs().splitlines())
    finally:
        for p in (waiter, follower):
            if p.poll() is None:
                p.kill()
                p.wait()
    pids = job.pids()
    assert len(pids) == 2
    poll(lambda: not alive(pids), 30, "the job's processes ending")
    assert not success_file(ws, "@results/long/").exists()

    listed = cli(home, "jobs", "ls", "--status", "CANCELLED").stdout.splitlines()
    assert listed[1].split()[:2] == ["LONG_ONE", "CANCELLED"]
    res = cli(home, "jobs", "cancel", "LONG_ONE")
    assert res.stdout.strip() == "LONG_ONE already ended CANCELLED; nothing to cancel"
    assert cli(home, "jobs", "delete", "LONG_ONE").returncode == 0
    assert not job.scratch_dir.exists()
    res = cli(home, "jobs", "show", "LONG_ONE")
    assert res.returncode == 1 and "no job named 'LONG_ONE'" in res.stderr


def test_wait_draws_a_live_progress_bar_on_a_terminal(ws):
    home = ws.home
    res = cli(
        home, "run", "sleepy", "--table", "numbers", "--output", "@results/tty/",
        "--param", "seconds=1.0", "--batch-rows", "5", "--workers", "1",
    )  # fmt: skip
    # Six batches of a second on one worker: the job is still running when `jobs wait`
    # has started, however slowly its interpreter starts on a busy machine.
    name = res.stdout.strip()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        squall_cmd(home, "jobs", "wait", name),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.strip() == f"{name} DONE 30 rows written to @results/tty/"
    frames = [f for f in screen.decode().split("\r") if f.strip()]
    assert len(frames) >= 2  # redrawn in place while it ran
    assert any("RUNNING" in f and "/30 rows" in f for f in frames)
    last = frames[-1]
    assert "DONE" in last and "30/30 rows" in last and "rows/s" in last and "ETA 0s" in last


def test_run_from_files_with_overwrite_mode(ws, tmp_path):
    home = ws.home
    Registry(ws).log_model(
        FileSize(custom_model.ModelContext()),
        model_name="filesize",
        sample_input_data=pd.DataFrame({"FILE_PATH": [b"abc"]}),
    )
    ws.create_stage("docs")
    for i in range(3):
        (tmp_path / f"f{i}.txt").write_bytes(b"x" * (i + 1))
    ws.put(str(tmp_path / "*.txt"), "@docs/in/")
    args = ("run", "filesize", "--files", "@docs/in/", "--output", "@results/f/", "--wait")
    assert cli(home, *args).returncode == 0
    res = cli(home, *args)
    assert res.returncode == 1
    assert "error: output location @results/f/ is not empty" in res.stderr
    res = cli(home, *args, "--mode", "overwrite")
    assert res.returncode == 0, res.stderr
    out = ws.read.parquet("@results/f/").to_pandas().sort_values("FILE_PATH")
    assert out["FILE_PATH"].tolist() == [f"@docs/in/f{i}.txt" for i in range(3)]
    assert out["size"].tolist() == [1, 2, 3]


def test_exit_codes_say_failure(ws):
    home = ws.home
    res = cli(home, "run", "failing", "--table", "numbers", "--output", "@results/x/", "--wait")
    assert res.returncode == 1
    name = res.stdout.splitlines()[0]
    assert res.stdout.splitlines()[-1].startswith(f"{name} FAILED ")
    assert "unlucky row x == 13" in res.stdout
    assert cli(home, "jobs", "wait", name).returncode == 1
    res = cli(home, "jobs", "cancel", name)
    assert (res.returncode, res.stdout.strip()) == (
        0,
        f"{name} already ended FAILED; nothing to cancel",
    )

    res = cli(home, "run", "nope", "--sql", "SELECT 1 AS x", "--output", "@results/y/")
    assert res.returncode == 1 and "nope" in res.stderr and res.stderr.startswith("error: ")
    res = cli(home, "run", "sleepy", "--table", "numbers", "--output", "@results/y/",
              "--param", "bogus=1")  # fmt: skip
    assert res.returncode == 1 and "bogus" in res.stderr
    res = cli(home, "jobs", "ls", "--status", "SLEEPING")
    assert res.returncode == 1 and "'SLEEPING'" in res.stderr
    assert cli(home, "jobs", "show", "NOPE").returncode == 1
    assert cli(home, "jobs", "frobnicate").returncode == 2  # a usage error
    assert squall.jobs.list_jobs()["name"].tolist() == [name]  # misuse started nothing
