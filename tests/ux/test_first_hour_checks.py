"""What a new user meets around a job: the --files hint, times after a resume, no leftover
temporary parts after a cancel, and logs followed in time order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from squall.batch import JobSpec, OutputSpec
from squall.jobs.logs import LogTail, read_logs
from squall.logtime import line_time, log_stamp
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.jobtools import poll
from tests.safety.jobs_models import FailsWhileFlagged
from tests.ux.test_cli_first_hour import cli, one_error_line


class DocSize(custom_model.CustomModel):
    """The size of each file of column DOC (a file column not named FILE_PATH)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"size": X["DOC"].map(len).astype("int64")})


class StuckAfterFirstBatch(custom_model.CustomModel):
    """Answers the batch starting at x=0 at once; any later batch hangs until cancelled."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if X["x"].iloc[0] > 0:
            time.sleep(600)
        return pd.DataFrame({"y": X["x"].to_numpy(dtype="float64")})


def test_files_without_file_column_names_the_column_and_the_flag(session, tmp_path) -> None:
    Registry(session).log_model(
        DocSize(custom_model.ModelContext()),
        model_name="docsize",
        sample_input_data=pd.DataFrame({"DOC": [b"abc"]}),
    )
    session.create_stage("docs")
    session.create_stage("out")
    for i in range(2):
        (tmp_path / f"d{i}.txt").write_bytes(b"x" * (i + 1))
    session.put(str(tmp_path / "*.txt"), "@docs/in/")
    run = ("run", "docsize", "--files", "@docs/in/", "--output", "@out/d/", "--wait")
    line = one_error_line(cli(session.home, *run))
    assert "'DOC'" in line and "--file-column DOC" in line and "'FILE_PATH'" in line
    assert " X" not in line and "Traceback" not in line
    # a query without the column: the same advice in the input's words, never "X"
    sql = one_error_line(
        cli(session.home, "run", "docsize", "--sql", "SELECT 1 AS other", "--output", "@out/e/")
    )
    assert "'DOC'" in sql and "the input" in sql and " X" not in sql, sql
    assert session.list_stage("@out/") == []  # nothing started
    res = cli(session.home, *run, "--file-column", "DOC")
    assert res.returncode == 0, res.stderr
    out = session.read.parquet("@out/d/").to_pandas().sort_values("size")
    assert out["size"].tolist() == [1, 2]


def test_times_stay_in_order_after_a_resume(session, tmp_path) -> None:
    session.create_stage("out")
    flag = tmp_path / "flag"
    X = pd.DataFrame({"id": range(6), "x": [float(i) for i in range(6)], "flag": str(flag)})
    mv = Registry(session).log_model(
        FailsWhileFlagged(custom_model.ModelContext()), model_name="flagged", sample_input_data=X
    )
    flag.touch()
    job = mv.run_batch(X, output_spec=OutputSpec(stage_location="@out/r/"))
    assert job.wait(120, progress=False) == "FAILED"
    first_run = job.info()
    flag.unlink()
    job.resume()
    assert job.wait(120, progress=False) == "DONE", job.message
    info = job.info()
    times = [info[k] for k in ("created_time", "started_time", "first_output_time")]
    assert None not in times and times == sorted(times), info
    assert info["completed_time"] >= info["first_output_time"]
    assert info["started_time"] >= first_run["completed_time"]  # the resumed run's start
    # shown by the CLI as local timestamps, in the same order
    shown = json.loads(cli(session.home, "jobs", "show", job.name, "--json").stdout)
    keys = ("created_time", "started_time", "first_output_time", "completed_time")
    stamps = [shown[k] for k in keys]
    assert all(len(s) == 19 and s[10] == " " for s in stamps), stamps
    assert stamps == sorted(stamps)
    # the resume's own log line has the one timestamp format, so it is ordered with the rest
    logs = job.get_logs().splitlines()
    resumed = next(ln for ln in logs if "resuming a FAILED job" in ln)
    assert line_time(resumed.removeprefix("[supervisor] ")) is not None


def _temporary_parts(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [n for n in os.listdir(folder) if n.startswith(".part-") and n.endswith(".tmp")]


def test_a_cancelled_job_leaves_no_temporary_parts_and_its_logs_follow_in_order(
    session,
) -> None:
    session.create_stage("out")
    mv = Registry(session).log_model(
        StuckAfterFirstBatch(custom_model.ModelContext()),
        model_name="stuck",
        sample_input_data=pd.DataFrame({"x": [0.0]}),
    )
    X = pd.DataFrame({"x": [float(i) for i in range(20)]})
    job = mv.run_batch(
        X, output_spec=OutputSpec(stage_location="@out/c/"), job_spec=JobSpec(max_batch_rows=10)
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "squall", "--home", str(session.home), "jobs", "logs",
         job.name, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    folder = Path(session.stages.stage("out").full_path("c"))
    try:
        # the first batch is written to a temporary part while the second hangs
        poll(lambda: _temporary_parts(folder), 120, "a temporary part being written")
        assert session.list_stage("@out/c/") == []  # never listed to users
        job.cancel()
        assert job.wait(60, progress=False) == "CANCELLED"
        poll(lambda: not _temporary_parts(folder), 30, "the temporary parts removed")
        assert session.list_stage("@out/c/") == []
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, err
    # followed while it ran: supervisor and worker lines in time order, as `jobs logs` has them
    lines = out.splitlines()
    assert {"[supervisor]", "[w0]"} <= {ln.split(" ", 1)[0] for ln in lines}
    assert lines == job.get_logs().splitlines()
    stamps = [t for t in (line_time(ln.split(" ", 1)[1]) for ln in lines) if t is not None]
    assert stamps == sorted(stamps)
    assert "job ended CANCELLED" in lines[-1]


def test_log_tail_merges_the_files_by_time(tmp_path) -> None:
    now = time.time()
    sup, w0 = tmp_path / "supervisor.log", tmp_path / "w0.log"
    sup.write_text(f"{log_stamp(now - 5)} started\n")
    w0.write_text(f"{log_stamp(now - 4)} batch one\n  continued\n{log_stamp(now - 0.2)} late\n")
    tail = LogTail(tmp_path, settle=1.0)
    assert tail.read_new(now=now) == [
        f"[supervisor] {log_stamp(now - 5)} started",
        f"[w0] {log_stamp(now - 4)} batch one",
        "[w0]   continued",
    ]  # the last line is held back: a line of the same moment may still be on its way
    with sup.open("a") as fh:  # written after the worker's line, stamped before it
        fh.write(f"{log_stamp(now - 0.5)} shard done\n{log_stamp(now)} job ended DONE")
    assert tail.read_new(now=now + 2) == [
        f"[supervisor] {log_stamp(now - 0.5)} shard done",
        f"[w0] {log_stamp(now - 0.2)} late",
    ]  # the unfinished last line waits for its newline
    assert tail.read_new(final=True) == [f"[supervisor] {log_stamp(now)} job ended DONE"]
    assert tail.read_new(final=True) == []
    assert read_logs(tmp_path).splitlines() == [
        f"[supervisor] {log_stamp(now - 5)} started",
        f"[w0] {log_stamp(now - 4)} batch one",
        "[w0]   continued",
        f"[supervisor] {log_stamp(now - 0.5)} shard done",
        f"[w0] {log_stamp(now - 0.2)} late",
        f"[supervisor] {log_stamp(now)} job ended DONE",
    ]
