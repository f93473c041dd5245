"""Every check that can be known before training, in one function (`preflight`).

A check takes the `Study` (the loaded file and what the command asked of it) and raises a
one-line `ConfigError`/`DataError`/`AblateError` naming the fix; nothing is written and Ray has
not started. To add a check, write it below and add one line to `CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from ablate.config import SweepConfig
from ablate.errors import ConfigError
from ablate.probe.loso import EACH, each_source
from ablate.probe.source import ProbePlan

__all__ = ["CHECKS", "Command", "Study", "preflight"]

Command = Literal["trial", "run"]


@dataclass
class Study:
    """A loaded study (``--set``/``--data`` applied, resolved against the models) and what the
    command asked of it; what the data says about it is read once, when first needed."""

    sweep: SweepConfig
    command: Command
    results_dir: Path
    variants: list[str] = field(default_factory=list)  # --variant
    address: str | None = None  # ablate run --address
    local: bool = False  # ablate run --local

    @cached_property
    def hold_out_sources(self) -> list[str] | None:
        """The sources ``data.hold_out_source: each`` holds out (None without ``each``).

        Raises:
            DataError: no source can be held out.
        """
        return each_source(self.sweep.trial.data) if self.sweep.trial.data.hold_out_source == EACH else None

    @cached_property
    def probe(self) -> ProbePlan | None:
        """The ``probe:`` stage's tasks (None without one); reads the data's list of images.

        Raises:
            DataError: the data has no sources to tell apart (a class with one source, ...).
        """
        if self.sweep.probe is None:
            return None
        from ablate.probe.source import plan_source_probe
        from ablate.study.load import sweep_probe_base

        return plan_source_probe(sweep_probe_base(self.sweep), self.sweep.probe.within)


def results_free(study: Study) -> None:
    """The results folder is not being written by another run (`ablate.results.lock.check_free`)."""
    from ablate.results.lock import check_free

    check_free(study.results_dir)


def address_answers(study: Study) -> None:
    """An explicit ``--address`` answers (a mistyped head: one line at once, not after minutes)."""
    if study.address and not study.local:
        from ablate.study.address import probe

        probe(study.address)


def hold_out_resolves(study: Study) -> None:
    """``data.hold_out_source: each`` has sources to hold out and is not also a search axis."""
    each = study.sweep.trial.data.hold_out_source == EACH
    if each and study.command == "run" and "data.hold_out_source" in study.sweep.search.space:
        raise ConfigError("data.hold_out_source is each and also a search.space axis: keep one of them")
    _ = study.hold_out_sources


def search_metric(study: Study) -> None:
    """``search.metric`` (and objectives, constraints) name numbers a trial reports."""
    from ablate.search.sweep import check_metric

    check_metric(study.sweep)


def variants_known(study: Study) -> None:
    """``--variant`` names variants of the file's ``ablation:`` (``all`` for ``ablate trial``)."""
    if not study.variants:
        return
    if study.sweep.ablation is None and study.command == "run":
        raise ConfigError(f"--variant: sweep {study.sweep.name!r} has no `ablation:` section; drop --variant")
    from ablate.search.ablation import expand_ablation

    expand_ablation(study.sweep, None if study.variants == ["all"] and study.command == "trial" else study.variants)


def data_readable(study: Study) -> None:
    """The data lists images, the first of each class decodes, the folds can be made."""
    from ablate.data.precheck import check_data

    data = study.sweep.trial.data
    check_data(data.model_copy(update={"hold_out_source": None}) if data.hold_out_source == EACH else data)


def weights_present(study: Study) -> None:
    """Every pretrained file the trials read is in the weights folder (trials never download), and
    a ``weights_path`` fits its backbone: ``ablate trial`` its base (or ``--variant``s), ``ablate
    run`` every grid point, search value, ablation variant and the probe's base."""
    from ablate.weights import check_weights, weight_configs

    if study.command == "trial":
        from ablate.search.ablation import expand_ablation

        named = (expand_ablation(study.sweep, None if study.variants == ["all"] else study.variants)
                 if study.variants else [(None, study.sweep.trial)])
        check_weights(cfg for _, cfg in named)
        return
    configs = weight_configs(study.sweep, study.variants or None)
    if study.sweep.probe is not None:
        from ablate.study.load import sweep_probe_base

        configs.append(sweep_probe_base(study.sweep))
    check_weights(configs)


def trackers_installed(study: Study) -> None:
    """Every tracker of ``tracking:`` / ``--track`` has its client installed (the extra that installs it)."""
    import importlib.util

    from ablate.config.tracking import EXTRAS

    for kind in dict.fromkeys(t.kind for t in study.sweep.tracking):
        if importlib.util.find_spec(kind) is None:
            raise ConfigError(f"tracking to {kind} needs the {kind} package: pip install \"ablate[{EXTRAS[kind]}]\"")


def probe_runs(study: Study) -> None:
    """A ``probe:`` stage has sources to tell apart (not found out in Ray)."""
    _ = study.probe


Check = Callable[[Study], None]
BOTH: frozenset[Command] = frozenset({"trial", "run"})
RUN: frozenset[Command] = frozenset({"run"})

# In order: each check, and the commands that make it (``ablate trial`` trains the base alone:
# its data is read by the trial itself, its search space is not checked).
CHECKS: list[tuple[Check, frozenset[Command]]] = [
    (results_free, BOTH),
    (trackers_installed, BOTH),
    (address_answers, RUN),
    (variants_known, frozenset({"trial"})),
    (hold_out_resolves, BOTH),
    (search_metric, RUN),
    (variants_known, RUN),
    (weights_present, BOTH),
    (data_readable, RUN),
    (probe_runs, RUN),
]


def preflight(study: Study) -> None:
    """Run every check the command makes before training, in order; the first problem raises.

    Raises:
        ConfigError, DataError, AblateError: one line naming what is wrong and the fix.
    """
    for check, commands in CHECKS:
        if study.command in commands:
            check(study)
