"""`ablate weights fetch` and `ablate weights list`: fill a weights folder where there is
internet, and see what it holds and which sweeps it serves.

Downloads go through torch.hub's `download_url_to_file` (a temporary file beside the target,
moved into place only when complete and, unless ``verify`` is off, when its SHA-256 starts with
the prefix in torchvision's file name), so a refused or interrupted file leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ablate.errors import ConfigError
from ablate.models.weightfile import (
    hash_prefix,
    sha256_file,
    weights_dir,
    weights_file,
    weights_url,
)

__all__ = ["Fetched", "WeightsFile", "covered_sweeps", "fetch_weights", "list_weights", "targets_backbones"]


@dataclass(frozen=True)
class Fetched:
    """What happened to one backbone's file: ``fetched``, ``present``, ``unverified`` (kept with
    ``--no-verify`` although its hash differs), ``refused`` (its hash differs: nothing kept) or
    ``failed`` (the download failed: nothing kept); `detail` says more."""

    backbone: str
    path: Path
    status: str
    detail: str = ""


def targets_backbones(targets: Iterable[str]) -> list[str]:
    """Backbone names as given, and for each sweep name or file, the backbones whose ImageNet
    weights its configurations use (`ablate.weights.check.weight_configs`).

    Raises:
        ConfigError: a target that is neither a backbone nor a sweep.
    """
    from ablate.models.specs import backbone_names
    from ablate.search.sweep import load_sweep
    from ablate.weights.check import imagenet_backbones, weight_configs

    out: list[str] = []
    for t in targets:
        if t in backbone_names():
            out.append(t)
            continue
        try:
            sweep = load_sweep(t)
        except ConfigError as e:
            raise ConfigError(f"{t!r} is neither a backbone ({', '.join(backbone_names())}) nor a sweep: {e}") from None
        out += imagenet_backbones(weight_configs(sweep))
    return list(dict.fromkeys(out))


def fetch_weights(backbones: list[str], to: str | Path | None = None, *, mirror: str | None = None,
                  verify: bool = True, progress: bool = True,
                  on_done: Callable[[Fetched], None] | None = None) -> list[Fetched]:
    """Download each backbone's ImageNet file into the weights folder (files already there are
    kept, and with `verify` checked).

    Args:
        backbones: registered backbone names.
        to: the folder; ``$ABLATE_WEIGHTS_DIR`` or torch.hub's cache when None.
        mirror: a base URL serving torchvision's file names, instead of download.pytorch.org.
        verify: refuse a file whose SHA-256 does not start with the prefix in its name.
        progress: a progress bar per file on stderr.
        on_done: told about each file as it ends.

    Returns:
        One `Fetched` per backbone, in order; refused and failed downloads are reported, not raised.
    """
    from urllib.error import URLError

    from torch.hub import download_url_to_file

    folder = weights_dir(to)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for b in backbones:
        name = weights_file(b)
        path, want = folder / name, hash_prefix(name)
        url = weights_url(b) if mirror is None else f"{mirror.rstrip('/')}/{name}"
        if path.is_file():
            if verify and want and not sha256_file(path).startswith(want):
                done = Fetched(b, path, "refused", f"already there, but its SHA-256 does not start with {want} (not "
                                                   "torchvision's file): delete it to fetch it again, or pass --no-verify")
            else:
                done = Fetched(b, path, "present", "already there")
        else:
            try:
                download_url_to_file(url, str(path), want if verify else None, progress=progress)
            except RuntimeError as e:  # torch.hub's hash check
                done = Fetched(b, path, "refused", f"{url}: {e}; not torchvision's file: nothing kept "
                                                   "(pass --no-verify to keep it anyway)")
            except (URLError, OSError, ValueError) as e:
                done = Fetched(b, path, "failed", f"cannot download {url}: {getattr(e, 'reason', e)}")
            else:
                done = Fetched(b, path, "fetched", url)
                if not verify and want and not sha256_file(path).startswith(want):
                    done = Fetched(b, path, "unverified", f"{url}: SHA-256 does not start with {want} (not "
                                                          "torchvision's file; kept because of --no-verify)")
        out.append(done)
        if on_done is not None:
            on_done(done)
    return out


@dataclass(frozen=True)
class WeightsFile:
    """A backbone's file in a weights folder: size and whether its hash matches its name."""

    backbone: str
    file: str
    mb: float | None  # None: not there
    verified: bool | None  # None: not there


def list_weights(folder: str | Path | None = None, *, check_hash: bool = True) -> tuple[Path, list[WeightsFile]]:
    """Each registered backbone's ImageNet file in the folder (present or not)."""
    from ablate.models.specs import backbone_names

    root = weights_dir(folder)
    rows = []
    for b in backbone_names():
        name = weights_file(b)
        path = root / name
        if not path.is_file():
            rows.append(WeightsFile(b, name, None, None))
            continue
        want = hash_prefix(name)
        ok = sha256_file(path).startswith(want) if (check_hash and want) else None
        rows.append(WeightsFile(b, name, path.stat().st_size / 1e6, ok))
    return root, rows


def covered_sweeps(present: set[str]) -> list[tuple[str, list[str]]]:
    """(sweep name, backbones it still lacks) for every sweep found that uses ImageNet weights."""
    from ablate.config import search_space_dirs
    from ablate.search.sweep import load_sweep
    from ablate.weights.check import imagenet_backbones, weight_configs

    files: dict[str, Path] = {}
    for d in search_space_dirs():
        for f in sorted(d.glob("*.y*ml")):
            files.setdefault(f.stem, f)  # the first folder's file wins, as for a sweep name
    out = []
    for name, f in files.items():
        try:
            needs = imagenet_backbones(weight_configs(load_sweep(f)))
        except Exception:  # noqa: BLE001 - a file that does not load is `ablate trial`'s to explain
            continue
        if needs:
            out.append((name, [b for b in needs if b not in present]))
    return out
