"""benchmarks/gpu_check.sh --dry-run: every code path of the GPU check runs on the CPU."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL_KEYS = ["engine_fp32", "plain_fp32", "engine_vs_plain", "fp32_peak_mb", "engine_amp", "engine_amp_peak_mb",
              "engine_amp_cl", "engine_amp_cl_peak_mb", "plain_amp_cl", "plain_amp_cl_peak_mb",
              "amp_speedup", "amp_speedup_plain"]
DATA_KEYS = ["images", "to_device_images_per_s", "host_uint8_images_per_s", "train_images_per_s", "share_of_step"]
E2E_KEYS = ["wall_s", "trials_ok", "train_images_per_s"]
TARGETS = ["amp_speedup>=1.5", "mobilenet>=3000_images_per_s", "data_share<=5%", "engine_vs_plain>=0.95",
           "end_to_end_2_ok"]


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path):
    out = tmp_path / "gpu_check.json"
    stray = REPO / "gpu_check.json"
    before = stray.exists()
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run", "--json", str(out)],
                          check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "GPU check on cpu" in proc.stdout
    assert stray.exists() == before  # the JSON went where --json said, nothing in the checkout
    report = json.loads(out.read_text())
    assert report["dry_run"] is True and report["device"] == "cpu"
    assert set(report["models"]) == {"mobilenet_v3_small-modified", "resnet18-modified"}
    for m in report["models"].values():
        for key in MODEL_KEYS:
            assert m[key] > 0, key
    for key in DATA_KEYS:
        assert report["data"][key] > 0, key
    for key in E2E_KEYS:
        assert report["end_to_end"][key] > 0, key
    assert report["end_to_end"]["trials_ok"] == 2
    assert set(report["targets"]) == set(TARGETS)
    assert report["targets"]["end_to_end_2_ok"] is True
    # the 2-worker (Ray Train, NCCL) run needs 2 GPUs: a dry run says why it did not run
    assert report["data_parallel"] == {"ran": False, "gpus": 0, "why": "dry run (CPU)"}
    assert "not run: dry run (CPU)" in proc.stdout
    assert report["wall_s"] > 0
