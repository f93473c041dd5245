"""GPU check: training rates, AMP, the data path and one sweep end to end, in one table + JSON.

For the modified MobileNetV3-small and the modified ResNet18 at 299 px, batch 128:

- engine vs plain loop in fp32 (`trial_throughput.measure`: identical models and tensors,
  alternating rounds; target engine / plain >= 0.95);
- the engine with AMP (bf16 autocast), and with AMP + channels-last (a trial's default on
  CUDA); the plain loop with AMP + channels-last; target AMP >= 1.5x fp32 on the same loop;
- peak GPU memory of each measurement (CPU: the process's peak RSS);
- the data path a trial runs (`TensorBatches` over the decoded uint8 store, pinned, copied to
  the device and normalised by `StepContext.inputs`) in images/s, and its share of a training
  step at the engine's AMP rate (target <= 5 %); the host-only uint8 rate from
  `data_loading.cache_epoch` beside it;
- ``ablate run --local`` of two 1-epoch trials (`benchmarks/gpu-check.yaml`) end to end;
- on a machine with 2+ GPUs, the same with 2 workers per trial: each trial a Ray Train
  ``TorchTrainer`` run of 2 DDP workers over NCCL, one GPU each (with one GPU it says so).

Target: the modified MobileNetV3-small at >= 3,000 images/s (299 px) on one datacenter GPU.

    python benchmarks/gpu_check.py                  # on the GPU (bash benchmarks/gpu_check.sh)
    python benchmarks/gpu_check.py --dry-run        # CPU, tiny sizes, the same code paths

The JSON goes where ``--json`` says, else to ``results/gpu_check.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from ablate.config import DataConfig, SyntheticConfig, TrialConfig
from ablate.data import normalize_batch, prepare_data
from ablate.engine import StepContext, TensorBatches, select_device, train_one_epoch
from ablate.engine.phases import make_optimizer
from ablate.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_loading import cache_epoch
from trial_throughput import measure, plain_epoch

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "cxr5-real" / "manifest.csv"
MODELS = [("mobilenet_v3_small", "modified"), ("resnet18", "modified")]
TARGETS = {"amp_speedup": 1.5, "mobilenet_images_per_s": 3000.0, "data_share": 0.05, "engine_vs_plain": 0.95}


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is."""

    size: int
    batch: int
    images: int  # per timed epoch
    rounds: int
    e2e_size: int
    e2e_batch: int
    e2e_per_class: int


FULL = Sizes(size=299, batch=128, images=128 * 16, rounds=3, e2e_size=299, e2e_batch=128, e2e_per_class=300)
DRY = Sizes(size=32, batch=8, images=16, rounds=1, e2e_size=32, e2e_batch=8, e2e_per_class=12)


