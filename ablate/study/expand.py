"""What a study runs, expanded from its file: hold-outs, seeds, folds, ablation variants, the probe.

The one place these are expanded; both executors (``ablate trial`` here, ``ablate run`` on Ray)
carry out the result (`ablate.study.plan`).
"""

from __future__ import annotations

from pathlib import Path

from ablate.config import SweepConfig, TrialConfig, validate_sweep
from ablate.errors import ConfigError
from ablate.models.resolve import resolve
from ablate.probe.loso import EACH, each_source
from ablate.probe.source import ProbePlan
from ablate.search.ablation import expand_ablation
from ablate.search.stages import StageTrial, ablation_trials, fold_values
from ablate.search.sweep import resolve_sweep

_HELD = "data.hold_out_source"

__all__ = ["expand_hold_out", "hold_out_axis", "local_trials", "probe_trials"]


def expand_hold_out(cfg: TrialConfig, sources: list[str] | None = None) -> list[TrialConfig]:
    """``data.hold_out_source: each`` (as ``ablate trial`` runs it): the configuration in
    distribution (``null``, the reference of the report's leave-one-source-out gap), then once
    per source that can be held out; any other value: ``[cfg]``.

    Args:
        sources: the sources that can be held out, when known (else read from the data).

    Raises:
        DataError: no source can be held out.
    """
    if cfg.data.hold_out_source != EACH:
        return [cfg]
    return [cfg.model_copy(update={"data": cfg.data.model_copy(update={"hold_out_source": src})})
            for src in [None, *(each_source(cfg.data) if sources is None else sources)]]


def hold_out_axis(sweep: SweepConfig, data: str | None = None, sources: list[str] | None = None) -> SweepConfig:
    """``data.hold_out_source: each`` as ``ablate run`` runs it, resolved from the data (`data`: the
    ``--data`` override) before Ray starts; the sweep unchanged without ``each``:

    * in the trial: the grid axis ``data.hold_out_source: {grid: [null, <each source that can be
      held out>]}`` of the search;
    * in an ablation variant (``held-out: {data.hold_out_source: each}``): one variant per such
      source, ``held-out-<source>``, in the variant's place (the base is the in-distribution run).

    Raises:
        DataError: no source can be held out.
        ConfigError: the search space already has a ``data.hold_out_source`` axis.
    """
    in_trial = sweep.trial.data.hold_out_source == EACH
    variants = sweep.ablation.variants if sweep.ablation is not None else {}
    in_variants = [n for n, v in variants.items() if v.get(_HELD) == EACH]
    if not in_trial and not in_variants:
        return sweep
    if in_trial and _HELD in sweep.search.space:
        raise ConfigError("data.hold_out_source is each and also a search.space axis: keep one of them")
    if sources is None:
        sources = each_source(sweep.trial.data if data is None else sweep.trial.data.model_copy(update={"path": data}))
    raw = sweep.model_dump(mode="json")
    if in_trial:
        raw["trial"]["data"]["hold_out_source"] = None
        raw["search"]["space"][_HELD] = {"grid": [None, *sources]}
    if in_variants:
        raw["ablation"]["variants"] = {
            name: ov for n, v in variants.items()
            for name, ov in ([(f"{n}-{s}", {**v, _HELD: s}) for s in sources] if n in in_variants else [(n, v)])}
    return resolve_sweep(validate_sweep(raw, source=f"sweep {sweep.name}"), source=f"sweep {sweep.name}")


def local_trials(sweep: SweepConfig, variants: list[str] | None, sources: list[str] | None) -> list[StageTrial]:
    """What ``ablate trial`` trains, in order: the base (or each named ablation variant, ``all``:
    every one), in distribution and per held-out source (``each``), once per seed and fold.

    Raises:
        ConfigError: an unknown variant. DataError: ``each`` and no source can be held out.
    """
    if variants:
        named: list[tuple[str | None, TrialConfig]] = list(
            expand_ablation(sweep, None if variants == ["all"] else variants))
    else:
        named = [(None, sweep.trial)]
    out = []
    for name, base in named:
        columns = {} if name is None else {"stage": "ablation", "ablation_variant": name}
        for held in expand_hold_out(base, sources):
            for cfg in resolve(held).per_seed():
                out += [StageTrial(cfg, fold, columns) for fold in fold_values(cfg)]
    return out


def ablation_stage(sweep: SweepConfig, variants: list[str] | None) -> list[StageTrial]:
    """The ablation stage of ``ablate run`` without a confirm stage: its base is the sweep's trial."""
    return ablation_trials(sweep, None, variants or None)


def probe_trials(plan: ProbePlan, kind: str, results_dir: Path) -> list[StageTrial]:
    """The probe stage (``probe:``, run first): each task of the source probe once per seed, the
    same trials as ``ablate probe source``; they carry ``probe_task`` and ``probe_data``, so each
    trial builds its ``probes`` row (`ablate.probe.source.probe_row`). The tasks' manifests are
    written by the executor (`ProbePlan.write_manifests`)."""
    columns = {"stage": "probe", "probe": kind, "probe_data": plan.data_name}
    return [StageTrial(cfg, None, {**columns, "probe_task": task.name}) for task, cfg in plan.trials(results_dir)]
