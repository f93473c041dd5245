"""Leave-one-source-out as a study: one trial per source that can be held out, plus the
in-distribution trial of the same configuration.

``data.hold_out_source: each`` asks for the same runs from a config file: ``ablate trial``
expands it into the in-distribution run and one run per holdable source (`expand_hold_out`),
``ablate run`` into a grid axis of the search over them (`hold_out_axis`), both resolved from
the data's list of images before anything trains.

The trials are ordinary ``ablate trial`` runs (rows in the ``trials`` table) that differ only in
``data.hold_out_source``; the report's "Shortcut checks" section pairs each with the
in-distribution run. On a cluster the same study is a grid axis of a sweep
(``data.hold_out_source: {grid: [null, DS1, ...]}``, `search_spaces/cxr5-loso.yaml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate.config import DataConfig, SweepConfig, TrialConfig, validate_sweep
from ablate.data.datasets import load_samples
from ablate.data.scenarios import apply_scenario
from ablate.data.splits import holdable_sources
from ablate.errors import ConfigError, DataError

__all__ = ["EACH", "each_source", "expand_hold_out", "hold_out_axis", "holdable", "loso_sources",
           "run_leave_one_source_out"]


EACH = "each"  # data.hold_out_source: each - one run per source that can be held out


def holdable(data: DataConfig) -> tuple[list[str], list[str]]:
    """(sources that can be held out, every source) of `data` (its list of images; no decoding).

    Raises:
        DataError: the data names no sources.
    """
    samples, desc = load_samples(data)
    _, labels = apply_scenario(samples, data.scenario)
    every = sorted({s.source for s in samples if s.source})
    if not every:
        raise DataError(f"{desc} names no image sources (a manifest's source column): nothing to hold out")
    return holdable_sources(samples, labels), every


def loso_sources(sweep_or_config: str | Path, *, overrides: list[str] | None = None, data: str | None = None
                 ) -> tuple[list[str], list[str]]:
    """(sources that can be held out, every source) of the configuration's data.

    Raises:
        DataError: the data names no sources.
    """
    from ablate.api import load_with_data

    return holdable(load_with_data(sweep_or_config, overrides, data, check_space=False).trial.data)


def each_source(data: DataConfig) -> list[str]:
    """What ``data.hold_out_source: each`` holds out: every source that is not the only one of a
    class (`ablate.data.splits.holdable_sources`).

    Raises:
        DataError: no source can be held out (no sources, or every class has a single one).
    """
    ok, every = holdable(data)
    if not ok:
        raise DataError(f"data.hold_out_source each: no source can be held out (every class has a single source: "
                        f"{', '.join(every)})")
    return ok


def expand_hold_out(cfg: TrialConfig) -> list[TrialConfig]:
    """``data.hold_out_source: each`` (as ``ablate trial`` runs it): the configuration in
    distribution (``null``, the reference of the report's leave-one-source-out gap), then once
    per source that can be held out; any other value: ``[cfg]``.

    Raises:
        DataError: no source can be held out.
    """
    if cfg.data.hold_out_source != EACH:
        return [cfg]
    return [cfg.model_copy(update={"data": cfg.data.model_copy(update={"hold_out_source": src})})
            for src in [None, *each_source(cfg.data)]]


def hold_out_axis(sweep: SweepConfig, data: str | None = None) -> SweepConfig:
    """``data.hold_out_source: each`` as ``ablate run`` runs it: the grid axis
    ``data.hold_out_source: {grid: [null, <each source that can be held out>]}`` of the search,
    resolved here from the data (`data`: the ``--data`` override), before Ray starts; the sweep
    unchanged without ``each``.

    Raises:
        DataError: no source can be held out.
        ConfigError: the search space already has a ``data.hold_out_source`` axis.
    """
    if sweep.trial.data.hold_out_source != EACH:
        return sweep
    if "data.hold_out_source" in sweep.search.space:
        raise ConfigError("data.hold_out_source is each and also a search.space axis: keep one of them")
    ok = each_source(sweep.trial.data if data is None else sweep.trial.data.model_copy(update={"path": data}))
    raw = sweep.model_dump(mode="json")
    raw["trial"]["data"]["hold_out_source"] = None
    raw["search"]["space"]["data.hold_out_source"] = {"grid": [None, *ok]}
    from ablate.search.sweep import resolve_sweep

    return resolve_sweep(validate_sweep(raw, source=f"sweep {sweep.name}"), source=f"sweep {sweep.name}")


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
