"""Jobs on a compute pool backed by a real Ray cluster (tests/raycluster.py, 127.0.0.1)."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import squall
from squall import jobs
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import (
    ComputePoolNotFoundError,
    ComputePoolUnavailableError,
    MissingExtraError,
)
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.jobtools import Sleepy, alive, poll, success_file
from tests.e2e.models import frame
from tests.e2e.test_files import Size
from tests.raycluster import RayCluster, add_node, cluster_processes, need_ray, stop_node


@pytest.fixture(autouse=True)
def _ray_installed() -> None:
    need_ray()


@pytest.fixture
def sleepy(session: squall.Session):
    session.create_stage("results")
    return Registry(session).log_model(
        Sleepy(custom_model.ModelContext()), model_name="sleepy", sample_input_data=frame(3)
    )


@pytest.fixture
def pool(session: squall.Session, ray_cluster: RayCluster) -> str:
    session.create_compute_pool("cluster", engine="ray", address=ray_cluster.address)
    return "cluster"


def _run(mv, rows: int, location: str, *, seconds: float = 0.0, **spec):
    return mv.run_batch(
        frame(rows),
        compute_pool="cluster",
        input_spec=InputSpec(params={"seconds": seconds}),
        output_spec=OutputSpec(stage_location=location),
        job_spec=JobSpec(max_batch_rows=10, shard_rows=20, **spec),
    )


def _output(session: squall.Session, location: str) -> list[float]:
    folder = success_file(session, location).parent
    table = pq.read_table(sorted(folder.glob("part-*.parquet")))
    return sorted(table.column("y").to_pylist())


def _all_free(address: str) -> bool:
    import ray

    from squall.compute.ray import connect

    connect(address, "test")
    total, free = ray.cluster_resources(), ray.available_resources()
    return free.get("CPU", 0) == total.get("CPU", -1)


def test_a_job_on_a_ray_pool_gives_exact_output_and_frees_the_cluster(
    session: squall.Session,
    sleepy,
    pool: str,
    ray_cluster: RayCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers that cannot see the workspace: any file of it they open raises.
    monkeypatch.setenv("SQUALL_TEST_WORKER_AUDIT", str(session.home))
    job = _run(sleepy, 100, "@results/ray/", num_workers=2)
    assert job.wait(timeout=180) == "DONE", job.get_logs()
    assert _output(session, "@results/ray/") == [float(x) * 10 for x in range(100)]
    logs = job.get_logs()
    assert "on node 127.0.0.1/" in logs and "[node 127.0.0.1/" in logs
    listed = jobs.list_jobs(session=session)
    assert listed.loc[listed["name"] == job.name, "compute_pool"].tolist() == ["cluster"]
    # The actors' pids are on record, as local workers' are: those their logs name (an
    # actor still starting when the last shard was done may have been ended unrecorded).
    pids = job.info()["worker_pids"]
    ready = _ready_pids(logs)
    assert pids and set(pids) <= ready and job.pids()[1:] == pids
    poll(lambda: _all_free(ray_cluster.address), 60, "the cluster's CPUs free again")
    poll(lambda: not alive(pids), 60, "the actors' processes gone")


def test_a_pool_on_a_shared_file_system_reads_and_writes_in_place(
    session: squall.Session, sleepy, ray_cluster: RayCluster
) -> None:
    session.create_compute_pool("cluster", address=ray_cluster.address, shared_fs=True)
    job = _run(sleepy, 40, "@results/shared/", num_workers=2)
    assert job.wait(timeout=180) == "DONE", job.get_logs()
    assert _output(session, "@results/shared/") == [float(x) * 10 for x in range(40)]


def test_a_killed_actor_costs_only_its_shard(
    session: squall.Session, sleepy, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker running shard 1's first attempt is killed (SIGKILL) in the middle of it.
    monkeypatch.setenv("SQUALL_FAULT_KILL_WORKER", "1:1:1")
    job = _run(sleepy, 60, "@results/chaos/", num_workers=1)
    assert job.wait(timeout=180) == "DONE", job.get_logs()
    assert _output(session, "@results/chaos/") == [float(x) * 10 for x in range(60)]
    assert "lost" in job.get_logs()


def test_cancel_ends_the_actors(
    session: squall.Session, sleepy, pool: str, ray_cluster: RayCluster
) -> None:
    job = _run(sleepy, 60, "@results/cancel/", seconds=30.0)
    poll(lambda: "starting at x=" in job.get_logs() or job.status == "RUNNING", 120, "running")
    job.cancel()
    poll(lambda: job.status == "CANCELLED", 60, "CANCELLED")
    poll(lambda: _all_free(ray_cluster.address), 60, "the cluster's CPUs free again")


def test_unknown_unreachable_and_too_large_pools_fail_up_front(
    session: squall.Session, sleepy, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ComputePoolNotFoundError, match="'nowhere'"):
        sleepy.run_batch(
            frame(3), compute_pool="nowhere", output_spec=OutputSpec(stage_location="@results/a/")
        )
    with pytest.raises(
        ComputePoolUnavailableError, match=r"'cluster'.*memory_requests 4096.0Gi \(largest node has"
    ):
        _run(sleepy, 3, "@results/b/", memory_requests="4096Gi")
    with pytest.raises(ComputePoolUnavailableError, match=r"'cluster'.*CPU 64"):
        _run(sleepy, 3, "@results/c/", cpu_requests=64)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    session.create_compute_pool("gone", address=f"127.0.0.1:{port}")
    monkeypatch.setenv("SQUALL_RAY_CONNECT_TIMEOUT", "8")
    with pytest.raises(ComputePoolUnavailableError, match="'gone'"):
        sleepy.run_batch(
            frame(3), compute_pool="gone", output_spec=OutputSpec(stage_location="@results/d/")
        )
    assert jobs.list_jobs(session=session).empty
    assert not any(Path(session.home, "stages").rglob("*.parquet"))


def test_every_ray_port_listens_on_loopback_only(ray_cluster: RayCluster) -> None:
    import psutil

    pids = {p.pid for p in cluster_processes(ray_cluster)}
    listening = [
        c
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]
    assert listening, "no Ray port found"
    # "::ffff:127.0.0.1" is 127.0.0.1 on an IPv6 socket: loopback too.
    assert {c.laddr.ip.removeprefix("::ffff:") for c in listening} == {"127.0.0.1"}, listening


def test_pools_live_in_the_catalog(session: squall.Session) -> None:
    names = [p.name for p in session.list_compute_pools()]
    assert names == ["local"]
    session.create_compute_pool("Cluster", address="ray://head:10001")
    pools = {p.name: p for p in session.list_compute_pools()}
    assert pools["cluster"].engine == "ray" and pools["cluster"].address == "ray://head:10001"
    session.drop_compute_pool("cluster")
    with pytest.raises(ComputePoolNotFoundError):
        session.drop_compute_pool("cluster")
    assert [p.name for p in squall.connect(session.home).list_compute_pools()] == ["local"]


def _ready_pids(logs: str) -> set[int]:
    return {int(p) for p in re.findall(r"ready \(pid (\d+)\)", logs)}


def test_a_warm_pool_serves_the_next_job_with_the_same_workers_then_frees_them(
    session: squall.Session, sleepy, ray_cluster: RayCluster
) -> None:
    session.create_compute_pool("cluster", address=ray_cluster.address, keep_warm_s=20)
    first = _run(sleepy, 40, "@results/warm1/", num_workers=1)
    assert first.wait(timeout=180) == "DONE", first.get_logs()
    second = _run(sleepy, 60, "@results/warm2/", num_workers=1)
    assert second.wait(timeout=180) == "DONE", second.get_logs()
    assert _output(session, "@results/warm1/") == [float(x) * 10 for x in range(40)]
    assert _output(session, "@results/warm2/") == [float(x) * 10 for x in range(60)]
    # One process served both jobs (the second found it idle and claimed it)...
    pids = _ready_pids(first.get_logs())
    assert len(pids) == 1 and _ready_pids(second.get_logs()) == pids, second.get_logs()
    assert "warm worker" in second.get_logs()
    # ... and it holds its CPU only while warm: idle for keep_warm_s, it ends.
    poll(lambda: _all_free(ray_cluster.address), 120, "the cluster's CPUs free again")
    poll(lambda: not alive(list(pids)), 60, "the warm worker's process gone")


@pytest.mark.parametrize("keep_warm_s", [0, 5], ids=["cold", "warm"])
def test_a_supervisor_killed_mid_job_takes_its_actors_and_resume_finishes(
    session: squall.Session,
    sleepy,
    ray_cluster: RayCluster,
    monkeypatch: pytest.MonkeyPatch,
    keep_warm_s: float,
) -> None:
    import signal

    # A warm worker outlives its supervisor by design; serving a job nobody calls about
    # any more, it ends after its lease.
    monkeypatch.setenv("SQUALL_RAY_WARM_LEASE_S", "3")
    session.create_compute_pool("cluster", address=ray_cluster.address, keep_warm_s=keep_warm_s)
    job = _run(sleepy, 80, "@results/resume/", seconds=0.3)
    poll(lambda: job.progress.shards_done >= 1, 180, "a committed shard")
    os.kill(job.info()["supervisor_pid"], signal.SIGKILL)
    poll(lambda: job.status == "INTERNAL_ERROR", 60, "INTERNAL_ERROR")
    # The dead supervisor's actors went with it: the cluster's CPUs are free again.
    poll(lambda: _all_free(ray_cluster.address), 60, "the cluster's CPUs free again")
    monkeypatch.delenv("SQUALL_RAY_WARM_LEASE_S")
    job.resume()
    assert job.wait(timeout=180) == "DONE", job.get_logs()
    assert _output(session, "@results/resume/") == [float(x) * 10 for x in range(80)]
    poll(lambda: _all_free(ray_cluster.address), 60, "the cluster's CPUs free again")


def _alive_nodes(address: str) -> int:
    import ray

    from squall.compute.ray import connect

    connect(address, "test")
    return sum(1 for n in ray.nodes() if n.get("Alive"))


def test_one_job_runs_its_shards_on_two_nodes(
    session: squall.Session, sleepy, pool: str, ray_cluster: RayCluster
) -> None:
    node = add_node(ray_cluster, num_cpus=1)
    try:
        poll(lambda: _alive_nodes(ray_cluster.address) == 2, 60, "the second node joined")
        # replicas=2 spreads the workers over the nodes; each shard takes about two seconds.
        job = _run(sleepy, 80, "@results/nodes/", seconds=1.0, num_workers=2, replicas=2)
        assert job.wait(timeout=180) == "DONE", job.get_logs()
        job_logs = job.get_logs()
        assert _output(session, "@results/nodes/") == [float(x) * 10 for x in range(80)]
        # The job's log names the node of every shard.
        placed = dict(re.findall(r"shard (\d+), attempt 1, on node (\S+)", job_logs))
        assert sorted(placed, key=int) == [str(s) for s in range(4)], job_logs
        assert len(set(placed.values())) == 2, placed
    finally:
        stop_node(node)
    poll(lambda: _alive_nodes(ray_cluster.address) == 1, 60, "the second node gone")


def test_file_columns_reach_workers_that_cannot_see_the_workspace(
    session: squall.Session, pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(9):
        (folder / f"d{i}.bin").write_bytes(bytes([i]) * (7 * i + 1))
    session.create_stage("docs")
    session.create_stage("results")
    session.put(str(folder / "*.bin"), "@docs/in/")
    mv = Registry(session).log_model(
        Size(custom_model.ModelContext()),
        model_name="size",
        sample_input_data=pd.DataFrame({"doc": [b"abc"]}),
    )
    paths = [f"@docs/in/d{i}.bin" for i in range(9)] + ["@docs/in/missing.bin", None]
    # Workers that cannot see the workspace: any file of it they open raises.
    monkeypatch.setenv("SQUALL_TEST_WORKER_AUDIT", str(session.home))
    job = mv.run_batch(
        pd.DataFrame({"doc": paths}),
        compute_pool="cluster",
        input_spec=InputSpec(
            column_handling={"doc": {"input_format": "FULL_STAGE_PATH", "convert_to": "RAW_BYTES"}}
        ),
        output_spec=OutputSpec(stage_location="@results/files/"),
        job_spec=JobSpec(num_workers=2, shard_rows=3, max_batch_rows=2, on_error="continue"),
    )
    assert job.wait(timeout=180) == "DONE", job.get_logs()
    folder = success_file(session, "@results/files/").parent
    rows = pq.read_table(sorted(folder.glob("part-*.parquet"))).to_pylist()
    by_path = {r["doc"]: (r["nbytes"], r["_ERROR"]) for r in rows}
    assert len(rows) == 11
    for i in range(9):
        assert by_path[f"@docs/in/d{i}.bin"] == (7 * i + 1, None)
    error = by_path["@docs/in/missing.bin"][1]
    assert "@docs/in/missing.bin" in error and "does not exist" in error
    assert str(session.home) not in error
    assert by_path[None][0] == -1


def test_a_ray_client_address_without_grpcio_names_the_extra(
    session: squall.Session, sleepy, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.create_compute_pool("remote", address="ray://127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "grpc", None)  # as if grpcio were not installed
    with pytest.raises(MissingExtraError, match=r"Ray Client.*'grpcio'.*squall\[ray\]"):
        sleepy.run_batch(
            frame(3), compute_pool="remote", output_spec=OutputSpec(stage_location="@results/r/")
        )
    assert jobs.list_jobs(session=session).empty
