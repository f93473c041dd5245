"""The cost Ray adds to a sweep: per trial and per sweep, against `ablate trial` on the same trials.

Runs the same N trials (one configuration, seeds 0..N-1; MobileNetV3-small at 32 px on the
synthetic set by default) four ways, each as a fresh CLI process:

* `ablate trial` with one seed and with N seeds (one process, no Ray);
* `ablate run --local` with one trial and with N trials (a grid over the seed, one trial at a
  time, each trial with ``--workers`` Ray workers: 1 trains inside its Tune trial, 2 or more is
  a Ray Train ``TorchTrainer`` run of that many DDP workers, launched from the Tune trial).

    per-trial cost = (run_N - run_1)/(N-1) - (trial_N - trial_1)/(N-1)
    per-sweep cost = (run_1 - trial_1) - per-trial cost    (ray.init, the first trial's process, shutdown)

With several workers the trial's training itself differs (DDP on this machine's cores), so the
per-trial figure is also taken from the timeline of the N-trial run: each trial's time outside
`run_trial` (from the end of the previous trial, or Tune's start, to the end of this one), from
the timing marks of the run: records of the ``ablate.timing`` logger
(`ablate.runners.ray.timing`), which every process of the run (the CLI, the Tune trial, the Train
controller and workers) appends as JSON lines ``{"t", "event", "pid", ...}`` to ``$ABLATE_TIMING_LOG``.
With 2+ workers it also prints Ray Train's start-up per trial, phase by phase (controller, worker
group, process group, launch, first report), averaged over the N trials:

    python benchmarks/sweep_overhead.py                     # 2 epochs, 4 trials, 1 worker
    python benchmarks/sweep_overhead.py --workers 2         # each trial a 2-worker Ray Train run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TIMING_LOG_ENV = "ABLATE_TIMING_LOG"  # ablate.runners.ray.timing.TIMING_LOG_ENV (not imported: no Ray here)
PHASES = [  # (label, from event, to event): consecutive spans of one `ablate run`, first trial
    ("start-up: interpreter, imports, sweep file", "process_start", "ray_init"),
    ("ray.init (local instance)", "ray_init", "ray_ready"),
    ("Tune set-up until the first trial runs (a new process: imports)", "ray_ready", "driver_start"),
    ("Tune trial: validate config", "driver_start", "trainer_fit"),
    ("until training starts (multi-worker: Ray Train's start-up, below)", "trainer_fit", "worker_start"),
    ("run_trial (data, epochs, test evaluation)", "worker_start", "trial_done"),
    ("final checkpoint (results tables) and report", "trial_done", "final_reported"),
    ("end of the Tune trial", "final_reported", "driver_end"),
]


TRAIN_PHASES = [  # (label, from event, to event): a Train run's start-up and first report, per trial
    ("Train controller started", "trainer_fit", "train_controller"),
    ("worker group: placement group, worker processes", "train_controller", "workers_created"),
    ("process group (Train's torch backend: gloo/NCCL)", "workers_created", "process_group_ready"),
    ("train function launched on the workers", "process_group_ready", "worker_start"),
    ("first report: epoch-1 checkpoint to storage, Train -> Tune", "epoch_trained", "epoch_reported"),
    ("end: final report to the Tune trial's end (Train shuts the group down)", "final_reported", "driver_end"),
]


def sweep_file(folder: Path, args: argparse.Namespace, seeds: list[int]) -> Path:
    raw = {
        "name": f"overhead-{len(seeds)}",
        "description": "benchmarks/sweep_overhead.py",
        "trial": {
            "backbone": args.backbone, "variant": "modified", "input_size": args.size, "batch_size": 16,
            "epochs": args.epochs, "phases": [{"optimizer": "adam", "lr": 0.001}], "device": "cpu",
            "data": {"path": "synthetic", "test_per_class": 5, "synthetic": {"n_per_class": args.per_class,
                                                                              "image_size": args.size}},
        },
        "search": {"algorithm": "grid", "num_samples": 1, "max_concurrent": 1,
                   "space": {"seed": {"grid": seeds}}},
        "scheduler": {"kind": "none"},
        "resources": {"workers": args.workers, "gpus_per_worker": 0, "cpus_per_worker": 1},
    }
    path = folder / f"overhead-{len(seeds)}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def run_with_timeline(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float, list[dict]]:
    log.unlink(missing_ok=True)
    start = time.time()
    wall = timed(cmd, {**env, TIMING_LOG_ENV: str(log)})
    events = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda e: e["t"])
    return wall, start, events


def first_marks(events: list[dict], start: float, wall: float) -> dict[str, float]:
    first: dict[str, float] = {"process_start": start, "process_end": start + wall}
    for e in events:
        first.setdefault(e["event"], e["t"])
    return first


def marks_by_row(events: list[dict]) -> dict[str, dict[str, float]]:
    """Each trial's first mark of each event (the Train controller's marks carry its run name)."""
    by_row: dict[str, dict[str, float]] = {}
    for e in events:
        if "row_id" in e:
            by_row.setdefault(e["row_id"], {}).setdefault(e["event"], e["t"])
    return by_row


def train_phases(events: list[dict]) -> list[tuple[str, float, int]]:
    """(label, mean seconds, trials measured) of each of `TRAIN_PHASES` over the run's trials."""
    rows = marks_by_row(events).values()
    out = []
    for label, a, b in TRAIN_PHASES:
        spans = [m[b] - m[a] for m in rows if a in m and b in m]
        if spans:
            out.append((label, sum(spans) / len(spans), len(spans)))
    return out