def peak_mb(device: torch.device) -> float:
    """Peak memory since the last reset: GPU allocations, or the process's peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def amp_rates(backbone: str, variant: str, s: Sizes, device: torch.device) -> dict[str, float]:
    """Images/s with AMP: the engine (plain layout, channels-last) and the plain loop (channels-last).

    AMP and channels-last apply on CUDA only, as in a trial; on CPU these are fp32 rates.
    """
    cuda = device.type == "cuda"
    cfg = TrialConfig(backbone=backbone, variant=variant, input_size=s.size)
    torch.manual_seed(0)
    base = build_model(cfg, 5)
    images = torch.randint(0, 256, (s.images, 3, s.size, s.size), dtype=torch.uint8)
    labels = torch.randint(0, 5, (s.images,))
    batches = TensorBatches(images, labels, s.batch, shuffle=True, drop_last=True, pin=cuda)
    out: dict[str, float] = {}
    for name, cl in (("engine_amp", False), ("engine_amp_cl", True)):
        model = copy.deepcopy(base).to(device)
        if cl and cuda:
            model = model.to(memory_format=torch.channels_last)
        opt = make_optimizer(cfg.phases[0], model.parameters())
        ctx = StepContext(device=device, preprocess=normalize_batch, amp=True, channels_last=cl and cuda)
        reset_peak(device)
        train_one_epoch(model, batches, opt, ctx)  # warm-up
        rates = []
        for r in range(s.rounds):
            batches.set_epoch(r + 1)
            rates.append(train_one_epoch(model, batches, opt, ctx)["images_per_s"])
        out[name] = statistics.median(rates)
        out[f"{name}_peak_mb"] = peak_mb(device)
        del model, opt
    model = copy.deepcopy(base).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg.phases[0], model.parameters())
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    reset_peak(device)
    with autocast:  # the plain loop, forward and backward under bf16 autocast
        plain_epoch(model, images, labels, s.batch, opt, device, 0)
        out["plain_amp_cl"] = statistics.median(
            plain_epoch(model, images, labels, s.batch, opt, device, r + 1) for r in range(s.rounds))
    out["plain_amp_cl_peak_mb"] = peak_mb(device)
    return out


def model_rates(backbone: str, variant: str, s: Sizes, device: torch.device) -> dict[str, float]:
    """fp32 engine vs plain (`trial_throughput.measure`), then the AMP rates."""
    reset_peak(device)
    engine, plain = measure(backbone, variant, s.size, s.images, s.batch, s.rounds, device)
    row = {"engine_fp32": engine, "plain_fp32": plain, "engine_vs_plain": engine / plain,
           "fp32_peak_mb": peak_mb(device)}
    row.update(amp_rates(backbone, variant, s, device))
    row["amp_speedup"] = row["engine_amp_cl"] / row["engine_fp32"]
    row["amp_speedup_plain"] = row["plain_amp_cl"] / row["plain_fp32"]
    return row


def data_rates(s: Sizes, device: torch.device, data: str, cache_dir: str) -> dict[str, float]:
    """Images/s of a trial's data path (store -> pinned batch -> device -> float) and host-only."""
    cfg = DataConfig(path=data, scenario="cxr5", test_per_class=2,
                     val_fraction=0.05, cache_dir=cache_dir,
                     synthetic=SyntheticConfig(n_per_class=max(s.e2e_per_class, 12), image_size=96))
    d = prepare_data(cfg, s.size)
    images, labels = d.train.images, d.train.labels
    cuda = device.type == "cuda"
    batches = TensorBatches(images, labels, s.batch, shuffle=True, drop_last=True, pin=cuda)
    ctx = StepContext(device=device, preprocess=normalize_batch, amp=True, channels_last=cuda)
    rates = []
    for r in range(s.rounds + 1):
        batches.set_epoch(r)
        n, t0 = 0, time.perf_counter()
        for xb, yb in batches:
            x, _ = ctx.inputs(xb, yb)
            n += x.shape[0]
        if cuda:
            torch.cuda.synchronize(device)
        rates.append(n / (time.perf_counter() - t0))
    host = max(cache_epoch(images, labels, s.batch, seed, to_float=False) for seed in range(s.rounds))
    return {"images": len(labels), "to_device_images_per_s": max(rates[1:]), "host_uint8_images_per_s": host}


def end_to_end(s: Sizes, dry_run: bool, results: Path, workers: int = 1) -> dict[str, float]:
    """``ablate run --local`` of `benchmarks/gpu-check.yaml` (two 1-epoch trials); wall time, rows.

    Args:
        workers: per trial; 2+: each trial a Ray Train run of that many DDP workers, one GPU each.
    """
    import pandas as pd

    sets = [f"input_size={s.e2e_size}", f"batch_size={s.e2e_batch}",
            f"data.synthetic.n_per_class={s.e2e_per_class}"]
    if workers > 1:
        sets += [f"resources.workers={workers}", "resources.gpus_per_worker=1"]
    if dry_run:  # two trials side by side on a small CPU box
        sets += ["resources.cpus_per_worker=0.5", "data.test_per_class=2"]
    cmd = [str(Path(sys.executable).parent / "ablate"), "run", str(REPO / "benchmarks" / "gpu-check.yaml"),
           "--local", "--data", "synthetic", "--results", str(results)]
    for item in sets:
        cmd += ["--set", item]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"ablate run failed (exit {proc.returncode}): {' '.join(cmd)}")
    trials = pd.read_parquet(results / "trials")
    ok = trials[trials.status == "ok"]
    return {"wall_s": wall, "trials_ok": len(ok),
            "train_images_per_s": float(ok.train_images_per_s.median()) if len(ok) else 0.0,
            "device": ",".join(sorted(set(map(str, trials.device)))),
            "world_size": int(trials.world_size.max())}


