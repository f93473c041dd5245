"""Compare this interpreter's installed distributions with the lock (requirements/lock.txt).

    python requirements/check_lock.py          # exit 1 unless every locked package is installed
                                               # at exactly its locked version (what `make install` checks)
    python requirements/check_lock.py --diff   # print what differs from the lock, exit 0 (`make test-latest`)

A local version label is ignored (``torch 2.14.1+cpu`` matches ``torch==2.14.1``), and the CUDA
libraries the default torch wheel pulls in (``nvidia-*``, ``cuda-*``, ``triton``) may be absent:
the CPU-only torch wheel does not depend on them, and a constraint on a package nobody requires
installs nothing.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parent / "lock.txt"
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
NOT_LOCKED = {"ablate", "pip"}  # the project itself and the venv's installer (setuptools is locked: tensorboard needs it)


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of the lock."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def installed() -> dict[str, str]:
    """``name -> version`` of the distributions this interpreter sees."""
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def differences(lock: dict[str, str], have: dict[str, str]) -> list[str]:
    """One line per package whose installed version differs from the lock (or that one side lacks)."""
    out = []
    for name, version in sorted(lock.items()):
        got = have.get(name)
        if got is None:
            if not CUDA_ONLY.match(name):
                out.append(f"{name}: locked {version}, not installed")
        elif got.split("+", 1)[0] != version:
            out.append(f"{name}: locked {version}, installed {got}")
    out += [f"{name}: installed {v}, not in the lock" for name, v in sorted(have.items())
            if name not in lock and name not in NOT_LOCKED]
    return out


def main(argv: list[str]) -> int:
    diff = differences(read_lock(), installed())
    if "--diff" in argv:
        print(f"{len(diff)} package(s) differ from {LOCK.name}" + (":" if diff else ""))
        print("\n".join(f"  {d}" for d in diff))
        return 0
    if diff:
        print(f"the installed packages differ from {LOCK} (run `make install`, or `make lock` after "
              f"changing pyproject.toml):", *diff, sep="\n  ", file=sys.stderr)
        return 1
    print(f"installed packages match {LOCK.name} ({len(read_lock())} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
