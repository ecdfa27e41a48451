"""A real Ray cluster for the tests, on 127.0.0.1 only, started once per test run.

``ray start --head --block`` runs in the foreground: the cluster's processes are its
children, and ending it (by its pid) ends them; ``ray stop`` is never used, since it would
end every Ray cluster of the machine. Every port is chosen free on loopback, and the
cluster's session files live in a folder of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

# This process connects to the test cluster too, as a driver bound to loopback; Ray reads
# the variable when it is imported.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


@dataclass
class RayCluster:
    address: str  # host:port of the head's GCS
    pid: int  # the `ray start --block` process
    temp_dir: str


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_DISABLE_DOCKER_CPU_WARNING="1",
    )
    env.pop("RAY_ADDRESS", None)
    return env


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def need_ray() -> None:
    """Skip without Ray, unless CI asks for it (``SQUALL_REQUIRE_RAY=1``): then fail."""
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("SQUALL_REQUIRE_RAY") == "1":
            pytest.fail("Ray is required here (pip install -e '.[ray]')")
        pytest.skip("Ray is not installed (the 'ray' extra)")


def start_cluster(num_cpus: int = 2) -> RayCluster:
    need_ray()
    gcs, manager, objects, agent, agent_grpc, metrics, env_agent = _free_ports(7)
    low = _free_ports(1)[0]
    temp_dir = tempfile.mkdtemp(prefix="sqray")  # short: Ray's socket paths are length-bound
    ray_cli = str(Path(sys.executable).with_name("ray"))
    cmd = [
        ray_cli,
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs}",
        f"--node-manager-port={manager}",
        f"--object-manager-port={objects}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={env_agent}",
        f"--min-worker-port={low}",
        f"--max-worker-port={low + 200}",
        f"--num-cpus={num_cpus}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    log = open(os.path.join(temp_dir, "start.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    cluster = RayCluster(f"127.0.0.1:{gcs}", proc.pid, temp_dir)
    deadline = time.monotonic() + 120
    while not _listening(gcs) or not _listening(manager):
        if proc.poll() is not None or time.monotonic() > deadline:
            text = Path(temp_dir, "start.log").read_text()
            stop_cluster(cluster)
            raise RuntimeError(f"the test Ray cluster did not start:\n{text[-3000:]}")
        time.sleep(0.2)
    return cluster


def stop_cluster(cluster: RayCluster) -> None:
    """End the cluster's processes: the ``ray start`` process and its children, by pid."""
    try:
        root = psutil.Process(cluster.pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(psutil.NoSuchProcess):
        if family:
            family[-1].send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=15)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)


def cluster_processes(cluster: RayCluster) -> list[psutil.Process]:
    try:
        root = psutil.Process(cluster.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One 2-CPU Ray head on 127.0.0.1 for the whole run; this process is connected to it
    (the conformance suite runs Ray executors in it) and disconnected before it stops."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            import ray

            if ray.is_initialized():
                ray.shutdown()
        stop_cluster(cluster)
