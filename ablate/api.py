"""The library surface the CLI calls: each function does one user-level job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from ablate.config import SweepConfig, TrialConfig, _read_yaml, load_sweep, search_space_dirs

__all__ = ["default_results_dir", "expand_seeds", "list_sweeps", "load_with_data", "run_trials"]


def default_results_dir(sweep: SweepConfig) -> Path:
    """``results/<sweep name>`` under the working directory."""
    return Path("results") / sweep.name


def load_with_data(sweep_or_config: str | Path, overrides: list[str] | None = None, data: str | None = None) -> SweepConfig:
    """Load a sweep/config with ``--set`` overrides; ``data`` replaces ``data.path``."""
    sets = list(overrides or [])
    if data is not None:
        sets.insert(0, f"data.path={data}")
    return load_sweep(sweep_or_config, sets)


def expand_seeds(cfg: TrialConfig) -> list[TrialConfig]:
    """One config per seed of ``seeds`` (or the config itself when ``seeds`` is unset)."""
    if not cfg.seeds:
        return [cfg]
    return [cfg.model_copy(update={"seed": s, "seeds": None}) for s in cfg.seeds]


def run_trials(
    sweep_or_config: str | Path,
    *,
    overrides: list[str] | None = None,
    data: str | None = None,
    results: str | Path | None = None,
    console: Console | None = None,
) -> list[Any]:
    """`ablate trial`: train the sweep's base configuration here, once per seed (and fold).

    With ``data.folds = k > 1`` each seed runs k fits, fold i validating on the i-th fold
    (Table 4's protocol); every fit is a trials row with its ``fold``, and the report picks
    the fold with the best validation accuracy for the test number.

    Returns:
        The `TrialOutcome` of each seed and fold, in order.
    """
    from ablate.runners.local import run_local_trial

    sweep = load_with_data(sweep_or_config, overrides, data)
    results_dir = Path(results) if results is not None else default_results_dir(sweep)
    return [
        run_local_trial(cfg, results_dir, sweep=sweep.name, fold=fold, console=console)
        for cfg in expand_seeds(sweep.trial)
        for fold in (range(cfg.data.folds) if cfg.data.folds > 1 else [None])
    ]


def list_sweeps() -> list[dict[str, str]]:
    """Every sweep file found: name, one-line description, path."""
    seen: dict[str, dict[str, str]] = {}
    for d in search_space_dirs():
        for f in sorted(d.glob("*.y*ml")):
            if f.stem in seen:
                continue
            try:
                desc = str(_read_yaml(f).get("description", "")).strip().splitlines()[0:1]
            except Exception:  # noqa: BLE001 - a broken file still shows up, flagged
                desc = ["(unreadable: run `ablate trial` on it to see the error)"]
            seen[f.stem] = {"name": f.stem, "description": desc[0] if desc else "", "path": str(f)}
    return list(seen.values())
