"""The decoded-image cache: each dataset decoded once per input size into a memory-mappable store.

Key: SHA-256 of the loader version, the input size and every image's (path, byte size,
mtime_ns, crop box), in dataset order. Changing, adding or removing an image, or the size,
gives a new key. A store is ``<cache>/<key>/images.npy`` (uint8, N x 3 x S x S, read with
``mmap_mode``) plus ``meta.json`` (the unreadable images and why); it is written into a temp
folder and renamed, so an interrupted decode never leaves a half store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ablate.data.images import load_image
from ablate.data.samples import Sample
from ablate.errors import DataError

__all__ = ["CACHE_VERSION", "cache_root", "cache_key", "decode_all"]

CACHE_VERSION = 1


def cache_root(cache_dir: str | None = None) -> Path:
    """`cache_dir`, else $ABLATE_CACHE_DIR, else ~/.cache/ablate."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("ABLATE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ablate"


def cache_key(samples: list[Sample], size: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}:{size}".encode())
    for s in samples:
        try:
            st = os.stat(s.path)
            h.update(f"{s.path}|{st.st_size}|{st.st_mtime_ns}|{s.box}\n".encode())
        except OSError:
            h.update(f"{s.path}|missing\n".encode())
    return h.hexdigest()[:32]


def decode_all(
    samples: list[Sample],
    size: int,
    *,
    cache_dir: str | None = None,
    workers: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, dict[int, str], bool]:
    """All images as uint8 (N, 3, size, size), memory-mapped from the cache.

    Returns:
        (images, {index: reason} of unreadable images, whether the cache was already there).
    """
    key = cache_key(samples, size)
    store = cache_root(cache_dir) / "decoded" / key
    if (store / "meta.json").is_file():
        meta = json.loads((store / "meta.json").read_text())
        return np.load(store / "images.npy", mmap_mode="c"), {int(k): v for k, v in meta["bad"].items()}, True
    n_threads = workers or os.cpu_count() or 1
    if progress:
        progress(f"decoding {len(samples)} images at {size} px ({n_threads} threads) into the cache {store}")
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=store.parent, prefix=f".{key}-"))
    try:
        arr = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(len(samples), 3, size, size))
        bad: dict[int, str] = {}

        def work(i: int) -> None:
            try:
                arr[i] = load_image(samples[i].path, size, samples[i].box).transpose(2, 0, 1)
            except DataError as e:
                bad[i] = str(e)

        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, range(len(samples)), chunksize=16))
        arr.flush()
        del arr
        (tmp / "meta.json").write_text(json.dumps({"n": len(samples), "size": size, "bad": bad}))
        if store.exists():
            shutil.rmtree(store)
        os.replace(tmp, store)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return np.load(store / "images.npy", mmap_mode="c"), bad, False
