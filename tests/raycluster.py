"""A real Ray cluster for the tests, on 127.0.0.1 only, started once per test run.

``ray start --head --block`` runs in the foreground: the cluster's processes are its
children, and ending it (by its pid) ends them; ``ray stop`` is never used, since it would
end every Ray cluster of the machine. Every port is chosen free on loopback, and the
cluster's session files live in a folder of its own.
"""

from __future__ import annotations

import contextlib
import json
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


_WORKER_PORTS = 200  # the span of a node's worker ports


def _node_ports(avoid: tuple[int, ...] = ()) -> dict[str, int]:
    """Free loopback ports for one node's processes, by their ``RayParams`` names.

    None of them (nor ``avoid``) falls in the node's range of worker ports: Ray refuses to
    start a node whose ports overlap.
    """
    names = (
        "node_manager_port",
        "object_manager_port",
        "dashboard_agent_listen_port",
        "metrics_agent_port",
        "metrics_export_port",
        "runtime_env_agent_port",
    )
    for _ in range(100):
        low = _free_ports(1)[0]
        high = low + _WORKER_PORTS
        if high > 65535 or any(low <= p <= high for p in avoid):
            continue
        found = [p for p in _free_ports(len(names) + 8) if not low <= p <= high]
        if len(found) >= len(names):
            ports = dict(zip(names, found, strict=False))
            ports["min_worker_port"], ports["max_worker_port"] = low, high
            return ports
    raise RuntimeError("no free loopback ports for a test Ray node")


# `ray start` flags of RayParams' port fields.
_FLAGS = {"metrics_agent_port": "dashboard-agent-grpc-port"}

# A node joining the cluster at argv[1] with RayParams argv[2] (JSON), until SIGTERM. Ray's
# `ray start --address` refuses to join with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (which keeps
# every address on loopback), so the node is started as ray.cluster_utils starts its nodes.
_NODE = """
import json, signal, sys, threading
from ray._private.node import Node
from ray._private.parameter import RayParams

params = RayParams(gcs_address=sys.argv[1], **json.loads(sys.argv[2]))
node = Node(params, head=False, shutdown_at_exit=False, spawn_reaper=True)
print("node started", flush=True)

def end(*_):
    node.kill_all_processes(check_alive=False, allow_graceful=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, end)
threading.Event().wait()
"""


def _start(cmd: list[str], log_path: str, ports: list[int]) -> int:
    """Run ``cmd`` (a node, in the foreground); its pid once ``ports`` listen."""
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    deadline = time.monotonic() + 120
    while not all(_listening(p) for p in ports):
        if proc.poll() is not None or time.monotonic() > deadline:
            text = Path(log_path).read_text()
            stop_node(proc.pid)
            raise RuntimeError(f"a test Ray node did not start:\n{text[-3000:]}")
        time.sleep(0.2)
    return proc.pid


def start_cluster(num_cpus: int = 2) -> RayCluster:
    need_ray()
    gcs = _free_ports(1)[0]
    temp_dir = tempfile.mkdtemp(prefix="sqray")  # short: Ray's socket paths are length-bound
    ports = _node_ports(avoid=(gcs,))
    cmd = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs}",
        *(f"--{_FLAGS.get(k, k.replace('_', '-'))}={v}" for k, v in ports.items()),
        f"--num-cpus={num_cpus}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    log_path = os.path.join(temp_dir, "start.log")
    try:
        pid = _start(cmd, log_path, [gcs, ports["node_manager_port"]])
    except RuntimeError:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return RayCluster(f"127.0.0.1:{gcs}", pid, temp_dir)


def add_node(cluster: RayCluster, num_cpus: int = 1) -> int:
    """Another node of ``cluster`` on this machine (a second raylet, its own node id); its
    pid, for :func:`stop_node`."""
    ports = _node_ports(avoid=(int(cluster.address.rpartition(":")[2]),))
    params = {"node_ip_address": "127.0.0.1", "num_cpus": num_cpus, "num_gpus": 0, **ports}
    count = len(list(Path(cluster.temp_dir).glob("node-*.log")))
    cmd = [sys.executable, "-c", _NODE, cluster.address, json.dumps(params)]
    log_path = os.path.join(cluster.temp_dir, f"node-{count}.log")
    return _start(cmd, log_path, [ports["node_manager_port"]])


def stop_node(pid: int) -> None:
    """End a ``ray start`` process (a node) and its children, by pid."""
    try:
        root = psutil.Process(pid)
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


def stop_cluster(cluster: RayCluster) -> None:
    """End the cluster's processes: the ``ray start`` process and its children, by pid."""
    stop_node(cluster.pid)
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
