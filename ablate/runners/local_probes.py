"""The shortcut checks, trained here: ``ablate probe source`` and ``ablate probe loso``.

What a probe computes (its tasks, its row, its verdict; which sources can be held out) is in
`ablate.probe`; what a study runs is planned by `ablate.study`; this module carries them out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.errors import DataError
from ablate.probe.loso import holdable
from ablate.probe.source import PROBE_CONFIG, SUMMARY, plan_source_probe, probe_row, write_probe_row
from ablate.study import load_study, plan_study, results_folder

__all__ = ["loso_sources", "run_leave_one_source_out", "run_source_probe"]


def run_source_probe(
    data: str,
    *,
    config: str | Path | None = None,
    within: str | None = None,
    overrides: list[str] | None = None,
    results: str | Path = "results/probe",
    say: Callable[[str], None] = lambda _m: None,
) -> pd.DataFrame:
    """Train the source probe(s) of `data` here, once per seed; write their ``probes`` rows.

    ``ablate run`` trains the same trials as its ``probe`` stage (`SweepConfig.probe`,
    `ablate.runners.ray.probes`).

    Args:
        data: ``synthetic``, a class-per-folder tree or a manifest CSV (with a source column).
        config: the sweep or trial file whose model probes (default ``source-probe``: a small
            ResNet18); its ``data`` settings (mask, size, normalisation) apply.
        within: probe only this class's sources.
        overrides: ``--set`` overrides of the config.
        results: results folder (the probe rows and the task manifests go there).
        say: progress lines.

    Returns:
        One row per probe and seed: task, sources, accuracy, correct / test images, chance.

    Raises:
        DataError: no sources, an unknown class, a class with one source, fewer than two sources.
    """
    base = load_study(config or PROBE_CONFIG, overrides, data, check_space=False).trial
    plan = plan_source_probe(base, within)  # bad requests fail before torch loads

    from ablate.engine.trainer import run_trial

    results_dir = Path(results)
    plan.write_manifests(results_dir, say)
    out = []
    for task, cfg in plan.trials(results_dir):
        tid = f"probe-source-{task.name}-{cfg.trial_id()}"
        outcome = run_trial(cfg, trial_id=tid, progress=say)
        row = probe_row(outcome, task.name, plan.data_name)
        if outcome.status == "ok":
            write_probe_row(results_dir, tid, row)
        out.append({k: row[k] for k in SUMMARY})
    return pd.DataFrame(out)


def loso_sources(sweep_or_config: str | Path, *, overrides: list[str] | None = None, data: str | None = None
                 ) -> tuple[list[str], list[str]]:
    """(sources that can be held out, every source) of the configuration's data.

    Raises:
        DataError: the data names no sources.
    """
    return holdable(load_study(sweep_or_config, overrides, data, check_space=False).trial.data)


def run_leave_one_source_out(
    sweep_or_config: str | Path,
    *,
    sources: list[str] | None = None,
    overrides: list[str] | None = None,
    data: str | None = None,
    results: str | Path | None = None,
    console: Any = None,
) -> list[Any]:
    """Train the configuration in distribution and with each source held out, here.

    Args:
        sources: the sources to hold out (default: every source that is not the only one of a
            class, `ablate.data.splits.holdable_sources`).

    Returns:
        The `TrialOutcome` of each run (in-distribution first), per seed; a configuration whose
        trials the results folder already holds (e.g. an ablation's base) is not rerun.

    Raises:
        DataError: no source can be held out, or a named source is unknown or cannot be.
    """
    ok, every = loso_sources(sweep_or_config, overrides=overrides, data=data)
    if sources is None:
        sources = ok
    for s in sources:
        if s not in every:
            raise DataError(f"source {s!r} is not in the data; sources: {', '.join(every)}")
        if s not in ok:
            raise DataError(f"source {s!r} is the only source of a class: holding it out leaves that class without "
                            f"training images; sources that can be held out: {', '.join(ok) or 'none'}")
    if not sources:
        raise DataError(f"no source can be held out: every class has a single source ({', '.join(every)})")
    from ablate.results.store import committed_trials
    from ablate.runners.local import run_plan

    out = []
    for src in [None, *sources]:
        sets = [*(overrides or []), f"data.hold_out_source={'null' if src is None else src}"]
        plan = plan_study("trial", sweep_or_config, overrides=sets, data=data, results=results)
        folder = results_folder(plan.sweep, results)
        done = committed_trials(folder)
        if all(t.config.trial_id() in done for t in plan.known_trials()):
            if console is not None:  # e.g. the ablation's base: kept, with its ablation_variant
                console.print(f"held out {src or 'none (in distribution)'}: already in {folder}, not rerun")
            continue
        for note in plan.notes:
            if console is not None:
                console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
        out += run_plan(plan, console)
    return out
