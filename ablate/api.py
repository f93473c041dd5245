"""The library surface the CLI calls: each function does one user-level job."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from rich.console import Console

from ablate.config import SweepConfig, TrialConfig, read_yaml, search_space_dirs
from ablate.errors import ConfigError
from ablate.search.sweep import load_sweep

__all__ = [
    "cam",
    "check_study",
    "compact_results",
    "default_results_dir",
    "expand_seeds",
    "list_sweeps",
    "load_with_data",
    "robustness",
    "run_sweep",
    "run_trials",
]


def default_results_dir(sweep: SweepConfig) -> Path:
    """``results/<sweep name>`` under the working directory."""
    return Path("results") / sweep.name


def load_with_data(
    sweep_or_config: str | Path,
    overrides: list[str] | None = None,
    data: str | None = None,
    *,
    check_space: bool = True,
) -> SweepConfig:
    """Load and resolve a sweep/config with ``--set`` overrides; ``data`` replaces ``data.path``.

    Torch-free unless a tap outside its backbone's listed candidates needs the traced graph.
    """
    sets = list(overrides or [])
    if data is not None:
        sets.insert(0, f"data.path={data}")
    return load_sweep(sweep_or_config, sets, check_space=check_space)


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
    variants: list[str] | None = None,
    console: Console | None = None,
) -> list[Any]:
    """`ablate trial`: train the sweep's base configuration here, once per seed (and fold).

    With ``data.folds = k > 1`` each seed runs k fits, fold i validating on the i-th fold
    (Table 4's protocol); every fit is a trials row with its ``fold``, and the report picks
    the fold with the best validation accuracy for the test number.

    With `variants` (names from the sweep's ``ablation:``, or ``all``), each named variant
    runs instead of the base, once per seed; rows carry ``ablation_variant``.

    With ``data.hold_out_source: each`` each configuration runs in distribution and once per
    source that can be held out (`ablate.probe.loso.expand_hold_out`), like ``seeds``.

    Returns:
        The `TrialOutcome` of each variant, seed and fold, in order.
    """
    sweep = load_with_data(sweep_or_config, overrides, data, check_space=False)  # before torch loads
    from ablate.results.lock import check_free

    results_dir = Path(results) if results is not None else default_results_dir(sweep)
    check_free(results_dir)  # a folder another run writes: refused now, not after the checks below
    _note_if_run_would_refuse(sweep, console)
    if (note := phase_note(sweep.trial)) is not None:
        (console or Console(stderr=True)).print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)

    from ablate.probe.loso import expand_hold_out
    from ablate.results import compact
    from ablate.results.lock import results_lock
    from ablate.runners.local import run_local_trial
    from ablate.search.ablation import expand_ablation

    if variants:
        named = expand_ablation(sweep, None if variants == ["all"] else variants)
    else:
        named = [(None, sweep.trial)]
    named = [(name, held) for name, base in named for held in expand_hold_out(base)]  # before anything is written
    from ablate.weights import check_weights

    check_weights(cfg for _, cfg in named)  # pretrained files here (trials never download), before any data decodes
    with results_lock(results_dir):  # one writer per results folder
        outcomes = [
            run_local_trial(cfg, results_dir, sweep=sweep.name, fold=fold, console=console,
                            extra_columns=None if name is None else {"stage": "ablation", "ablation_variant": name})
            for name, base in named
            for cfg in expand_seeds(base)
            for fold in (range(cfg.data.folds) if cfg.data.folds > 1 else [None])
        ]
        compact(results_dir)  # one file per table: pd.read_parquet reads it whole
        return outcomes


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


def phase_note(cfg: TrialConfig) -> str | None:
    """One line when an optimizer phase never runs in the trial's epochs (``--set epochs=2`` on
    the paper's Adam-20-then-SGD schedule), else None."""
    plan = cfg.phase_plan()
    idle = [i for i in range(len(cfg.phases)) if i not in plan]
    if not idle:
        return None
    i = idle[0]
    took = ", ".join(f"phase {j} ({cfg.phases[j].optimizer}) takes {plan.count(j)}" for j in sorted(set(plan)))
    return (f"phase {i} ({cfg.phases[i].optimizer}) never runs in {cfg.epochs} epoch(s) ({took}); "
            f"to hand over, set phases.{i - 1}.epochs below epochs")


def _note_if_run_would_refuse(sweep: SweepConfig, console: Console | None) -> None:
    """`ablate trial` runs the base alone; it says in one line when `ablate run` would refuse the
    file (a search space or metric that does not check), so the mistake shows before a sweep."""
    from ablate.search.sweep import check_metric, resolve_sweep

    try:
        resolve_sweep(sweep, check_space=True, source=sweep.name)
        check_metric(sweep)
    except ConfigError as e:
        (console or Console(stderr=True)).print(
            f"[yellow]note:[/] training the base trial; `ablate run` would refuse this file: {e}",
            highlight=False, soft_wrap=True)


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
) -> Any:
    """`ablate run`: every stage of the sweep (probe, search, confirm, ablation) with Ray Tune,
    each trial on ``resources.workers`` DDP workers.

    Args:
        variants: the ablation variants to run (``--variant``); all when None.

    ``data.hold_out_source: each`` becomes a grid axis of the search over the sources that can be
    held out (and null), resolved from the data here (`ablate.probe.loso.hold_out_axis`).

    Raises:
        ConfigError, DataError: the file, ``--variant``, the data or the ``probe:`` section do not
            check (`check_study`), before Ray starts.

    Returns:
        The sweep's trials table (pandas), every stage.
    """
    sweep = load_with_data(sweep_or_config, overrides)  # a bad file fails before Ray loads
    from ablate.results.lock import check_free

    results_dir = Path(results) if results is not None else default_results_dir(sweep)
    check_free(results_dir)  # a folder another run writes: refused now, not after the data checks and Ray's imports
    if address and not local:
        from ablate.runners.address import probe

        probe(address)  # a mistyped head address: one line now, not after the data checks
    from ablate.probe.loso import hold_out_axis

    sweep = hold_out_axis(sweep, data)
    check_study(sweep, variants, data)
    if (note := phase_note(sweep.trial)) is not None and "phases.0.epochs" not in sweep.search.space:
        (console or Console(stderr=True)).print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)

    from ablate.runners.ray import run_sweep as ray_run_sweep

    return ray_run_sweep(sweep, results_dir=results_dir, address=address, storage=storage, local=local,
                         resume=resume, data_override=data, console=console, source=str(sweep_or_config),
                         variants=variants)


