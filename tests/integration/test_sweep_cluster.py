"""Cluster mode without a cluster: a two-node Ray cluster on this machine (`ray start`), joined
with ``ablate run --address``. Both nodes are this test's own processes (``ray start --block``
in new sessions, 1 CPU each, a private temp dir and token); the test ends exactly those and
the processes they started, by id, never other Ray instances of the machine."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.test_sweep import assert_complete_rows, tiny_sweep_file

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")
# Ray >= 2.59 authenticates with a token; an explicit --address never enables it by itself, so
# every process of this test's cluster (nodes, clients) shares this private one.
ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


def _alive_nodes(address: str) -> int:
    code = f"import ray; ray.init(address={address!r}, logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, env=ENV)
    return int(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else 0


def _start_node(args: list[str], log: Path) -> subprocess.Popen:
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
              f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
              f"--metrics-export-port={_free_port()}", f"--runtime-env-agent-port={_free_port()}"]
    return subprocess.Popen([RAY, "start", *args, *common], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=ENV)


def _descendants(root: int) -> set[int]:
    """Process ids of everything `root` started (gcs, raylet, agents, workers), transitively."""
    ps = subprocess.run(["ps", "-eo", "pid=,ppid="], check=False, capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in ps.splitlines():
        pid, ppid = (int(x) for x in line.split())
        children.setdefault(ppid, []).append(pid)
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _stop(proc: subprocess.Popen) -> None:
    """End one `ray start --block` node: its session, then any process it started that is left."""
    tree = _descendants(proc.pid)
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def two_node_cluster(tmp_path_factory):
    temp_dir = tempfile.mkdtemp(prefix="ablt-", dir="/tmp")  # short: Ray's socket paths must fit 107 chars
    logs = tmp_path_factory.mktemp("ray-logs")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start_node(["--head", f"--port={port}", f"--ray-client-server-port={_free_port()}",
                        "--include-dashboard=false", f"--temp-dir={temp_dir}",
                        '--resources={"ablate_driver": 100}'], logs / "head.log")
    nodes = [head]
    try:
        _wait_port(port)
        nodes.append(_start_node([f"--address={address}"], logs / "worker.log"))
        end = time.monotonic() + 90
        while _alive_nodes(address) < 2:
            assert time.monotonic() < end, (logs / "worker.log").read_text()[-2000:]
            time.sleep(1)
        yield address
    finally:
        for proc in reversed(nodes):
            _stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _ablate_run(sweep: Path, results: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ablate.cli", "run", str(sweep), "--results", str(results), *extra],
                          check=False, capture_output=True, text=True, timeout=600, env=ENV)


def test_sweep_runs_on_a_two_node_cluster_with_shared_storage(tmp_path, two_node_cluster):
    sweep = tiny_sweep_file(tmp_path, "cluster-sweep", trial={"epochs": 2},
                            search={"algorithm": "optuna", "num_samples": 2,
                                    "space": {"fusion.dropout": {"uniform": [0.2, 0.5]}}},
                            scheduler={"kind": "none"})
    no_storage = _ablate_run(sweep, tmp_path / "nope", "--address", two_node_cluster)
    assert no_storage.returncode == 2 and "--storage" in no_storage.stderr
    assert not (tmp_path / "nope" / "ray").exists()

    r = _ablate_run(sweep, tmp_path / "res", "--address", two_node_cluster, "--storage", str(tmp_path / "shared"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 at a time" in r.stderr  # one 1-CPU trial per node
    res = assert_complete_rows(tmp_path / "res", 2)
    assert (res.trials.status == "ok").all() and (res.trials.epochs_run == 2).all()
    assert sorted(p.name for p in (tmp_path / "shared" / "train").iterdir()) == sorted(res.trials.trial_id)
    assert (tmp_path / "shared" / "cluster-sweep" / "tuner.pkl").is_file()


def test_a_study_runs_its_stages_on_the_two_node_cluster(tmp_path, two_node_cluster):
    """search -> confirm -> ablation as Ray work on the cluster: each stage's rows, exactly once."""
    sweep = tiny_sweep_file(tmp_path, "cluster-study", trial={"epochs": 1},
                            search={"num_samples": 2, "space": {"fusion.dropout": {"uniform": [0.2, 0.5]}}},
                            scheduler={"kind": "none"}, confirm={"top_k": 1, "seeds": [5]},
                            ablation={"variants": {"pcb-8": {"fusion.pcb_channels": 8}}})
    r = _ablate_run(sweep, tmp_path / "res", "--address", two_node_cluster, "--storage", str(tmp_path / "shared"))
    assert r.returncode == 0, r.stderr[-3000:]
    res = assert_complete_rows(tmp_path / "res", 2 + 1 + 2)
    t = res.trials
    assert t.groupby("stage").size().to_dict() == {"search": 2, "confirm": 1, "ablation": 2}
    assert (t.status == "ok").all() and set(t.seed[t.stage != "search"]) == {5}
    assert sorted(t.ablation_variant.dropna()) == ["base", "pcb-8"]
    for exp in ("cluster-study", "cluster-study-confirm", "cluster-study-ablation"):
        assert (tmp_path / "shared" / exp / "tuner.pkl").is_file()  # each stage its own Tune experiment
