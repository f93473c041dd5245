"""Wall time of the `ablate` commands that should answer at once: errors, `list`, `--help`.

Each command runs as a fresh process (the installed ``ablate`` next to this interpreter),
``--repeats`` times; the table shows the median, the target and the exit status:

    python benchmarks/startup.py
    python benchmarks/startup.py --repeats 5

The targets come from the architecture issue: a malformed sweep file or a bad ``--set``
fails within 1.5 s, ``ablate list`` and ``ablate --help`` answer within 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _ablate() -> str:
    here = Path(sys.executable).with_name("ablate")
    return str(here) if here.exists() else (shutil.which("ablate") or "ablate")


def commands(tmp: Path) -> list[tuple[str, list[str], float]]:
    """(label, arguments, target seconds) of each measured command."""
    empty = tmp / "empty.yaml"
    empty.write_text("")
    typo = tmp / "typo.yaml"
    typo.write_text("name: typo\ntrial:\n  backbone: resnet18\n  epoch: 3\n")
    return [
        ("ablate run EMPTY.yaml (empty sweep file)", ["run", str(empty)], 1.5),
        ("ablate run TYPO.yaml (misspelt key)", ["run", str(typo)], 1.5),
        ("ablate trial cxr5-sweep --set epochs=x", ["trial", "cxr5-sweep", "--set", "epochs=x"], 1.5),
        ("ablate list", ["list"], 1.0),
        ("ablate --help", ["--help"], 1.0),
    ]


def measure(args: list[str], repeats: int, cwd: Path) -> tuple[float, int]:
    """Median wall seconds of `repeats` fresh runs, and the last exit status."""
    times, rc = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run([_ablate(), *args], cwd=cwd, check=False, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        rc = proc.returncode
    return statistics.median(times), rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent  # the sweep names resolve from ./search_spaces
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(label, *measure(cmd, args.repeats, root), target) for label, cmd, target in commands(Path(tmp))]
    width = max(len(r[0]) for r in rows)
    print(f"{'command':<{width}}  median s  target s  exit  ok")
    for label, median, rc, target in rows:
        print(f"{label:<{width}}  {median:8.2f}  {target:8.1f}  {rc:4d}  {'yes' if median <= target else 'NO'}")


if __name__ == "__main__":
    main()