def check_study(sweep: SweepConfig, variants: list[str] | None, data: str | None = None) -> None:
    """What `ablate run` checks before Ray starts, beyond the file: the search metric,
    ``--variant`` names, the data (it lists images, the first image of each class decodes,
    the folds can be made) and the ``probe:`` section (its data has sources to tell apart).

    Raises:
        ConfigError: an unknown variant, or ``--variant`` on a sweep without ``ablation:``.
        DataError: a missing data path or first image, an unreadable image, more folds than
            images or patients in a class; a probe of a class with one source.
        ModelError: pretrained weights not in the weights folder, a ``weights_path`` that does not fit.
    """
    from ablate.search.sweep import check_metric

    check_metric(sweep)
    if variants:
        if sweep.ablation is None:
            raise ConfigError(f"--variant: sweep {sweep.name!r} has no `ablation:` section; drop --variant")
        from ablate.search.ablation import expand_ablation

        expand_ablation(sweep, variants)
    from ablate.weights import check_weights, weight_configs

    check_weights(weight_configs(sweep, variants, data))  # every ImageNet file / weights_path the stages read
    from ablate.data.precheck import check_data

    check_data(sweep.trial.data if data is None else sweep.trial.data.model_copy(update={"path": data}))
    if sweep.probe is not None:  # a probe that cannot run (a class with one source) fails here, not in Ray
        from ablate.probe.source import plan_source_probe, sweep_probe_base

        trial = sweep.trial.model_copy(update={"data": sweep.trial.data.model_copy(update={"path": data})})
        plan_source_probe(sweep_probe_base(sweep if data is None else sweep.model_copy(update={"trial": trial})),
                          sweep.probe.within)


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
