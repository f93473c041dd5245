"""Cluster mode without a cluster: a two-node Ray cluster on this machine (`ray start`), joined
with ``ablate run --address``. Both nodes are this test's own processes (``ray start --block``
in new sessions, 1 CPU each, a private temp dir and token); the test ends exactly those and
the processes they started, by id, never other Ray instances of the machine. The head declares
``ablate_driver`` (as the files in cluster/ do), where the Tune trials of Ray Train runs go."""

from __future__ import annotations

import json
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

from tests.integration.test_sweep import (
    assert_complete_rows,
    newest_epoch_checkpoint,
    registered_checkpoint,
    tiny_sweep_file,
)

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
                        "--include-dashboard=false", f"--temp-dir={temp_dir}", '--resources={"ablate_driver": 100}'],
                       logs / "head.log")
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


def test_a_spread_train_run_has_a_worker_per_node_and_resumes_after_the_driver_is_killed(tmp_path, two_node_cluster):
    """A 2-worker trial with ``placement: SPREAD`` is a Ray Train run with one worker on each
    node (the workers' node ids). ``ablate run`` is SIGKILLed once Train registered the run's
    epoch-2 checkpoint; ``--resume`` relaunches the trial, Train resumes the run by its name
    from that checkpoint (again one worker per node), and the trial ends ok with every row once."""
    sweep = tiny_sweep_file(tmp_path, "spread", trial={"epochs": 4}, search={"num_samples": 1},
                            scheduler={"kind": "none"},
                            resources={"workers": 2, "cpus_per_worker": 1, "placement": "SPREAD"})
    timing, errors = tmp_path / "timing.jsonl", tmp_path / "stderr.txt"
    args = ["--address", two_node_cluster, "--storage", str(tmp_path / "shared")]
    cmd = [sys.executable, "-m", "ablate.cli", "run", str(sweep), "--results", str(tmp_path / "res"), *args]
    env = {**ENV, "ABLATE_TIMING_LOG": str(timing)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors.open("w"), env=env)
    history, end = None, time.monotonic() + 300
    while history is None:  # until Train registered an epoch-2 checkpoint: then the driver dies
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            proc.wait()
            raise AssertionError(f"no epoch-2 checkpoint registered: {errors.read_text()[-3000:]}")
        for run in (tmp_path / "shared" / "train").glob("*"):
            name = registered_checkpoint(run)
            if name and name.startswith("epoch-") and int(name.split("-")[1]) >= 2:
                try:
                    history = json.loads((run / name / "progress.json").read_text())["history"]
                except (OSError, ValueError):  # replaced by the next epoch's meanwhile
                    continue
                proc.kill()
                break
        time.sleep(0.2)
    proc.wait(timeout=30)
    r = subprocess.run([*cmd, "--resume"], check=False, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    res = assert_complete_rows(tmp_path / "res", 1)
    row = res.trials.iloc[0]
    assert row.status == "ok" and row.epochs_run == 4 and row.world_size == 2
    rows = res.epochs.sort_values("epoch")  # continued from the checkpoint: its epochs kept their times
    assert len(history) >= 2
    assert rows.epoch_s.tolist()[: len(history)] == pytest.approx([h["epoch_s"] for h in history])
    starts = sorted((m for m in _marks(timing) if m["event"] == "worker_start"), key=lambda m: m["t"])
    attempts = [starts[i:i + 2] for i in range(0, len(starts), 2)]
    assert len(attempts) == 2, starts  # the first run's group, and the resumed run's
    for pair in attempts:
        assert sorted(m["rank"] for m in pair) == [0, 1] and pair[0]["node"] != pair[1]["node"], pair


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _marks(log: Path) -> list[dict]:
    lines = log.read_text().splitlines() if log.is_file() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the trial's process through /proc")
def test_a_trial_on_a_lost_node_is_relaunched_elsewhere_from_its_checkpoint(tmp_path, two_node_cluster):
    """A third node joins; the raylet of the node running a trial is killed mid-trial. Tune
    relaunches that trial on a surviving node, it continues from its last checkpoint in the
    shared storage, and every trial ends ok with each epoch exactly once."""
    host_port = two_node_cluster
    victim = _start_node([f"--address={host_port}"], tmp_path / "victim.log")
    try:
        end = time.monotonic() + 90
        while _alive_nodes(host_port) < 3:
            assert time.monotonic() < end, (tmp_path / "victim.log").read_text()[-2000:]
            time.sleep(1)
        sweep = tiny_sweep_file(tmp_path, "node-loss", trial={"epochs": 6},
                                search={"num_samples": 3, "space": {"fusion.dropout": {"uniform": [0.2, 0.5]}}},
                                scheduler={"kind": "none"})
        timing = tmp_path / "timing.jsonl"
        cmd = [sys.executable, "-m", "ablate.cli", "run", str(sweep), "--results", str(tmp_path / "res"),
               "--address", host_port, "--storage", str(tmp_path / "shared")]
        errors = tmp_path / "stderr.txt"  # a file, not a pipe: nobody reads it while the run goes on
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors.open("w"),
                                env={**ENV, "ABLATE_TIMING_LOG": str(timing)})
        row, history, end = None, None, time.monotonic() + 240
        while history is None:  # the victim's trial, once it has published an epoch-2 checkpoint
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                proc.wait()
                raise AssertionError(f"no trial reached epoch 2 on the third node: {errors.read_text()[-3000:]}")
            tree = _descendants(victim.pid)
            pids = {p for p in tree if _cmdline(p).startswith(b"ray::ImplicitFunc")}
            rows = {m["row_id"] for m in _marks(timing) if m["event"] == "driver_start" and m["pid"] in pids}
            for r in rows:
                ckpt = newest_epoch_checkpoint(tmp_path / "shared" / "train" / r)
                if ckpt is not None and int(ckpt.parent.name.split("-")[1]) >= 2:
                    try:
                        row, history = r, json.loads(ckpt.read_text())["history"]
                    except (OSError, ValueError):  # replaced by the next epoch meanwhile
                        continue
                    raylets = [p for p in tree if b"raylet" in _cmdline(p).split(b"\0")[0]]
                    assert raylets, "the third node has no raylet process"
                    for p in raylets:
                        os.kill(p, signal.SIGKILL)
                    break
            time.sleep(0.2)
        proc.wait(timeout=480)
    finally:
        _stop(victim)
    assert proc.returncode == 0, errors.read_text()[-3000:]
    res = assert_complete_rows(tmp_path / "res", 3)
    assert (res.trials.status == "ok").all() and (res.trials.epochs_run == 6).all()
    starts = [m for m in _marks(timing) if m["event"] == "driver_start" and m["row_id"] == row]
    assert len(starts) == 2, starts  # launched on the third node, relaunched once elsewhere
    # continued, not restarted: the epochs up to the checkpoint keep the times they had then
    rows = res.epochs[res.epochs.trial_id == row].sort_values("epoch")
    assert len(history) >= 2
    assert rows.epoch_s.tolist()[: len(history)] == pytest.approx([h["epoch_s"] for h in history])
