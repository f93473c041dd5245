"""Publishing files and folders atomically: write beside the target, then rename over it.

Every file ablate publishes (result tables, saved models, manifests, caches, built data sets)
goes through these two context managers, so a reader never sees a half-written file and a
crash leaves at most a hidden ``.tmp-*`` entry that the next write ignores.

    with atomic_file(path) as tmp:        # tmp: a Path in path's folder
        pq.write_table(table, tmp)
    with atomic_dir(out) as tmp:          # tmp: an empty folder beside out
        (tmp / "manifest.csv").write_text(...)
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "atomic_file", "atomic_write_bytes", "atomic_write_text"]


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    Args:
        path: the file to publish; its folder is created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh(path.parent, f".tmp-{path.stem}-", path.suffix, lambda p: os.close(os.open(p, _NEW_FILE, 0o666)))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Publish `data` as `path` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Publish `text` (UTF-8) as `path` atomically."""
    atomic_write_bytes(path, text.encode())


@contextmanager
def atomic_dir(path: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it becomes `path`.

    Args:
        path: the folder to publish; its parent is created.
        replace: when `path` already exists, swap it out (the old folder is deleted after the
            new one is in place). Without it an existing non-empty `path` is kept and the new
            one discarded: the first writer wins, which is what a cache shared by several
            processes needs (both wrote the same content).

    Raises:
        FileExistsError: never for the first-writer-wins case; the caller checks `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh(path.parent, f".tmp-{path.name}-", "", lambda p: os.mkdir(p, 0o777))
    try:
        yield tmp
        _publish_dir(tmp, path, replace)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _fresh(folder: Path, prefix: str, suffix: str, create: Callable[[Path], None]) -> Path:
    """Create a new, uniquely named entry in `folder`.

    Unlike `tempfile.mkstemp` / `mkdtemp` (mode 0600 / 0700), the entry gets the permissions a
    plain ``open`` or ``mkdir`` would (the umask applies): what is published is for everyone
    who may read the folder.
    """
    for _ in range(100):
        tmp = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            create(tmp)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name in {folder}")


def _publish_dir(tmp: Path, path: Path, replace: bool) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    if not path.exists():
        try:
            os.replace(tmp, path)
            return
        except OSError:
            if not path.exists():  # not a lost race: a real error
                raise
    if not replace:
        return  # another writer got there first; keep theirs
    old = path.parent / f".old-{path.name}-{os.getpid()}"
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
