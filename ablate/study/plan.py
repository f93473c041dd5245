"""A study's plan: what ``ablate trial`` or ``ablate run`` will train, decided and checked once.

`plan_study` loads the file (``--set``, ``--data``), runs every check (`ablate.study.checks.preflight`)
and returns a `Plan`: its stages in order, each

* a `FixedStage`: a fixed list of trial specs (`ablate.search.stages.StageTrial`: a resolved
  config with its seed, a fold, the columns its rows carry), known before training;
* a `SearchStage`: the search (grid points x samples x folds; the sampled axes, algorithm,
  objectives, scheduler), whose configurations the searcher draws;
* a `ChosenStage`: a confirm stage, or an ablation of the confirmed winner, whose configurations
  are chosen from the rows of the stages before it (`ablate.search.stages`).

A plan prints itself (`Plan.lines`: ``--dry-run``). The executors carry it out and decide
nothing about it: `ablate.runners.local` here (``ablate trial``), `ablate.runners.ray` on Ray
(``ablate run``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ablate.config import SweepConfig, TrialConfig, parse_track
from ablate.errors import ConfigError
from ablate.probe.source import ProbePlan
from ablate.search.stages import StageTrial, ablation_seeds, variants_equal_to_base
from ablate.search.translate import grid_points, sampled_axes, trial_config
from ablate.study.checks import Command, Study, preflight
from ablate.study.expand import ablation_stage, hold_out_axis, local_trials, probe_trials
from ablate.study.load import absolute_paths, load_study, results_folder

__all__ = ["ChosenStage", "FixedStage", "Plan", "SearchStage", "phase_note", "plan_stages", "plan_study"]


@dataclass(frozen=True)
class FixedStage:
    """A stage whose trials are known before training."""

    name: str  # trial | probe | ablation
    trials: tuple[StageTrial, ...]
    what: str  # a few words on what it runs
    skipped: tuple[str, ...] = ()  # ablation variants left out: the base's own configuration
    probe: ProbePlan | None = None  # the probe stage's tasks (their manifests are written before it trains)

    @property
    def total(self) -> int:
        return len(self.trials)


@dataclass(frozen=True)
class SearchStage:
    """The search: every grid point ``search.num_samples`` times (x folds), sampled axes drawn by
    the point's own Optuna sampler."""

    sweep: SweepConfig  # every grid axis resolved (``data.hold_out_source: each``)
    name: str = "search"

    @property
    def points(self) -> list[dict]:
        return grid_points(self.sweep)

    @property
    def total(self) -> int:
        return len(self.points) * self.sweep.search.num_samples * max(1, self.sweep.trial.data.folds)

    @property
    def what(self) -> str:
        s = self.sweep
        folds = f" x {s.trial.data.folds} folds" if s.trial.data.folds > 1 else ""
        return f"{len(self.points)} grid point(s) x {s.search.num_samples}{folds}"

    def trials(self) -> list[StageTrial] | None:
        """The trials when nothing is sampled (a grid), in the searcher's order; else None."""
        s = self.sweep
        if sampled_axes(s.search):
            return None
        out = []
        for _ in range(s.search.num_samples):
            for values in self.points:
                cfg = trial_config(s, values)
                folds = list(range(cfg.data.folds)) if cfg.data.folds > 1 else [None]
                out += [StageTrial(cfg, f, {"stage": "search"}) for f in folds]
        return out


@dataclass(frozen=True)
class ChosenStage:
    """A stage whose configurations come from the rows of the stages before it."""

    name: str  # confirm | ablation
    total: int  # at most this many trials
    what: str


Stage = FixedStage | SearchStage | ChosenStage


