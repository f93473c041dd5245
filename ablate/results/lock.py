"""One writer per results folder: a lock file naming the process that holds it.

`ablate trial` and `ablate run` hold ``RESULTS/.ablate.lock`` while they write. A second
process that wants the folder is refused with one line naming the holder (PID, host, command,
since when) instead of interleaving its rows with the first's. A lock whose process is gone (same
host, PID not alive) is stale and taken over; a lock from another host cannot be checked and
is respected (the message says how to remove it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ablate.errors import ConfigError

__all__ = ["LOCK_NAME", "check_free", "results_lock"]

LOCK_NAME = ".ablate.lock"


def check_free(results_dir: str | Path) -> None:
    """Refuse at once a results folder that is a file or that another live process holds, before
    the slow checks (data, search space, Ray's imports) that precede taking the lock itself.

    Raises:
        ConfigError: as `results_lock` would.
    """
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise ConfigError(f"--results {results_dir} is a file, not a folder; give a folder (it is created if needed)")
    path = results_dir / LOCK_NAME
    holder = _holder(path) if path.exists() else None
    if holder is not None and holder.get("pid") != os.getpid() and _alive(holder):
        raise _held(path, holder)


@contextlib.contextmanager
def results_lock(results_dir: str | Path) -> Iterator[Path]:
    """Hold the results folder's lock inside the block (the folder is created if needed, and
    removed again on exit when this created it and it stayed empty).

    Raises:
        ConfigError: the folder is a file or cannot be created or written; another live
            process holds the lock.
    """
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise ConfigError(f"--results {results_dir} is a file, not a folder; give a folder (it is created if needed)")
    created = not results_dir.exists()
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the results folder {results_dir} ({e.strerror}); "
                          "give a --results folder you can write") from None
    if not os.access(results_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"the results folder {results_dir} is not writable; give a --results folder you can write")
    path = results_dir / LOCK_NAME
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:300],
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        _take(path, mine)
        yield path
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("pid") == mine["pid"]:
                path.unlink()
        if created:
            with contextlib.suppress(OSError):
                results_dir.rmdir()  # only if empty


def _take(path: Path, mine: dict) -> None:
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is None or _alive(holder):
                if holder is None:  # being written this instant
                    time.sleep(0.05)
                    continue
                raise _held(path, holder) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(mine, f)
        return
    raise ConfigError(f"could not take the lock {path}; if no ablate process writes {path.parent}, delete it")


def _held(path: Path, holder: dict) -> ConfigError:
    return ConfigError(
        f"{path.parent} is being written by another ablate process (pid {holder.get('pid')} on "
        f"{holder.get('host')}, since {holder.get('since')}: {holder.get('command')}); wait for it to "
        f"end or use another --results folder (if that process is gone, delete {path})")


def _holder(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _alive(holder: dict) -> bool:
    """Whether the holder may still run: another host cannot be checked (assumed alive)."""
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
