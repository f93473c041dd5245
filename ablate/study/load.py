"""Loading a study: a sweep file or a trial YAML, ``--set`` and ``--data`` applied, resolved.

Torch-free unless a tap outside its backbone's listed candidates needs the traced graph.
"""

from __future__ import annotations

from pathlib import Path

from ablate.config import SweepConfig, TrialConfig, apply_overrides, validate_sweep
from ablate.search.sweep import load_sweep, resolve_sweep

__all__ = ["absolute_paths", "load_study", "results_folder", "sweep_probe_base"]


def load_study(
    sweep_or_config: str | Path,
    overrides: list[str] | None = None,
    data: str | None = None,
    *,
    check_space: bool = True,
) -> SweepConfig:
    """Load and resolve a sweep/config with ``--set`` overrides; ``data`` replaces ``data.path``.

    Args:
        check_space: also check every search-space value (``ablate run``); ``ablate trial`` runs
            the base alone and skips it.
    """
    sets = list(overrides or [])
    if data is not None:
        sets.insert(0, f"data.path={data}")
    return load_sweep(sweep_or_config, sets, check_space=check_space)


def results_folder(sweep: SweepConfig, results: str | Path | None = None) -> Path:
    """``results`` as given, else ``results/<sweep name>`` under the working directory."""
    return Path(results) if results is not None else Path("results") / sweep.name


def absolute_paths(sweep: SweepConfig) -> SweepConfig:
    """Every path of the base trial absolute (``data.path``, ``data.cache_dir``, ``weights_path``):
    a trial may run on another node, and a configuration's id is the same from any folder."""
    trial = sweep.trial.model_dump(mode="json")
    data = trial["data"]
    if data["path"] != "synthetic" and "://" not in data["path"]:
        data["path"] = str(Path(data["path"]).expanduser().resolve())
    if data.get("cache_dir"):
        data["cache_dir"] = str(Path(data["cache_dir"]).expanduser().resolve())
    if trial.get("weights_path"):
        trial["weights_path"] = str(Path(trial["weights_path"]).expanduser().resolve())
    if trial == sweep.trial.model_dump(mode="json"):
        return sweep
    return validate_sweep({**sweep.model_dump(mode="json"), "trial": trial}, source=f"sweep {sweep.name}")


def sweep_probe_base(sweep: SweepConfig) -> TrialConfig:
    """The base config of a sweep's ``probe:`` stage: the ``probe.config`` file's trial, or the
    sweep's own trial, with ``probe.overrides`` and ``probe.data`` (default: the trial's data) set."""
    probe = sweep.probe
    assert probe is not None
    data = probe.data or sweep.trial.data.path
    if data != "synthetic" and "://" not in data:
        data = str(Path(data).expanduser().resolve())  # the probe's trials may run on another node
    if probe.config is not None:
        return load_study(probe.config, probe.overrides, data, check_space=False).trial
    raw = apply_overrides({**sweep.model_dump(mode="json"), "probe": None}, probe.overrides)
    raw["trial"]["data"]["path"] = data
    where = f"sweep {sweep.name} probe"
    return resolve_sweep(validate_sweep(raw, source=where), check_space=False, source=where).trial