@dataclass(frozen=True)
class Plan:
    """What one command trains, in order; an executor carries it out."""

    command: Command
    sweep: SweepConfig  # as the stages see it: paths absolute, ``each`` resolved
    results_dir: Path
    stages: tuple[Stage, ...]
    variants: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)  # lines said before training

    @property
    def total(self) -> int:
        return sum(s.total for s in self.stages)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def known_trials(self) -> list[StageTrial]:
        """Every trial whose configuration is known before training, in order."""
        out: list[StageTrial] = []
        for s in self.stages:
            if isinstance(s, FixedStage):
                out += s.trials
            elif isinstance(s, SearchStage):
                out += s.trials() or []
        return out

    def config_hashes(self) -> set[str]:
        """The ``config_hash`` of every trial known before training."""
        return {_hash(t.config) for t in self.known_trials()}

    def lines(self) -> list[str]:
        """The plan as text (``--dry-run``): stages, trial counts, each known trial's config id."""
        out = [f"ablate {self.command} {self.sweep.name}: {len(self.stages)} stage(s), {self.total} trial(s); "
               f"results -> {self.results_dir}"]
        if self.sweep.tracking:  # each trial also a run there (docs/tracking.md)
            out.append("tracking: " + ", ".join(
                f"{t.kind} {getattr(t, 'uri', None) or getattr(t, 'project', None) or '(default)'}"
                for t in self.sweep.tracking))
        for n, s in enumerate(self.stages, 1):
            out.append(f"stage {n} {s.name}: {s.total} trial(s) ({s.what})")
            trials = s.trials if isinstance(s, FixedStage) else s.trials() if isinstance(s, SearchStage) else None
            if isinstance(s, SearchStage) and trials is None:
                out.append("  " + _search_words(s.sweep))
            if isinstance(s, FixedStage) and s.skipped:
                out.append(f"  not run: {', '.join(s.skipped)} (the same configuration as the base)")
            out += [f"  {_label(t):<32} {_trial_name(t)}" for t in trials or []]
        return out + [f"note: {n}" for n in self.notes]


def _hash(cfg: TrialConfig) -> str:
    from ablate.config import config_hash

    return config_hash(cfg)


def _trial_name(t: StageTrial) -> str:
    return t.config.trial_id() + ("" if t.fold is None else f"-fold{t.fold}")


def _label(t: StageTrial) -> str:
    c = t.columns
    if "ablation_variant" in c or "probe_task" in c:
        return t.label()
    held = t.config.data.hold_out_source
    return (f"seed {t.config.seed}" + ("" if t.fold is None else f" fold {t.fold}")
            + ("" if held is None else f" held out {held}"))


def _search_words(sweep: SweepConfig) -> str:
    search = sweep.search
    objectives = ", ".join(f"{m} {d}" for m, d in search.directions)
    sched = sweep.scheduler.kind
    return (f"{search.algorithm} samples {', '.join(sampled_axes(search))}; objective(s) {objectives}; "
            f"scheduler {sched}")


def plan_stages(sweep: SweepConfig, results_dir: Path, variants: list[str] | None = None,
                probe: ProbePlan | None = None) -> tuple[Stage, ...]:
    """The stages of ``ablate run`` for a sweep whose ``each`` is resolved (no checks: `plan_study`
    makes them; ``--resume`` plans the stored sweep with this)."""
    out: list[Stage] = []
    for name in sweep.stages():
        if name == "probe":
            if probe is None:
                from ablate.probe.source import plan_source_probe
                from ablate.study.load import sweep_probe_base

                assert sweep.probe is not None
                probe = plan_source_probe(sweep_probe_base(sweep), sweep.probe.within)
            trials = probe_trials(probe, sweep.probe.kind, results_dir)
            tasks = list(dict.fromkeys(t.columns["probe_task"] for t in trials))
            out.append(FixedStage("probe", tuple(trials), f"{sweep.probe.kind} probe of {', '.join(tasks)} x "
                                  f"{len(trials) // max(1, len(tasks))} seed(s)", probe=probe))
        elif name == "search":
            out.append(SearchStage(sweep))
        elif name == "confirm":
            assert sweep.confirm is not None
            n = sweep.confirm.top_k * len(sweep.confirm.seeds) * max(1, sweep.trial.data.folds)
            out.append(ChosenStage("confirm", n, f"top {sweep.confirm.top_k} configuration(s) of the search x "
                                   f"{len(sweep.confirm.seeds)} fresh seed(s), chosen from the search's rows"))
        elif "confirm" in sweep.stages():
            assert sweep.ablation is not None
            names = [n for n in ([*(["base"] if sweep.ablation.include_base else []), *sweep.ablation.variants])
                     if not variants or n in variants]
            n = len(names) * len(ablation_seeds(sweep)) * max(1, sweep.trial.data.folds)
            out.append(ChosenStage("ablation", n, f"{len(names)} variant(s) ({', '.join(names)}) of the confirmed "
                                   "winner, chosen from the confirm rows"))
        else:
            trials = ablation_stage(sweep, variants)
            names = list(dict.fromkeys(t.columns["ablation_variant"] for t in trials))
            same = [v for v in variants_equal_to_base(sweep) if not variants or v in variants]
            out.append(FixedStage("ablation", tuple(trials), f"{len(names)} variant(s) ({', '.join(names)}) of "
                                  "the base trial", skipped=tuple(same)))
    return tuple(out)


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


