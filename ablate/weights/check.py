"""The pre-flight check of pretrained weights: before anything trains (`ablate run` checks it
before Ray starts, `ablate trial` before its first trial), every configuration that can run
finds its ImageNet file in the weights folder, and its ``weights_path`` fits its model.
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Iterable
from pathlib import Path

from ablate.config import SweepConfig, TrialConfig, set_paths
from ablate.errors import ModelError

__all__ = ["check_weights", "fetch_command", "imagenet_backbones", "weight_configs"]

WEIGHT_KEYS = frozenset({"backbone", "pretrained", "weights_path"})


def weight_configs(sweep: SweepConfig, variants: list[str] | None = None, data: str | None = None) -> list[TrialConfig]:
    """Every distinct (backbone, pretrained, weights_path) a sweep's stages can run, as configs:
    each combination of the search-space values that set them (grid, choice, combined axes),
    and each ablation variant on each of those (the confirm stage reruns search configurations);
    the probe stage's base is the caller's (`ablate.study.checks.weights_present`).

    Args:
        variants: the ablation variants that run (``--variant``); all when None.
        data: replaces ``data.path`` (``--data``).
    """
    from ablate.search.space import expand_values, is_combined_axis

    base = sweep.trial if data is None else set_paths(sweep.trial, {"data.path": data}, source="--data")
    space = sweep.search.space
    axes = {k: list(d.options) for k, d in space.items() if hasattr(d, "options") and (
        k in WEIGHT_KEYS or (is_combined_axis(k, d) and any(WEIGHT_KEYS & set(v) for v in d.options)))}
    configs = [set_paths(base, expand_values(space, dict(zip(axes, combo, strict=True))), source="search.space")
               for combo in itertools.product(*axes.values())]
    if sweep.ablation is not None:
        changes = [o for name, o in sweep.ablation.variants.items() if not variants or name in variants]
        configs += [set_paths(c, o, source="ablation") for c in list(configs) for o in changes]
    seen: dict[tuple, TrialConfig] = {}
    for c in configs:
        seen.setdefault((c.backbone, c.pretrained, c.weights_path, c.variant, c.model_dump_json()
                         if c.weights_path else None), c)
    return list(seen.values())


def imagenet_backbones(configs: Iterable[TrialConfig]) -> list[str]:
    """The backbones whose ImageNet file the configs read, in first-seen order."""
    return list(dict.fromkeys(c.backbone for c in configs if c.pretrained == "imagenet"))


def fetch_command(backbones: Iterable[str], folder: Path) -> str:
    """The `ablate weights fetch` command that puts the backbones' files in `folder`."""
    return f"ablate weights fetch {' '.join(backbones)} --to {shlex.quote(str(folder))}"


def check_weights(configs: Iterable[TrialConfig], weights_dir: str | Path | None = None) -> None:
    """Every ImageNet file the configs need is in the weights folder, and every ``weights_path``
    is readable and fits its model (keys and shapes).

    Args:
        configs: the configurations that will run (`weight_configs` for a sweep).
        weights_dir: the folder; ``$ABLATE_WEIGHTS_DIR`` or torch.hub's cache when None
            (`ablate.models.weightfile.weights_dir`).

    Raises:
        ModelError: one line naming the missing backbones, where it looked and the
            `ablate weights fetch` command; or a ``weights_path`` that does not fit, and how.
    """
    configs = list(configs)
    backbones = imagenet_backbones(configs)
    if backbones:
        from ablate.models.weightfile import ENV, weights_file
        from ablate.models.weightfile import weights_dir as resolve_dir

        folder = resolve_dir(weights_dir)
        missing = [b for b in backbones if not (folder / weights_file(b)).is_file()]
        if missing:
            files = ", ".join(f"{b} ({weights_file(b)})" for b in missing)
            raise ModelError(
                f"pretrained: imagenet needs weights not in {folder}: {files}; trials never download: on a "
                f"machine with internet run `{fetch_command(missing, folder)}`, then pass --weights-dir "
                f"{shlex.quote(str(folder))} (or set {ENV}) to a folder every node reads")
    classes: dict[str, int] = {}
    for cfg in configs:
        if cfg.weights_path:
            _check_fit(cfg, classes)


def _check_fit(cfg: TrialConfig, classes: dict[str, int]) -> None:
    """``cfg.weights_path`` loads into `cfg`'s model (built without reading any weights)."""
    from ablate.data.datasets import load_samples
    from ablate.data.scenarios import apply_scenario
    from ablate.models import build_model
    from ablate.models.weightfile import fit_problems, load_state_file

    key = cfg.data.model_dump_json()
    if key not in classes:
        samples, _ = load_samples(cfg.data)
        classes[key] = len(apply_scenario(samples, cfg.data.scenario)[0])
    model = build_model(cfg.model_copy(update={"weights_path": None, "pretrained": "none"}), classes[key])
    problems = fit_problems(model.state_dict(), load_state_file(cfg.weights_path))
    if problems:
        raise ModelError(f"weights_path {cfg.weights_path} does not fit {cfg.backbone} ({cfg.variant}, "
                         f"{classes[key]} classes): {problems}")
