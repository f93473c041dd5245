"""Pretrained weights: fetched once where there is internet, checked before anything trains,
read by every trial from one folder (``--weights-dir`` / ``$ABLATE_WEIGHTS_DIR``, else torch.hub's
cache), never downloaded by a trial.

* `ablate.models.weightfile`: the folder, torchvision's file names, reading a file (torch inside).
* `ablate.weights.check`: the pre-flight check (`check_weights`) and what a sweep needs.
* `ablate.weights.fetch`: ``ablate weights fetch`` and ``ablate weights list``.
"""

from __future__ import annotations

from ablate.models.weightfile import ENV, pretrained_state, weights_dir, weights_file
from ablate.weights.check import check_weights, fetch_command, imagenet_backbones, weight_configs

__all__ = [
    "ENV",
    "check_weights",
    "fetch_command",
    "imagenet_backbones",
    "pretrained_state",
    "weight_configs",
    "weights_dir",
    "weights_file",
]
