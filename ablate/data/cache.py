"""The decoded-image cache: each dataset decoded once per input size into a memory-mappable store.

Key: SHA-256 of the cache format version, the Pillow version, the input size and every
image's (absolute path, byte size, mtime_ns, crop box) in dataset order: file metadata, not
file bytes, so keying 100k images takes a second. Editing, replacing, adding, removing or
reordering an image, or another size, gives another key (``touch`` alone rebuilds too).

A store is ``<root>/decoded/<key>/images.npy``, uint8 ``(N, 3, S, S)`` (grey images in all
three channels, so split tensors are plain dense tensors, also as memory-map views), plus
``meta.json`` (count, size and the unreadable images with the reason). It is
written into a temp folder beside it and renamed, so an interrupted decode never leaves a
half store; concurrent builders of the same key (several trials on one machine) wait on a
file lock and then read the first one's store. Root: ``data.cache_dir``, else
``$ABLATE_CACHE_DIR``, else ``~/.cache/ablate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL

from ablate.atomic import atomic_dir
from ablate.data.images import decode
from ablate.data.samples import Sample
from ablate.errors import DataError

__all__ = [
    "CACHE_VERSION",
    "DecodedImages",
    "cache_key",
    "cache_root",
    "decode_all",
    "file_lock",
    "usable_cpus",
]

CACHE_VERSION = 2
STALE_TEMP_S = 24 * 3600  # temp folders of crashed builds older than this are removed
Progress = Callable[[str], None]


@dataclass
class DecodedImages:
    """A store read back: `images` uint8 (N, C, S, S) memory-mapped read-only (C = 1 or 3)."""

    images: np.ndarray
    bad: dict[int, str]  # index -> why the image could not be decoded (its row is zeros)
    hit: bool  # the store was there already
    path: Path


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under Ray or taskset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def cache_root(cache_dir: str | None = None) -> Path:
    """`cache_dir`, else $ABLATE_CACHE_DIR, else ~/.cache/ablate."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("ABLATE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ablate"


def cache_key(samples: list[Sample], size: int) -> str:
    """The store key of `samples` decoded at `size` (see the module docstring)."""
    h = hashlib.sha256(
        f"ablate-cache v{CACHE_VERSION} pillow {PIL.__version__} size {size}\n".encode()
    )
    for s in samples:
        try:
            st = os.stat(s.path)
            h.update(f"{os.path.abspath(s.path)}|{st.st_size}|{st.st_mtime_ns}|{s.box}\n".encode())
        except OSError:
            h.update(f"{os.path.abspath(s.path)}|missing|{s.box}\n".encode())
    return h.hexdigest()[:32]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` across processes (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_store(store: Path, n: int, size: int) -> DecodedImages | None:
    """The store at `store`, or None when it is absent or does not match (then it is rebuilt)."""
    try:
        meta = json.loads((store / "meta.json").read_text())
        images = np.load(store / "images.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    if meta.get("version") != CACHE_VERSION or images.shape != (n, 3, size, size):
        return None
    return DecodedImages(images, {int(k): v for k, v in meta["bad"].items()}, True, store)


def decode_all(
    samples: list[Sample],
    size: int,
    *,
    cache_dir: str | None = None,
    workers: int = 0,
    progress: Progress | None = None,
) -> DecodedImages:
    """All images decoded at `size`, through the cache (built here when missing).

    Args:
        samples: the images, in the order of the store's rows.
        size: side of the square images.
        cache_dir: cache root (see `cache_root`).
        workers: decoding threads; 0 = one per usable core.
        progress: told what is being decoded, every few seconds.
    """
    key = cache_key(samples, size)
    parent = cache_root(cache_dir) / "decoded"
    store = parent / key
    found = _read_store(store, len(samples), size)
    if found is not None:
        return found
    with file_lock(parent / f".{key}.lock"):
        found = _read_store(store, len(samples), size)  # another process may have built it
        if found is not None:
            return found
        _remove_stale(parent)
        _build_store(samples, size, store, workers or usable_cpus(), progress)
    found = _read_store(store, len(samples), size)
    if found is None:
        raise DataError(
            f"the decoded-image cache {store} could not be read back; delete it and run again"
        )
    found.hit = False
    return found


def _remove_stale(parent: Path) -> None:
    now = time.time()
    for tmp in parent.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TEMP_S:
                shutil.rmtree(tmp, ignore_errors=True)


def _build_store(
    samples: list[Sample], size: int, store: Path, threads: int, progress: Progress | None
) -> None:
    """Decode into a temp folder beside `store`, then rename it into place."""
    n = len(samples)
    if progress:
        progress(f"decoding {n} images at {size} px ({threads} threads) into the cache {store}")
    # replace=True: a store already there did not read back (the caller checked), so it goes
    with atomic_dir(store, replace=True) as tmp:
        bad = _decode_into(samples, size, tmp / "images.npy", threads, progress)
        meta = {
            "version": CACHE_VERSION,
            "n": n,
            "size": size,
            "bad": {str(i): why for i, why in sorted(bad.items())},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))


def _decode_into(
    samples: list[Sample], size: int, path: Path, threads: int, progress: Progress | None
) -> dict[int, str]:
    """Decode every image into a new .npy at `path`; {index: reason} of the unreadable ones."""
    shape = (len(samples), 3, size, size)
    if not samples:
        np.save(path, np.zeros(shape, np.uint8))
        return {}
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    bad: dict[int, str] = {}

    def work(i: int) -> None:
        s = samples[i]
        try:
            img = decode(s.path, size, s.box)
        except DataError as e:
            bad[i] = str(e)
            return
        arr[i] = img if img.ndim == 2 else img.transpose(2, 0, 1)  # grey (S, S) fills 3 channels

    t0 = last = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for done, _ in enumerate(pool.map(work, range(len(samples))), start=1):
            now = time.perf_counter()
            if progress and now - last > 5.0:
                progress(f"decoded {done}/{len(samples)} images ({done / (now - t0):.0f}/s)")
                last = now
    arr.flush()
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
    return bad
