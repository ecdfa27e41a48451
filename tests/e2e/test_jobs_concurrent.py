"""Many jobs at once, from several threads and several processes, on one workspace."""

from __future__ import annotations

import subprocess
import sys
import threading

from squall import jobs
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.jobtools import Sleepy, alive, poll, success_file
from tests.e2e.models import frame

SUBMIT = """
import sys
import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.registry import Registry
import numpy as np
import pandas as pd


def frame(n):
    return pd.DataFrame({"id": np.arange(n, dtype="int64"), "x": np.arange(n, dtype="float64")})


session = squall.connect(sys.argv[1])
n = int(sys.argv[2])
mv = Registry(session).get_model("sleepy").version("v1")
job = mv.run_batch(
    frame(50 + n),
    input_spec=InputSpec(params={"seconds": 0.05}),
    output_spec=OutputSpec(stage_location=f"@results/p{n}/"),
    job_spec=JobSpec(job_name=f"PROC_{n}", num_workers=1, max_batch_rows=10, shard_rows=20),
)
print(job.name)
"""


def test_ten_jobs_from_threads_and_processes_all_finish(session, tmp_path):
    session.create_stage("results")
    mv = Registry(session).log_model(
        Sleepy(custom_model.ModelContext()),
        model_name="sleepy",
        version_name="v1",
        sample_input_data=frame(3),
    )
    script = tmp_path / "submit.py"
    script.write_text(SUBMIT)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(session.home), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(5)
    ]
    names: list[str] = []
    errors: list[BaseException] = []

    def submit(n: int) -> None:
        try:
            job = mv.run_batch(
                frame(50 + n),
                input_spec=InputSpec(params={"seconds": 0.05}),
                output_spec=OutputSpec(stage_location=f"@results/t{n}/"),
                job_spec=JobSpec(
                    job_name=f"THREAD_{n}", num_workers=1, max_batch_rows=10, shard_rows=20
                ),
            )
            names.append(job.name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        names.append(out.strip())
    assert sorted(names) == sorted(
        [f"THREAD_{n}" for n in range(5)] + [f"PROC_{n}" for n in range(5)]
    )

    for name in names:
        job = jobs.get_job(name)
        assert job.wait(timeout=300) == "DONE", job.get_logs()

    listed = jobs.list_jobs(limit=0)
    assert sorted(listed["name"]) == sorted(names)
    assert set(listed["status"]) == {"DONE"}
    assert (listed["rows_done"] == listed["rows_total"]).all()
    for name in names:
        kind, n = name.split("_")
        rows = 50 + int(n)
        location = f"@results/{kind[0].lower()}{n}/"
        job = jobs.get_job(name)
        p = job.progress
        shards = -(-rows // 20)
        assert (p.rows_done, p.rows_total, p.shards_done, p.shards_total) == (
            rows,
            rows,
            shards,
            shards,
        )
        recorded = session.catalog.query(
            "SELECT status, COUNT(*) AS n, SUM(rows) AS r FROM shards WHERE job_id = ? "
            "GROUP BY status",
            (job.id,),
        )
        assert recorded == [{"status": "DONE", "n": shards, "r": rows}]
        assert job.output_location == location
        assert success_file(session, location).exists()
        out = session.read.parquet(location).to_pandas().sort_values("id")
        assert out["id"].tolist() == list(range(rows))
        assert out["y"].tolist() == [10.0 * x for x in range(rows)]
    pids = [pid for name in names for pid in jobs.get_job(name).pids()]
    poll(lambda: not alive(pids), 60, "every job's processes ending")
