"""Leave-one-source-out as a study: one trial per source that can be held out, plus the
in-distribution trial of the same configuration.

The trials are ordinary ``ablate trial`` runs (rows in the ``trials`` table) that differ only in
``data.hold_out_source``; the report's "Shortcut checks" section pairs each with the
in-distribution run. On a cluster the same study is a grid axis of a sweep
(``data.hold_out_source: {grid: [null, DS1, ...]}``, `search_spaces/cxr5-loso.yaml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate.data.datasets import load_samples
from ablate.data.scenarios import apply_scenario
from ablate.data.splits import holdable_sources
from ablate.errors import DataError

__all__ = ["loso_sources", "run_leave_one_source_out"]


def loso_sources(sweep_or_config: str | Path, *, overrides: list[str] | None = None, data: str | None = None
                 ) -> tuple[list[str], list[str]]:
    """(sources that can be held out, every source) of the configuration's data.

    Raises:
        DataError: the data names no sources.
    """
    from ablate.api import load_with_data

    cfg = load_with_data(sweep_or_config, overrides, data, check_space=False).trial
    samples, desc = load_samples(cfg.data)
    _, labels = apply_scenario(samples, cfg.data.scenario)
    every = sorted({s.source for s in samples if s.source})
    if not every:
        raise DataError(f"{desc} names no image sources (a manifest's source column): nothing to hold out")
    return holdable_sources(samples, labels), every


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
    from ablate import api

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
    from ablate.models.resolve import resolve
    from ablate.results.store import committed_trials

    out = []
    for src in [None, *sources]:
        sets = [*(overrides or []), f"data.hold_out_source={'null' if src is None else src}"]
        sweep = api.load_with_data(sweep_or_config, sets, data, check_space=False)
        folder = results if results is not None else api.default_results_dir(sweep)
        done = committed_trials(folder)
        if all(resolve(c).trial_id() in done for c in api.expand_seeds(sweep.trial)):
            if console is not None:  # e.g. the ablation's base: kept, with its ablation_variant
                console.print(f"held out {src or 'none (in distribution)'}: already in {folder}, not rerun")
            continue
        out += api.run_trials(sweep_or_config, overrides=sets, data=data, results=results, console=console)
    return out
