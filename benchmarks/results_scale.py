"""Results at scale: loading a 10,000-trial results folder, per-trial files vs compacted.

Builds a synthetic sweep's results with the real writer (`ablate.results.write_trial`): each
trial a trials row with the real flattened config (``cfg.*``, from a default `TrialConfig`,
values varying), search trials with ``space.*`` columns, ablation trials with ``stage`` and
``ablation_variant`` instead, a few failed trials whose row has no ``cfg.*`` columns, and
`--epochs` epochs rows each. Then times, on that folder:

- ``ablate.results.load`` over the per-trial files, and one ``pd.read_parquet`` per table
  (which keeps only the first file's columns);
- ``ablate.results.compact`` (the first, full one);
- ``load``, ``pd.read_parquet`` per table, ``committed_trials`` and ``committed_row`` on the
  compacted folder, checking the rows and columns equal those of ``load`` before compaction;
- a resume's worth of change (`--rewrite` trials rewritten, as many new ones): ``load`` over
  compacted + per-trial files, then the incremental ``compact``.

    python benchmarks/results_scale.py --trials 10000 --epochs 40
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ablate.config import TrialConfig, flatten
from ablate.results import TABLES, committed_trials, compact, load, write_trial
from ablate.results.store import committed_row

_BASE_CFG = TrialConfig()
_CFG_COLUMNS = flatten(_BASE_CFG)
_CFG_JSON = json.dumps(_BASE_CFG.resolved_dump())


def trial_tables(i: int, n: int, epochs: int, rng: random.Random) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """One synthetic trial's rows: search trials, then ablation trials (the last 10 %); every
    100th trial failed with an unresolvable config (no ``cfg.*`` columns)."""
    tid = f"cxr5-sweep-{i:05d}-{rng.getrandbits(32):08x}"
    row: dict[str, Any] = {}
    for f in TABLES["trials"]:
        t = f.type
        row[f.name] = (rng.random() if pa.types.is_floating(t) else rng.randrange(1000) if pa.types.is_integer(t)
                       else datetime.now(UTC) if pa.types.is_timestamp(t) else "x")
    failed = i % 100 == 99
    row.update(trial_id=tid, sweep="cxr5-sweep", status="failed" if failed else "ok", config_json=_CFG_JSON,
               ray_trial_id=f"{i:05d}", grid_point=i % 12)
    if not failed:
        row.update(_CFG_COLUMNS)
        row.update({"cfg.fusion.pcb_channels": rng.choice([16, 32, 64]), "cfg.seed": i % 3,
                    "cfg.fusion.gate": rng.choice(["static", "dynamic"]),
                    "cfg.fusion.taps": json.dumps(rng.sample(["features.1", "features.3", "features.8"], 2))})
    if i < n * 0.9:
        row.update({"stage": "search", "space.optimizer.lr": 10 ** rng.uniform(-5, -2),
                    "space.fusion.gate": row.get("cfg.fusion.gate", "static"),
                    "space.fusion.pcb_channels": row.get("cfg.fusion.pcb_channels", 32)})
    else:
        row.update({"stage": "ablation", "ablation_variant": rng.choice(["no_gate", "no_pcb", "base"])})
    n_epochs = 3 if failed else epochs
    ep = [{"trial_id": tid, "epoch": e, "phase": 0 if e <= n_epochs // 2 else 1, "optimizer": "adam", "lr": 1e-3,
           "train_loss": rng.random(), "train_acc": rng.random(), "val_loss": rng.random(),
           "val_acc": rng.random(), "images_per_s": 500 * rng.random(), "epoch_s": 10 * rng.random()}
          for e in range(1, n_epochs + 1)]
    return tid, {"trials": [row], "epochs": ep}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def same_rows(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> bool:
    if sorted(a.columns) != sorted(b.columns) or len(a) != len(b):
        return False
    a, b = (f[sorted(f.columns)].sort_values(keys).reset_index(drop=True) for f in (a, b))
    return a.equals(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--rewrite", type=int, default=20, help="trials rewritten (and as many added) after compaction")
    ap.add_argument("--dir", type=Path, default=None, help="build here (default: a temporary folder, removed)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args, args.dir or Path(tmp) / "results")


def run(args: argparse.Namespace, root: Path) -> None:
    rng = random.Random(0)
    rows: list[tuple[str, str, float, str]] = []  # what, table, seconds, note

    def note(what: str, table: str, seconds: float, text: str = "") -> None:
        rows.append((what, table, seconds, text))
        print(f"{what:<44} {table:<8} {seconds:8.2f} s  {text}", flush=True)

    trials = [trial_tables(i, args.trials, args.epochs, rng) for i in range(args.trials)]
    _, s = timed(lambda: [write_trial(root, tid, t) for tid, t in trials])
    note(f"write_trial x {args.trials}", "all", s, f"{1000 * s / args.trials:.1f} ms per trial")
    before, s = timed(lambda: load(root))
    note("load, per-trial files", "all", s, f"{len(before.trials)} trials, {len(before.epochs)} epoch rows")
    for table in ("trials", "epochs"):
        df, s = timed(lambda t=table: pd.read_parquet(root / t))
        lost = len(before[table].columns) - len(df.columns)
        note("pd.read_parquet(folder), per-trial files", table, s, f"{len(df.columns)} columns ({lost} lost)")

    merged, s = timed(lambda: compact(root))
    note("compact (first, full)", "all", s, f"files merged: {merged}")
    after, s = timed(lambda: load(root))
    ok = all(same_rows(before[t], after[t], ["trial_id"] + (["epoch"] if t == "epochs" else [])) for t in before)
    note("load, compacted", "all", s, "same rows and columns as before" if ok else "DIFFERS from before")
    for table in ("trials", "epochs"):
        df, s = timed(lambda t=table: pd.read_parquet(root / t))
        full = sorted(df.columns) == sorted(before[table].columns) and len(df) == len(before[table])
        note("pd.read_parquet(folder), compacted", table, s,
             f"{len(df)} rows, {len(df.columns)} columns" + ("" if full else " MISSING rows or columns"))
    done, s = timed(lambda: committed_trials(root))
    note("committed_trials, compacted", "trials", s, f"{len(done)} trials")
    tid = trials[args.trials // 2][0]
    row, s = timed(lambda: committed_row(root, tid))
    note("committed_row, compacted", "trials", s, "found" if row and row["trial_id"] == tid else "NOT FOUND")

    k = min(args.rewrite, args.trials)
    redo = [(tid, {"trials": [{**t["trials"][0], "val_acc": 2.0}], "epochs": t["epochs"]}) for tid, t in trials[:k]]
    new = [trial_tables(args.trials + i, args.trials, args.epochs, rng) for i in range(k)]
    for tid, t in redo + new:
        write_trial(root, tid, t)
    mixed, s = timed(lambda: load(root))
    once = mixed.trials.trial_id.is_unique and len(mixed.trials) == args.trials + k
    redone = (mixed.trials.set_index("trial_id").loc[[t for t, _ in redo], "val_acc"] == 2.0).all()
    note(f"load, compacted + {2 * k} per-trial", "all", s,
         "each trial once, rewritten rows new" if once and redone else "DUPLICATE or STALE rows")
    merged, s = timed(lambda: compact(root))
    note("compact (incremental)", "all", s, f"files merged: {merged}")
    final, s = timed(lambda: load(root))
    note("load, compacted again", "all", s, "same as before it" if all(
        same_rows(mixed[t], final[t], ["trial_id"] + (["epoch"] if t == "epochs" else [])) for t in mixed)
        else "DIFFERS")

    print(f"\n{args.trials} trials x {args.epochs} epochs, {root}")
    print("| step | table | seconds | check |\n|---|---|---:|---|")
    for what, table, seconds, text in rows:
        print(f"| {what} | {table} | {seconds:.2f} | {text} |")


if __name__ == "__main__":
    main()
