"""Perceptual image hashes (dHash, pHash) and a fast near-duplicate search on packed bits.

Hashes are ``uint8`` arrays of ``bits / 8`` packed bytes, so a set of ``n`` hashes is an
``(n, bits / 8)`` array and the Hamming distance of two hashes is the popcount of their XOR.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from PIL import Image

__all__ = ["ImageInfo", "dhash", "hamming", "hash_file", "hash_files", "near_pairs", "phash"]

_POP8 = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)
BRUTE_FORCE_MAX = 20_000  # above this many hashes, near_pairs buckets by hash segments first


def _gray(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit grey (16-bit and float images scaled by their own range)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = np.zeros_like(a) if hi <= lo else (a - lo) * (255.0 / (hi - lo))
        return Image.fromarray(np.round(a).astype(np.uint8), mode="L")
    if im.mode in ("LA", "RGBA", "PA", "P"):
        im = im.convert("RGBA")
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im)
    return im.convert("L")


def dhash(im: Image.Image, bits: int = 256) -> np.ndarray:
    """Difference hash: sign of horizontal gradients on a (side+1) x side thumbnail.

    Robust to brightness/contrast changes, rescaling and recompression.

    Args:
        im: any PIL image.
        bits: a square number that is a multiple of 8 (64, 256, 1024).
    """
    side = round(bits**0.5)
    if side * side != bits or bits % 8:
        raise ValueError(f"bits must be a square multiple of 8 (64, 256, 1024), got {bits}")
    small = _gray(im).resize((side + 1, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    px = np.asarray(small, dtype=np.int16)
    return np.packbits((px[:, 1:] > px[:, :-1]).ravel())


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    return np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n))


def phash(im: Image.Image, bits: int = 256) -> np.ndarray:
    """DCT hash: low-frequency DCT coefficients of a 4*side thumbnail against their median."""
    side = round(bits**0.5)
    if side * side != bits or bits % 8:
        raise ValueError(f"bits must be a square multiple of 8 (64, 256, 1024), got {bits}")
    n = 4 * side
    px = np.asarray(_gray(im).resize((n, n), Image.Resampling.LANCZOS, reducing_gap=2.0), dtype=np.float64)
    d = _dct_matrix(n)
    low = (d @ px @ d.T)[:side, :side].ravel()
    return np.packbits(low > np.median(low[1:]))


class ImageInfo(NamedTuple):
    """What an image file is, before any conversion."""

    width: int
    height: int
    mode: str
    format: str


HASHES: dict[str, Callable[[Image.Image, int], np.ndarray]] = {"dhash": dhash, "phash": phash}


def hash_file(path: str, kind: str = "dhash", bits: int = 256) -> tuple[np.ndarray, ImageInfo]:
    """Hash one image file; raises OSError/ValueError/SyntaxError when it cannot be decoded."""
    with Image.open(path) as im:
        info = ImageInfo(im.width, im.height, im.mode, im.format or "")
        if im.format == "JPEG":
            im.draft("L", (4 * (int(bits**0.5) + 1), 4 * int(bits**0.5)))  # fast JPEG downscale
        im.load()
        return HASHES[kind](im, bits), info


def hash_files(
    paths: list[str], kind: str = "dhash", bits: int = 256, workers: int | None = None
) -> tuple[np.ndarray, list[ImageInfo | None], dict[int, str]]:
    """Hash many files in threads: (hashes (n, bits/8), info per file, {index: error}).

    Unreadable files get an all-zero hash and ``None`` info; their indices are in the dict.
    """
    out = np.zeros((len(paths), bits // 8), dtype=np.uint8)
    infos: list[ImageInfo | None] = [None] * len(paths)
    errors: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            out[i], infos[i] = hash_file(paths[i], kind, bits)
        except FileNotFoundError:
            errors[i] = "file not found"
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            errors[i] = str(e) or type(e).__name__

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(len(paths))))
    return out, infos, errors


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between packed hashes (broadcasting over leading axes)."""
    return _POP8[np.bitwise_xor(a, b)].sum(axis=-1, dtype=np.int32)


def _as_words(hashes: np.ndarray) -> np.ndarray:
    """(n, nbytes) uint8 -> (n, nbytes/8) uint64 when possible (faster popcounts)."""
    h = np.ascontiguousarray(hashes, dtype=np.uint8)
    if h.shape[1] % 8 == 0 and hasattr(np, "bitwise_count"):
        return h.view(np.uint64)
    return h


def _popcount_sum(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint64:
        return np.bitwise_count(x).sum(axis=-1, dtype=np.int32)
    return _POP8[x].sum(axis=-1, dtype=np.int32)


def _brute_pairs(words: np.ndarray, idx: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i<j of `idx` (global indices) within `threshold`, vectorised in row chunks."""
    w = words[idx]
    n = len(idx)
    chunk = max(1, (1 << 22) // max(1, n * w.shape[1]))  # ~32 MB temporaries
    found_i, found_j, found_d = [], [], []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        d = _popcount_sum(w[start:stop, None, :] ^ w[None, :, :])  # (chunk, n)
        rows, cols = np.nonzero(d <= threshold)
        keep = cols > rows + start
        rows, cols = rows[keep], cols[keep]
        found_i.append(idx[rows + start])
        found_j.append(idx[cols])
        found_d.append(d[rows, cols])
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty.astype(np.int32)
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_d)


def near_pairs(
    hashes: np.ndarray, threshold: int, method: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (i < j) whose Hamming distance is at most `threshold`, and the distances.

    ``brute`` compares everything with numpy popcounts in chunks (fine up to ~20k hashes);
    ``buckets`` splits the bits into ``threshold + 1`` segments (by the pigeonhole principle,
    two hashes within `threshold` agree exactly on at least one) and compares only hashes
    that share a segment. Both are exact; ``auto`` picks by size.

    Args:
        hashes: (n, nbytes) packed uint8 hashes.
        threshold: maximum Hamming distance (inclusive).
        method: ``auto``, ``brute`` or ``buckets``.
    """
    n = len(hashes)
    if n < 2:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e.astype(np.int32)
    words = _as_words(hashes)
    if method == "brute" or (method == "auto" and n <= BRUTE_FORCE_MAX):
        i, j, d = _brute_pairs(words, np.arange(n), threshold)
        return _sorted(i, j, d)
    bits = np.unpackbits(np.ascontiguousarray(hashes, dtype=np.uint8), axis=1)
    nseg = min(threshold + 1, bits.shape[1])
    found_i, found_j, found_d = [], [], []
    for seg in np.array_split(np.arange(bits.shape[1]), nseg):
        key = np.packbits(bits[:, seg], axis=1)
        _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        order = np.argsort(inv.ravel(), kind="stable")
        starts = np.cumsum(counts) - counts
        for b in np.nonzero(counts > 1)[0]:
            members = np.sort(order[starts[b] : starts[b] + counts[b]])
            i, j, d = _brute_pairs(words, members, threshold)
            found_i.append(i)
            found_j.append(j)
            found_d.append(d)
    if not found_i:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e.astype(np.int32)
    i, j, d = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_d)
    _, first = np.unique(i.astype(np.int64) * n + j, return_index=True)
    return _sorted(i[first], j[first], d[first])


def _sorted(i: np.ndarray, j: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((j, i))
    return i[order].astype(np.int64), j[order].astype(np.int64), d[order].astype(np.int32)