def data_parallel(s: Sizes, dry_run: bool, results: Path) -> dict:
    """The end-to-end run with 2 workers per trial (NCCL, one GPU each) where the machine has 2+
    GPUs; otherwise what it has instead."""
    gpus = torch.cuda.device_count()
    if dry_run or gpus < 2:
        why = "dry run (CPU)" if dry_run else f"{gpus} GPU(s) here: a 2-worker trial needs 2"
        return {"ran": False, "gpus": gpus, "why": why}
    return {"ran": True, "gpus": gpus, "backend": "nccl", **end_to_end(s, dry_run, results, workers=2)}


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(what, value, target) rows for the printed table."""
    rows = []
    for name, m in report["models"].items():
        rows += [
            (f"{name} engine fp32 / plain fp32", f"{m['engine_fp32']:.0f} / {m['plain_fp32']:.0f} img/s  ({m['engine_vs_plain']:.3f})",
             f">= {TARGETS['engine_vs_plain']}"),
            (f"{name} engine AMP / AMP+channels-last", f"{m['engine_amp']:.0f} / {m['engine_amp_cl']:.0f} img/s", ""),
            (f"{name} AMP+CL speed-up engine / plain", f"{m['amp_speedup']:.2f}x / {m['amp_speedup_plain']:.2f}x",
             f">= {TARGETS['amp_speedup']}x"),
            (f"{name} peak memory fp32 / AMP+CL", f"{m['fp32_peak_mb']:.0f} / {m['engine_amp_cl_peak_mb']:.0f} MB", ""),
        ]
    d = report["data"]
    rows += [("data path to device / host uint8",
              f"{d['to_device_images_per_s']:.0f} / {d['host_uint8_images_per_s']:.0f} img/s", ""),
             ("data share of a MobileNet AMP step", f"{100 * d['share_of_step']:.1f} %", f"<= {100 * TARGETS['data_share']:.0f} %")]
    e = report["end_to_end"]
    e2e = (f"{e['wall_s']:.1f} s, {e['trials_ok']} ok on {e['device']}, "
           f"{e['train_images_per_s']:.0f} img/s")
    rows += [("ablate run --local, 2 x 1 epoch", e2e, "2 ok")]
    p = report["data_parallel"]
    if p["ran"]:
        rows.append(("same, 2 workers per trial (Ray Train, NCCL)",
                     f"{p['wall_s']:.1f} s, {p['trials_ok']} ok, world size {p['world_size']}, "
                     f"{p['train_images_per_s']:.0f} img/s", "2 ok"))
    else:
        rows.append(("2 workers per trial (Ray Train, NCCL)", f"not run: {p['why']}", ""))
    for key, ok in report["targets"].items():
        rows.append((f"target {key}", "met" if ok else "NOT met", ""))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, a few steps: checks the code paths")
    ap.add_argument("--json", type=Path, default=REPO / "results" / "gpu_check.json",
                    help="where the JSON goes (default: results/gpu_check.json)")
    ap.add_argument("--data", default=None, help="manifest or 'synthetic' (default: ../shared/data/cxr5-real if present)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    s = DRY if args.dry_run else FULL
    device = torch.device("cpu") if args.dry_run else select_device(args.device)
    if args.dry_run:
        torch.set_num_threads(1)  # tiny models: one thread is many times faster on a busy small CPU
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = args.data or (str(REAL) if REAL.is_file() else "synthetic")
    t0 = time.perf_counter()
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "dry_run": args.dry_run, "size": s.size, "batch": s.batch, "torch": torch.__version__}
    report["models"] = {f"{b}-{v}": model_rates(b, v, s, device) for b, v in MODELS}
    with tempfile.TemporaryDirectory(prefix="ablate-gpu-check-") as tmp:
        report["data"] = data_rates(s, device, data, tmp)
        mobilenet = report["models"]["mobilenet_v3_small-modified"]
        report["data"]["train_images_per_s"] = mobilenet["engine_amp_cl"]
        report["data"]["share_of_step"] = mobilenet["engine_amp_cl"] / report["data"]["to_device_images_per_s"]
        report["end_to_end"] = end_to_end(s, args.dry_run, Path(tmp) / "results")
        report["data_parallel"] = data_parallel(s, args.dry_run, Path(tmp) / "results-ddp")
    report["targets"] = {
        "amp_speedup>=1.5": all(m["amp_speedup"] >= TARGETS["amp_speedup"] for m in report["models"].values()),
        "mobilenet>=3000_images_per_s": mobilenet["engine_amp_cl"] >= TARGETS["mobilenet_images_per_s"],
        "data_share<=5%": report["data"]["share_of_step"] <= TARGETS["data_share"],
        "engine_vs_plain>=0.95": all(m["engine_vs_plain"] >= TARGETS["engine_vs_plain"] for m in report["models"].values()),
        "end_to_end_2_ok": report["end_to_end"]["trials_ok"] == 2,
    }
    if report["data_parallel"]["ran"]:
        p = report["data_parallel"]
        report["targets"]["data_parallel_2_ok"] = p["trials_ok"] == 2 and p["world_size"] == 2
    report["wall_s"] = time.perf_counter() - t0
    _print(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.json}")


def _print(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"GPU check on {report['device']} ({report['size']} px, batch {report['batch']}"
                    f"{', dry run' if report['dry_run'] else ''}; {report['wall_s']:.0f} s)")
    for col in ("measurement", "value", "target"):
        t.add_column(col)
    for row in summary(report):
        t.add_row(*row)
    Console(width=140).print(t)


if __name__ == "__main__":
    main()
