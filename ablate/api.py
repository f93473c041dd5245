"""The library surface the CLI calls: each function does one user-level job.

A thin facade: a study is loaded, checked and planned by `ablate.study` (`plan`), and carried
out by an executor: `ablate.runners.local` here (``ablate trial``, ``ablate probe``) or
`ablate.runners.ray` (``ablate run``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from rich.console import Console

from ablate.config import SweepConfig, TrialConfig, read_yaml, search_space_dirs
from ablate.errors import ConfigError
from ablate.study import Plan, Study, load_study, phase_note, plan_study, results_folder
from ablate.study.checks import Command

__all__ = [
    "cam",
    "check_study",
    "compact_results",
    "default_results_dir",
    "expand_seeds",
    "list_sweeps",
    "load_with_data",
    "loso_sources",
    "phase_note",
    "plan",
    "robustness",
    "run_leave_one_source_out",
    "run_source_probe",
    "run_sweep",
    "run_trials",
]


def default_results_dir(sweep: SweepConfig) -> Path:
    """``results/<sweep name>`` under the working directory."""
    return results_folder(sweep)


def load_with_data(
    sweep_or_config: str | Path,
    overrides: list[str] | None = None,
    data: str | None = None,
    *,
    check_space: bool = True,
) -> SweepConfig:
    """Load and resolve a sweep/config with ``--set`` overrides; ``data`` replaces ``data.path``
    (`ablate.study.load_study`)."""
    return load_study(sweep_or_config, overrides, data, check_space=check_space)


def expand_seeds(cfg: TrialConfig) -> list[TrialConfig]:
    """One config per seed of ``seeds`` (or the config itself when ``seeds`` is unset)."""
    return cfg.per_seed()


def plan(
    command: Command,
    sweep_or_config: str | Path,
    *,
    overrides: list[str] | None = None,
    data: str | None = None,
    results: str | Path | None = None,
    variants: list[str] | None = None,
    address: str | None = None,
    local: bool = False,
    track: list[str] | None = None,
) -> Plan:
    """The plan of ``ablate trial`` or ``ablate run`` (``--dry-run`` prints it), every check made
    (`ablate.study.plan_study`); Ray-free, torch-free. `track`: ``--track`` values."""
    return plan_study(command, sweep_or_config, overrides=overrides, data=data, results=results,
                      variants=variants, address=address, local=local, track=track)


def _say_notes(p: Plan, console: Console | None) -> None:
    for note in p.notes:
        (console or Console(stderr=True)).print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)


def run_trials(
    sweep_or_config: str | Path,
    *,
    overrides: list[str] | None = None,
    data: str | None = None,
    results: str | Path | None = None,
    variants: list[str] | None = None,
    console: Console | None = None,
    track: list[str] | None = None,
) -> list[Any]:
    """`ablate trial`: train the sweep's base configuration here, once per seed (and fold).

    With ``data.folds = k > 1`` each seed runs k fits, fold i validating on the i-th fold
    (Table 4's protocol); every fit is a trials row with its ``fold``, and the report picks
    the fold with the best validation accuracy for the test number.

    With `variants` (names from the sweep's ``ablation:``, or ``all``), each named variant
    runs instead of the base, once per seed; rows carry ``ablation_variant``.

    With ``data.hold_out_source: each`` each configuration runs in distribution and once per
    source that can be held out, like ``seeds``.

    With `track` (``--track mlflow[=URI]``, ``wandb[=PROJECT]``) or the file's ``tracking:``, each
    trial is also one run in each tracker (docs/tracking.md).

    Returns:
        The `TrialOutcome` of each variant, seed and fold, in order.
    """
    p = plan("trial", sweep_or_config, overrides=overrides, data=data, results=results, variants=variants,
             track=track)
    _say_notes(p, console)
    from ablate.runners.local import run_plan

    return run_plan(p, console)


def compact_results(results: str | Path) -> dict[str, int]:
    """`ablate results compact`: merge a results folder's per-trial files into one file per
    table (`ablate.results.compact`), holding the folder's lock.

    Returns:
        Per-trial files merged, by table.
    """
    from ablate.results import compact
    from ablate.results.lock import results_lock

    if not Path(results, "trials").is_dir() and not Path(results, "probes").is_dir():
        raise ConfigError(f"{results} is not a results folder (no trials/ or probes/ in it)")
    with results_lock(results):
        return compact(results)


def run_sweep(
    sweep_or_config: str | Path,
    *,
    overrides: list[str] | None = None,
    data: str | None = None,
    results: str | Path | None = None,
    local: bool = False,
    address: str | None = None,
    storage: str | None = None,
    resume: bool = False,
    variants: list[str] | None = None,
    console: Console | None = None,
    track: list[str] | None = None,
) -> Any:
    """`ablate run`: every stage of the sweep (probe, search, confirm, ablation) with Ray Tune,
    each trial on ``resources.workers`` DDP workers.

    Args:
        variants: the ablation variants to run (``--variant``); all when None.
        track: ``--track`` values (``mlflow[=URI]``, ``wandb[=PROJECT]``): each Tune trial is also one
            run in each tracker, besides the file's ``tracking:`` (docs/tracking.md).

    ``data.hold_out_source: each`` becomes a grid axis of the search over the sources that can be
    held out (and null), resolved from the data by the plan.

    Raises:
        ConfigError, DataError: the file, ``--variant``, the data or the ``probe:`` section do not
            check (`ablate.study.preflight`), before Ray starts.

    Returns:
        The sweep's trials table (pandas), every stage.
    """
    p = plan("run", sweep_or_config, overrides=overrides, data=data, results=results, variants=variants,
             address=address, local=local, track=track)
    _say_notes(p, console)
    from ablate.runners.ray import run_sweep as ray_run_sweep

    return ray_run_sweep(p.sweep, plan=p, results_dir=p.results_dir, address=address, storage=storage, local=local,
                         resume=resume, console=console, source=str(sweep_or_config), variants=variants)


def check_study(sweep: SweepConfig, variants: list[str] | None, data: str | None = None) -> None:
    """What `ablate run` checks before Ray starts, beyond the file (`ablate.study.preflight`):
    the search metric, ``--variant`` names, the pretrained weights files, the data (it lists images, the first image of each
    class decodes, the folds can be made) and the ``probe:`` section (its data has sources to
    tell apart). The results folder is not checked here.

    Raises:
        ConfigError: an unknown variant, or ``--variant`` on a sweep without ``ablation:``.
        DataError: a missing data path or first image, an unreadable image, more folds than
            images or patients in a class; a probe of a class with one source.
        ModelError: pretrained weights not in the weights folder, a ``weights_path`` that does not fit.
    """
    from ablate.study.checks import (
        data_readable,
        probe_runs,
        search_metric,
        variants_known,
        weights_present,
    )

    if data is not None:
        sweep = sweep.model_copy(update={"trial": sweep.trial.model_copy(
            update={"data": sweep.trial.data.model_copy(update={"path": data})})})
    study = Study(sweep, "run", Path(), list(variants or []))
    for check in (search_metric, variants_known, weights_present, data_readable, probe_runs):
        check(study)


def run_source_probe(data: str, **kwargs: Any) -> Any:
    """`ablate probe source` (`ablate.runners.local_probes.run_source_probe`)."""
    from ablate.runners.local_probes import run_source_probe as run

    return run(data, **kwargs)


def loso_sources(sweep_or_config: str | Path, **kwargs: Any) -> tuple[list[str], list[str]]:
    """`ablate probe loso --dry-run` (`ablate.runners.local_probes.loso_sources`)."""
    from ablate.runners.local_probes import loso_sources as sources

    return sources(sweep_or_config, **kwargs)


def run_leave_one_source_out(sweep_or_config: str | Path, **kwargs: Any) -> list[Any]:
    """`ablate probe loso` (`ablate.runners.local_probes.run_leave_one_source_out`)."""
    from ablate.runners.local_probes import run_leave_one_source_out as run

    return run(sweep_or_config, **kwargs)


def list_sweeps() -> list[dict[str, str]]:
    """Every sweep file found: name, one-line description, path."""
    seen: dict[str, dict[str, str]] = {}
    for d in search_space_dirs():
        for f in sorted(d.glob("*.y*ml")):
            if f.stem in seen:
                continue
            try:
                desc = str(read_yaml(f).get("description", "")).strip().splitlines()[0:1]
            except Exception:  # noqa: BLE001 - a broken file still shows up, flagged
                desc = ["(unreadable: run `ablate trial` on it to see the error)"]
            seen[f.stem] = {"name": f.stem, "description": desc[0] if desc else "", "path": str(f)}
    return list(seen.values())


def _saved_trials(results: str | Path, trial_ids: list[str] | None) -> list[str]:
    from ablate.errors import AblateError
    from ablate.report import resolve_results

    root = resolve_results(results)
    saved = sorted(p.stem for p in (root / "models").glob("*.pt"))
    if not trial_ids:
        if not saved:
            raise AblateError(f"no saved models in {root / 'models'}; train with `ablate trial` first")
        return saved
    unknown = [t for t in trial_ids if t not in saved]
    if unknown:
        raise AblateError(f"no saved model for trial {unknown[0]!r} in {root}; saved: {', '.join(saved) or 'none'}")
    return trial_ids


def robustness(
    results: str | Path, *, trial_ids: list[str] | None = None, levels: list[tuple[float, float]] | None = None,
    seed: int = 0, data: str | None = None, console: Console | None = None,
) -> Any:
    """`ablate robustness`: the paper's noise levels (plus `levels`) on saved models' test sets.

    Rows go to ``RESULTS/robustness/<trial_id>.parquet`` (replacing earlier ones).
    """
    import pandas as pd

    from ablate.data import normalize_batch, prepare_data
    from ablate.engine import select_device
    from ablate.engine.robustness import paper_levels, robustness_eval
    from ablate.report import resolve_results
    from ablate.results.models import load_model
    from ablate.results.schema import table_from_rows
    from ablate.results.store import _atomic_write

    root = resolve_results(results)
    console = console or Console(stderr=True)
    all_rows = []
    for tid in _saved_trials(root, trial_ids):
        model, cfg, _ = load_model(root, tid)
        dcfg = cfg.data if data is None else cfg.data.model_copy(update={"path": data})
        d = prepare_data(dcfg, cfg.input_size, progress=lambda m: console.print(f"[dim]{m}[/]"))
        device = select_device(cfg.device)
        lv = paper_levels() + [("custom", float(n), float(m)) for n, m in (levels or [])]
        preprocess = functools.partial(normalize_batch, kind=cfg.data.normalize)
        rows = [{"trial_id": tid, **r} for r in robustness_eval(
            model.to(device), d.test.images, d.test.labels, lv, preprocess,
            device, cfg.eval_batch_size or cfg.batch_size, seed)]
        _atomic_write(table_from_rows("robustness", rows), root / "robustness" / f"{tid}.parquet")
        console.print(f"{tid}: clean {rows[0]['accuracy']:.4f}, " + ", ".join(
            f"{r['form']} n={r['n']:g} m={r['m']:g}: {r['accuracy']:.4f}" for r in rows[1:]), soft_wrap=True)
        all_rows += rows
    return pd.DataFrame(all_rows)


def cam(
    results: str | Path, trial_id: str, *, layer: str | None = None, out: str | Path | None = None,
    data: str | None = None, console: Console | None = None,
) -> list[Path]:
    """`ablate cam`: Grad-CAM of one test image per class for a saved model (Fig. 7)."""
    from ablate.data import normalize_batch, prepare_data
    from ablate.errors import AblateError
    from ablate.report import resolve_results
    from ablate.report.cam import default_layer, grad_cam, overlay, save_cam_grid
    from ablate.results.models import load_model

    root = resolve_results(results)
    _saved_trials(root, [trial_id])
    model, cfg, names = load_model(root, trial_id)
    layer = layer or default_layer(model)
    if layer not in dict(model.named_modules()):
        raise AblateError(f"unknown layer {layer!r}; e.g. {default_layer(model)!r} (any module name of the model)")
    dcfg = cfg.data if data is None else cfg.data.model_copy(update={"path": data})
    d = prepare_data(dcfg, cfg.input_size)
    images = {}
    for c, name in enumerate(names):
        idx = (d.test.labels == c).nonzero()
        if len(idx) == 0:
            continue
        img = d.test.images[int(idx[0])]
        x = normalize_batch(img.unsqueeze(0), cfg.data.normalize)
        heat = grad_cam(model, x, c, layer)
        images[name] = overlay(img.permute(1, 2, 0).numpy(), heat)
    out_dir = Path(out) if out is not None else root / "cam" / trial_id
    paths = save_cam_grid(images, out_dir)
    (console or Console(stderr=True)).print(f"Grad-CAM on {layer}: {len(images)} classes -> {out_dir}", soft_wrap=True)
    return paths
