"""The fixed cost Ray adds to a trial: the same tiny trial via `ablate trial` and `ablate run`.

Runs one configuration (MobileNetV3-small at 32 px on the synthetic set by default) through
`ablate trial` (this process's PyTorch, no Ray) and through `ablate run --local` (one Tune
trial, one Ray Train worker), each as a fresh CLI process, and prints both wall times, the
difference, and where the Ray run's time goes, from the timing marks of the run: records of
the ``ablate.timing`` logger (`ablate.runners.ray.timing`), which every process of the run (the
CLI, the trial driver, the Train worker) appends as JSON lines ``{"t", "event", "pid", ...}`` to
the file named by ``$ABLATE_TIMING_LOG``:

    python benchmarks/sweep_overhead.py                 # 3 epochs, 1 repeat
    python benchmarks/sweep_overhead.py --epochs 5 --repeats 3 --backbone resnet18
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TIMING_LOG_ENV = "ABLATE_TIMING_LOG"  # ablate.runners.ray.timing.TIMING_LOG_ENV (not imported: no Ray here)
PHASES = [  # (label, from event, to event): consecutive spans of one `ablate run`
    ("start-up: interpreter, imports, sweep file", "process_start", "ray_init"),
    ("ray.init (local instance)", "ray_init", "ray_ready"),
    ("Tune set-up until the trial driver runs", "ray_ready", "driver_start"),
    ("driver: validate config, build TorchTrainer", "driver_start", "trainer_fit"),
    ("Train worker group start (controller, placement group, worker, process group)", "trainer_fit", "worker_start"),
    ("run_trial in the worker (data, epochs, test evaluation)", "worker_start", "trial_done"),
    ("final report with the results tables checkpoint", "trial_done", "final_reported"),
    ("Train run shutdown", "final_reported", "driver_end"),
    ("Tune: trial end, rows written, experiment end", "driver_end", "tune_done"),
    ("reconciliation, summary", "tune_done", "reconciled"),
    ("ray.shutdown and exit", "reconciled", "process_end"),
]


def sweep_file(folder: Path, args: argparse.Namespace) -> Path:
    raw = {
        "name": "overhead",
        "description": "benchmarks/sweep_overhead.py",
        "trial": {
            "backbone": args.backbone, "variant": "modified", "input_size": args.size, "batch_size": 16,
            "epochs": args.epochs, "phases": [{"optimizer": "adam", "lr": 0.001}], "device": "cpu",
            "data": {"path": "synthetic", "test_per_class": 5, "synthetic": {"n_per_class": args.per_class,
                                                                              "image_size": args.size}},
        },
        "search": {"num_samples": 1},
        "scheduler": {"kind": "none"},
        "resources": {"workers": 1, "gpus_per_worker": 0, "cpus_per_worker": 1},
    }
    path = folder / "overhead.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def run_with_timeline(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, dict[str, float], list[dict]]:
    log.unlink(missing_ok=True)
    start = time.time()
    wall = timed(cmd, {**env, TIMING_LOG_ENV: str(log)})
    events = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda e: e["t"])
    first: dict[str, float] = {"process_start": start, "process_end": start + wall}
    for e in events:
        first.setdefault(e["event"], e["t"])
    return wall, first, events


def epoch_costs(events: list[dict]) -> tuple[float, float, float]:
    """Mean seconds per epoch: training, checkpoint write, report (until Train accepted it)."""
    by_epoch: dict[int, dict[str, float]] = {}
    for e in events:
        if "epoch" in e:
            by_epoch.setdefault(e["epoch"], {})[e["event"]] = e["t"]
    train = [e["epoch_s"] for e in events if e["event"] == "epoch_trained"]
    write = [d["checkpoint_written"] - d["epoch_trained"] for d in by_epoch.values() if len(d) == 3]
    report = [d["epoch_reported"] - d["checkpoint_written"] for d in by_epoch.values() if len(d) == 3]
    return statistics.mean(train), statistics.mean(write), statistics.mean(report)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="mobilenet_v3_small")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    ablate = [sys.executable, "-m", "ablate.cli"]
    with tempfile.TemporaryDirectory(prefix="ablate-overhead-") as tmp:
        folder = Path(tmp)
        sweep = sweep_file(folder, args)
        env = {**os.environ, "ABLATE_CACHE_DIR": str(folder / "cache"), "RAY_USAGE_STATS_ENABLED": "0"}
        timed([*ablate, "trial", str(sweep), "--results", str(folder / "warm")], env)  # decode cache, page cache
        trial_walls, run_walls, timelines = [], [], []
        for i in range(args.repeats):
            trial_walls.append(timed([*ablate, "trial", str(sweep), "--results", str(folder / f"t{i}")], env))
            wall, first, events = run_with_timeline(
                [*ablate, "run", str(sweep), "--local", "--results", str(folder / f"r{i}")], env, folder / "timing.jsonl")
            run_walls.append(wall)
            timelines.append((first, events))
        report(args, trial_walls, run_walls, timelines)


def report(args: argparse.Namespace, trial_walls: list[float], run_walls: list[float], timelines: list) -> None:
    t, r = statistics.median(trial_walls), statistics.median(run_walls)
    print(f"{args.backbone} at {args.size} px, {args.epochs} epoch(s), {args.per_class * 5} images, "
          f"{os.cpu_count()} CPU(s); median of {args.repeats}")
    print(f"  ablate trial          {t:7.2f} s")
    print(f"  ablate run --local    {r:7.2f} s   (one Tune trial, one Ray Train worker)")
    print(f"  overhead of Ray       {r - t:7.2f} s   per sweep; per trial see the spans below")
    first, events = timelines[len(timelines) // 2]
    print("\nwhere `ablate run` spends its time:")
    for label, a, b in PHASES:
        if a in first and b in first:
            print(f"  {first[b] - first[a]:7.2f} s  {label}")
    train, write, rep = epoch_costs(events)
    print(f"\nper epoch: training {train:.3f} s, checkpoint written {write:.3f} s, "
          f"ray.train.report {rep:.3f} s (Train accepted the checkpoint)")
    per_trial = (first["worker_start"] - first["ray_ready"]) + (first["tune_done"] - first["trial_done"])
    per_sweep = (first["ray_ready"] - first["ray_init"]) + (first["process_end"] - first["reconciled"])
    print(f"fixed cost per trial: {per_trial:.2f} s (a new driver actor process, the Train controller and "
          f"worker processes, final report, shutdown; concurrent trials overlap it); "
          f"per sweep: {per_sweep:.2f} s (ray.init, ray.shutdown)")


if __name__ == "__main__":
    main()