def _run_would_refuse(sweep: SweepConfig) -> str | None:
    """`ablate trial` runs the base alone; one line when `ablate run` would refuse the file (a
    search space or metric that does not check), so the mistake shows before a sweep."""
    from ablate.search.sweep import check_metric, resolve_sweep

    try:
        resolve_sweep(sweep, check_space=True, source=sweep.name)
        check_metric(sweep)
    except ConfigError as e:
        return f"training the base trial; `ablate run` would refuse this file: {e}"
    return None


def _held_out_variants(sweep: SweepConfig, variants: list[str]) -> list[str]:
    """``--variant held-out`` names every variant ``held-out: {data.hold_out_source: each}`` became."""
    known = sweep.ablation.variants if sweep.ablation is not None else {}
    return [n for v in variants for n in ([v] if v in known else [k for k in known if k.startswith(f"{v}-")] or [v])]


def plan_study(
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
    """Load a study, check everything that can be known before training, and plan it.

    Args:
        command: ``trial`` (here: the base, or ``variants``, per seed, fold and held-out source)
            or ``run`` (every stage of the file, on Ray).
        track: ``--track`` values (``mlflow[=URI]``, ``wandb[=PROJECT]``), added to the file's ``tracking:``.

    Raises:
        ConfigError, DataError, AblateError: the first problem (one line), before anything is
            written and before Ray starts.
    """
    sweep = load_study(sweep_or_config, overrides, data, check_space=command == "run")  # a bad file: torch-free
    if track:
        sweep = sweep.model_copy(update={"tracking": [*sweep.tracking, *(parse_track(t) for t in track)]})
    study = Study(absolute_paths(sweep), command, results_folder(sweep, results), list(variants or []),
                  address, local)
    preflight(study)
    notes, chosen = [], list(study.variants)
    if command == "trial":
        notes.append(_run_would_refuse(study.sweep))
        stages: tuple[Stage, ...] = (FixedStage(
            "ablation" if study.variants else "trial",
            tuple(local_trials(study.sweep, study.variants, study.hold_out_sources)),
            f"{'ablation variant(s)' if study.variants else 'the base trial'} x seeds x folds"
            + (" x held-out sources" if study.hold_out_sources is not None else "")),)
        plan_sweep = study.sweep
    else:
        plan_sweep = hold_out_axis(study.sweep, sources=study.hold_out_sources)
        chosen = _held_out_variants(plan_sweep, study.variants)
        stages = plan_stages(plan_sweep, study.results_dir.resolve(), chosen, study.probe)
    note = phase_note(study.sweep.trial)
    if note is not None and not (command == "run" and "phases.0.epochs" in study.sweep.search.space):
        notes.append(note)
    return Plan(command, plan_sweep, study.results_dir, stages, tuple(chosen),
                tuple(n for n in notes if n))
