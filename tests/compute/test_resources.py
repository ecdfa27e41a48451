"""Resource requests reach the workers: CPU thread caps, memory bounding the workers that run
at once, a GPU slice per worker (CUDA_VISIBLE_DEVICES), replicas."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import squall
from squall.batch import JobSpec, OutputSpec
from squall.batch.resources import parse_cpu, parse_gpus, parse_memory
from squall.errors import InvalidSpecError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import frame


class WhichGpus(custom_model.CustomModel):
    """Answers each row with the GPUs its worker was given."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        return pd.DataFrame({"gpus": [visible] * len(X), "pid": [os.getpid()] * len(X)})


@pytest.mark.parametrize(
    ("text", "cpus"), [(2, 2.0), ("0.5", 0.5), ("500m", 0.5), ("3", 3.0), (None, None)]
)
def test_cpu_requests_read_as_cpus(text: object, cpus: float | None) -> None:
    assert parse_cpu(text) == cpus


@pytest.mark.parametrize(
    ("text", "size"),
    [("4Gi", 4 << 30), ("512Mi", 512 << 20), ("2G", 2 * 10**9), ("1024", 1024), (None, None)],
)
def test_memory_requests_read_as_bytes(text: object, size: int | None) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize(
    ("what", "parse", "value"),
    [
        ("cpu_requests", parse_cpu, "two"),
        ("cpu_requests", parse_cpu, "-1"),
        ("memory_requests", parse_memory, "lots"),
        ("memory_requests", parse_memory, "4XB"),
        ("gpu_requests", parse_gpus, "1.5"),
        ("gpu_requests", parse_gpus, -1),
    ],
)
def test_bad_requests_are_refused_naming_the_value(what: str, parse: object, value: object) -> None:
    with pytest.raises(InvalidSpecError, match=f"{what} {value!r}"):
        parse(value)  # type: ignore[operator]


@pytest.fixture
def gpu_model(session: squall.Session):
    session.create_stage("results")
    return Registry(session).log_model(
        WhichGpus(custom_model.ModelContext()),
        model_name="which_gpus",
        sample_input_data=frame(3),
        options={"gpu_support": True},
    )


def test_each_worker_gets_its_own_gpus(
    session: squall.Session, gpu_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")  # the GPUs this machine lends
    job = gpu_model.run_batch(
        frame(40),
        output_spec=OutputSpec(stage_location="@results/gpus/"),
        job_spec=JobSpec(num_workers=3, gpu_requests=2, max_batch_rows=5, shard_rows=5),
    )
    job.wait()
    assert job.status == "DONE", job.get_logs()
    out = session.read.parquet("@results/gpus/").to_pandas()
    by_pid = out.groupby("pid")["gpus"].agg(set)
    assert all(len(gpus) == 1 for gpus in by_pid)  # a worker keeps its slice
    assert set().union(*by_pid) <= {"0,1", "2,3"}
    # Four GPUs go round two workers of two, not the three asked for.
    assert "running 2 worker(s), not 3" in job.get_logs()


def test_a_gpu_request_larger_than_the_machine_fails_the_job(
    gpu_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    job = gpu_model.run_batch(
        frame(4),
        output_spec=OutputSpec(stage_location="@results/too_many/"),
        job_spec=JobSpec(gpu_requests=2),
    )
    job.wait()
    assert job.status == "FAILED"
    assert "gpu_requests=2, but this machine has 1 GPU(s)" in job.get_logs()


def test_memory_requests_bound_the_workers_that_run_at_once(gpu_model) -> None:
    job = gpu_model.run_batch(
        frame(4),
        output_spec=OutputSpec(stage_location="@results/memory/"),
        job_spec=JobSpec(num_workers=2, memory_requests="1000Ti", shard_rows=2),
    )
    job.wait()
    assert job.status == "DONE", job.get_logs()
    assert "running 1 worker(s), not 2" in job.get_logs()
    assert len(set(job.session.read.parquet("@results/memory/").to_pandas()["pid"])) == 1


def test_replicas_multiply_the_workers(session: squall.Session, gpu_model) -> None:
    from squall.batch.validate import plan_job

    plan, _schema = plan_job(
        session,
        model_name="WHICH_GPUS",
        version_name=gpu_model.version_name,
        model_path=gpu_model.path,
        X=frame(4),
        input_spec=None,
        output_spec=OutputSpec(stage_location="@results/replicas/"),
        job_spec=JobSpec(num_workers=2, replicas=3, cpu_requests="500m"),
        job_name="REPLICAS",
        compute_pool=None,
    )
    assert (plan.num_workers, plan.replicas, plan.cpu_requests) == (6, 3, 0.5)
