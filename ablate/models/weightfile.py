"""The weights folder: where pretrained files live, their torchvision names, and reading them.

A backbone's ImageNet weights are torchvision's file (``get_model_weights(name).DEFAULT.url``),
kept under its own name (``resnet18-f37072fd.pth``: the part after the last ``-`` is the start
of its SHA-256, as torch.hub checks it). The folder is ``$ABLATE_WEIGHTS_DIR`` when set (a
path every node mounts), else torch.hub's cache (``<torch hub dir>/checkpoints``), where
torchvision itself would have put the file. Trials read from it and never download.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ablate.errors import ModelError

__all__ = [
    "ENV",
    "fit_problems",
    "hash_prefix",
    "load_state_file",
    "pretrained_state",
    "sha256_file",
    "weights_dir",
    "weights_file",
    "weights_url",
]

ENV = "ABLATE_WEIGHTS_DIR"
_HASH = re.compile(r"-([a-f0-9]+)\.")  # torch.hub.HASH_REGEX: the hash prefix in a file name


def weights_dir(folder: str | Path | None = None) -> Path:
    """`folder`, else ``$ABLATE_WEIGHTS_DIR``, else ``<torch hub dir>/checkpoints`` (absolute)."""
    if folder is None:
        folder = os.environ.get(ENV) or None
    if folder is None:
        import torch.hub

        folder = Path(torch.hub.get_dir()) / "checkpoints"
    return Path(folder).expanduser().resolve()


def weights_url(backbone: str) -> str:
    """torchvision's URL of the backbone's default ImageNet weights."""
    import torchvision

    return str(torchvision.models.get_model_weights(backbone).DEFAULT.url)


def weights_file(backbone: str) -> str:
    """The file name of the backbone's ImageNet weights (``resnet18-f37072fd.pth``)."""
    return Path(urlparse(weights_url(backbone)).path).name


def hash_prefix(file_name: str) -> str | None:
    """The SHA-256 prefix torchvision's file name carries, if any."""
    m = _HASH.search(file_name)
    return m.group(1) if m else None


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_state_file(path: str | Path) -> dict[str, Any]:
    """A state dict saved with ``torch.save`` (``{"model": ...}`` unwrapped), read with
    ``weights_only=True``.

    Raises:
        ModelError: the file cannot be read as a state dict.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file: one line
        raise ModelError(f"cannot read weights file {path}: {str(e).strip().splitlines()[0]}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ModelError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    return state


# torchvision's DenseNet files keep the old names ``...denselayer1.norm.1.weight``; its loader
# (torchvision/models/densenet.py, `_load_state_dict`) renames them to ``norm1.weight``.
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def pretrained_state(backbone: str, folder: str | Path | None = None) -> dict[str, Any]:
    """The backbone's ImageNet state dict, read from the weights folder (no network).

    Raises:
        ModelError: the file is not in the folder (with the command that fetches it), or unreadable.
    """
    root = weights_dir(folder)
    path = root / weights_file(backbone)
    if not path.is_file():
        raise ModelError(f"ImageNet weights of {backbone} not found: {path}; trials never download: fetch them with "
                         f"`ablate weights fetch {backbone} --to {root}` and pass --weights-dir {root} "
                         f"(or set {ENV})")
    state = load_state_file(path)
    if backbone.startswith("densenet"):
        state = {(f"{m.group(1)}{m.group(2)}" if (m := _DENSENET_OLD_KEY.match(k)) else k): v for k, v in state.items()}
    return state


def fit_problems(expected: Mapping[str, Any], given: Mapping[str, Any], limit: int = 3) -> str | None:
    """What keeps state dict `given` from loading into a model whose state dict is `expected`
    (missing keys, unexpected keys, shapes that differ), on one line; None when it fits."""
    def few(keys: list[str]) -> str:
        return ", ".join(keys[:limit]) + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")

    # BatchNorm fills a missing ``num_batches_tracked`` (files saved before PyTorch 0.4.1, such as
    # torchvision's DenseNet weights, lack it), as `load_state_dict` does
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in expected]
    shapes = [f"{k} {tuple(given[k].shape)} vs {tuple(expected[k].shape)}" for k in expected
              if k in given and hasattr(given[k], "shape") and tuple(given[k].shape) != tuple(expected[k].shape)]
    parts = [f"{what}: {few(keys)}" for what, keys in
             (("missing keys", missing), ("unexpected keys", unexpected), ("shapes differ (file vs model)", shapes))
             if keys]
    return "; ".join(parts) or None
