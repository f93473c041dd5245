"""Which ASHA / TPE settings find a grid's best cheaply? `ablate replay` over a settings grid.

For every combination of grace period, reduction factor, samples per grid point and
concurrency, replays TPE + ASHA (and TPE alone) on a full grid's curves and prints the share
of repeats that came within the tolerance of the grid's best using at most 25 % of the grid's
epochs (the target: >= 80 %), with the median epochs.

    python benchmarks/replay_scan.py benchmarks/data/replay-sweep.yaml --from benchmarks/data
"""

from __future__ import annotations

import argparse
import itertools

import pandas as pd

from ablate.config import read_sweep
from ablate.replay import STRATEGIES, Curves, replay


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep")
    ap.add_argument("--from", dest="results", required=True)
    ap.add_argument("--grace", default="1,2,3")
    ap.add_argument("--rf", default="2,3,4")
    ap.add_argument("--samples", default="6,8,12")
    ap.add_argument("--concurrency", default="1,2,4")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    base = read_sweep(args.sweep)
    curves = Curves.load(base, args.results)
    tpe = [s for s in STRATEGIES if s.algorithm == "optuna"]
    rows = []
    for grace, rf, n, conc in itertools.product(ints(args.grace), ints(args.rf), ints(args.samples),
                                                ints(args.concurrency)):
        sweep = read_sweep(args.sweep, [f"scheduler.grace_period={grace}", f"scheduler.reduction_factor={rf}",
                                        f"search.num_samples={n}"])
        rep = replay(sweep, curves, repeats=args.repeats, concurrency=conc, strategies=tpe)
        for r in rep.summary.itertuples():
            rows.append({"strategy": r.strategy, "grace": grace, "rf": rf, "samples": n, "concurrency": conc,
                         "within_25pct": r.within_budget, "reached": r.reached / r.repeats,
                         "epochs_median": r.epochs_median, "fraction_median": r.fraction_median})
    table = pd.DataFrame(rows).sort_values(["within_25pct", "epochs_median"], ascending=[False, True])
    with pd.option_context("display.max_rows", 200, "display.width", 160):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
