"""Shared fixtures: the real chest X-ray set beside the checkout, small synthetic configs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "cxr5-real"

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/cxr5-real (skips where it is not beside the checkout)."""
    if not (REAL_DATA / "manifest.csv").is_file():
        pytest.skip(f"real chest X-rays not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one intra-op thread is many times faster on a busy shared CPU
    (use with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fit_full_batch(model, x, y, normalize, steps: int, lr: float = 1e-2):
    """Train a toy model with Adam on one full batch for `steps` steps; returns it in eval mode."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(normalize(x)), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="session")
def fit_full_batch():
    """`fit_full_batch(model, x, y, normalize, steps)`: a toy model that learned something."""
    return _fit_full_batch


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory) -> None:
    """Keep decoded-image caches of the test run out of the user's home."""
    os.environ.setdefault("ABLATE_CACHE_DIR", str(tmp_path_factory.mktemp("ablate-cache")))


# Small, fast trial settings used across tests (synthetic data, 32-48 px, few epochs).
# (ResNet18: torchvision's MobileNetV3 uses BatchNorm momentum 0.01, so its running statistics
# need many more steps than a 2-epoch test gives before eval-mode accuracy means anything.)
TINY = [
    "backbone=resnet18",
    "input_size=40",
    "batch_size=32",
    "epochs=2",
    "phases=[{optimizer: adam, lr: 0.001}]",
    "data.synthetic.n_per_class=100",
    "data.synthetic.image_size=64",
    "data.test_per_class=20",
    "data.val_fraction=0.2",
]


def tensorboard_run(run_dir: Path) -> dict[str, dict[str, Any]]:
    """A TensorBoard run folder as TensorBoard reads it: each scalar tag's last value and the
    HParams plugin's session values (``hparams``, name -> value)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    ea = EventAccumulator(str(run_dir))
    ea.Reload()
    scalars = {tag: ea.Scalars(tag)[-1].value for tag in ea.Tags()["scalars"]}
    try:
        content = ea.PluginTagToContent("hparams")
    except KeyError:  # no HParams written
        content = {}
    hparams: dict[str, Any] = {}
    raw = content.get("_hparams_/session_start_info")
    if raw is not None:
        info = plugin_data_pb2.HParamsPluginData.FromString(raw).session_start_info
        for name, value in info.hparams.items():
            hparams[name] = value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
    return {"scalars": scalars, "hparams": hparams}


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance (2 CPUs) for one test module, shut down after it: only this one,
    never other Ray instances of the machine."""
    import ray

    from ablate.runners.ray import start_local_ray

    start_local_ray(num_cpus=2)
    yield
    ray.shutdown()


def ablate_cli(*args: str) -> int:
    """Run ``ablate ARGS`` in this process through the console entry point (`ablate.cli.main`:
    one-line errors, exit codes) and return its exit code. With a Ray instance already started
    here (`local_ray`), ``ablate run --local`` uses it: no ~16 s subprocess start-up."""
    import sys
    from unittest import mock

    from ablate.cli import main

    with mock.patch.object(sys, "argv", ["ablate", *args]):
        try:
            main()
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else int(e.code is not None)
    return 0


# covid from A and B, normal from C: A and B can be held out (each leaves covid its other source)
STUDY_SOURCES = [("covid", "A"), ("covid", "B"), ("normal", "C")]


@pytest.fixture
def small_study(tmp_path) -> str:
    """A study file with seeds, 2 folds and ``hold_out_source: each`` on a 3-source manifest (the
    parity of `ablate trial` and `ablate run`)."""
    import numpy as np
    import yaml
    from PIL import Image

    from ablate.data import write_manifest
    from ablate.data.samples import Sample

    n = 8
    (tmp_path / "img").mkdir()
    samples = []
    for k, (label, src) in enumerate(STUDY_SOURCES):
        for i in range(n * (2 if label == "normal" else 1)):
            p = tmp_path / "img" / f"{k}-{i}.png"
            Image.fromarray(np.full((8, 8), 40 * k + i, np.uint8)).save(p)
            samples.append(Sample(str(p), label, f"{src}-{k}-{i}", src))
    manifest = write_manifest(samples, tmp_path / "manifest.csv")
    sweep = {"name": "small-study", "description": "seeds x 2 folds x each held-out source",
             "trial": {"name": "small-study", "backbone": "resnet18", "variant": "original", "input_size": 32,
                       "batch_size": 16, "bn_momentum": 0.1, "epochs": 1, "device": "cpu", "seeds": [0, 1],
                       "phases": [{"optimizer": "adam", "lr": 0.001}], "analysis": {"latency": False},
                       "data": {"path": str(manifest), "scenario": "none", "normalize": "imagenet", "folds": 2,
                                "test_per_class": None, "test_fraction": 0.25, "hold_out_source": "each"}},
             "search": {"algorithm": "grid", "num_samples": 1}, "scheduler": {"kind": "none"}}
    path = tmp_path / "small-study.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return str(path)
