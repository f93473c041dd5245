"""`SweepRun`: the parameters of one ``ablate run``, resolved before Ray starts."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ablate.config import SweepConfig
from ablate.runners.ray.common import Progress
from ablate.study import Plan

__all__ = ["SweepRun"]


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep, resolved from `run_sweep`'s arguments before Ray starts."""

    sweep: SweepConfig  # ``--data`` applied, paths absolute; on resume the sweep stored by the first run
    results_dir: Path  # absolute
    storage_root: str  # absolute path or URI: the Tune experiment and the trials' checkpoints (``train/``)
    exp_path: str  # the Tune experiment: ``<storage_root>/<sweep name>``
    resume: bool
    address: str | None  # None: a local Ray instance
    storage: str | None  # ``--storage`` as given (for the ``--resume`` hint)
    progress: Progress
    console: Console
    source: str  # the sweep as the user named it (a name or a file)
    plan: Plan  # what each stage runs (`ablate.study`); ``sweep`` is ``plan.sweep``
    variants: tuple[str, ...] = ()  # --variant: the ablation variants to run (all when empty)

    def resume_command(self) -> str:
        """The command that continues this run."""
        return (f"ablate run {shlex.quote(self.source)} --resume --results {shlex.quote(str(self.results_dir))}"
                + (f" --storage {shlex.quote(self.storage)}" if self.storage else "")
                + "".join(f" --variant {shlex.quote(v)}" for v in self.variants)
                + (f" --address {self.address}" if self.address else " --local"))