def per_trial_outside(events: list[dict]) -> list[tuple[float, float]]:
    """Each trial, in order: (seconds from the previous trial's end - or Tune's start - to its
    own end, seconds of that in `run_trial`)."""
    by_row = marks_by_row(events)
    prev = next(e["t"] for e in events if e["event"] == "tune_fit")
    out = []
    for marks in sorted(by_row.values(), key=lambda m: m.get("driver_end", 0)):
        if not {"driver_end", "worker_start", "trial_done"} <= set(marks):
            continue
        out.append((marks["driver_end"] - prev, marks["trial_done"] - marks["worker_start"]))
        prev = marks["driver_end"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="mobilenet_v3_small")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--trials", type=int, default=4, help="N, the trials of the longer runs (>= 2)")
    ap.add_argument("--workers", type=int, default=1, help="Ray workers per trial (2+: a Ray Train DDP run)")
    args = ap.parse_args()
    if args.trials < 2:
        ap.error("--trials must be at least 2")
    ablate = [sys.executable, "-m", "ablate.cli"]
    n = args.trials
    with tempfile.TemporaryDirectory(prefix="ablate-overhead-") as tmp:
        folder = Path(tmp)
        one, many = sweep_file(folder, args, [0]), sweep_file(folder, args, list(range(n)))
        env = {**os.environ, "ABLATE_CACHE_DIR": str(folder / "cache"), "RAY_USAGE_STATS_ENABLED": "0"}
        timed([*ablate, "trial", str(one), "--results", str(folder / "warm")], env)  # decode cache, page cache
        t1 = timed([*ablate, "trial", str(one), "--results", str(folder / "t1")], env)
        tn = timed([*ablate, "trial", str(one), "--set", f"seeds={list(range(n))}",
                    "--results", str(folder / "tn")], env)
        r1, s1, ev1 = run_with_timeline([*ablate, "run", str(one), "--local", "--results", str(folder / "r1")],
                                        env, folder / "timing1.jsonl")
        rn, _, evn = run_with_timeline([*ablate, "run", str(many), "--local", "--results", str(folder / "rn")],
                                       env, folder / "timingn.jsonl")
    report(args, (t1, tn, r1, rn), first_marks(ev1, s1, r1), per_trial_outside(evn), train_phases(evn))


def report(args: argparse.Namespace, walls: tuple[float, ...], first: dict[str, float],
           trials: list[tuple[float, float]], phases: list[tuple[str, float, int]]) -> None:
    t1, tn, r1, rn = walls
    n = args.trials
    per_trial = (rn - r1) / (n - 1) - (tn - t1) / (n - 1)
    kind = ("trains inside its Tune trial" if args.workers == 1
            else f"a Ray Train run of {args.workers} DDP workers")
    print(f"{args.backbone} at {args.size} px, {args.epochs} epoch(s), {args.per_class * 5} images, "
          f"{os.cpu_count()} CPU(s); each Ray trial {kind}; one trial at a time")
    print(f"  ablate trial, 1 seed / {n} seeds       {t1:7.2f} s / {tn:7.2f} s")
    print(f"  ablate run --local, 1 trial / {n} trials {r1:7.2f} s / {rn:7.2f} s")
    print(f"  Ray's cost per trial  {per_trial:7.2f} s   ((run_N - run_1) - (trial_N - trial_1)) / (N - 1)")
    print(f"  Ray's cost per sweep  {r1 - t1 - per_trial:7.2f} s   (run_1 - trial_1) - per-trial cost")
    print("\nthe one-trial run, where its time goes:")
    for label, a, b in PHASES:
        if a in first and b in first:
            print(f"  {first[b] - first[a]:7.2f} s  {label}")
    rest = first["process_end"] - first.get("driver_end", first["process_end"])
    print(f"  {rest:7.2f} s  after the trial: rows written, reconciliation, summary, ray.shutdown, exit")
    print(f"\nthe {n}-trial run, each trial's time outside run_trial (since the previous trial ended):")
    for i, (span, train) in enumerate(trials, 1):
        print(f"  trial {i}: {span - train:6.2f} s of {span:6.2f} s")
    later = [span - train for span, train in trials[1:]]
    if later:
        print(f"  trials 2..{len(trials)}: mean {sum(later) / len(later):.2f} s outside run_trial")
    if phases:
        print(f"\nRay Train's start-up per trial (mean of the {n}-trial run's trials):")
        for label, mean, k in phases:
            print(f"  {mean:7.2f} s  {label} ({k} trial(s))")
        start = sum(mean for label, mean, _ in phases[:4])
        print(f"  {start:7.2f} s  in all, from TorchTrainer.fit() to run_trial on the workers")


if __name__ == "__main__":
    main()
