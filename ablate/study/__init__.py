"""A study, decided once: load a sweep file or trial YAML, check it, plan it (Ray-free, torch-free).

`plan_study` is the whole step: `load` (the file with ``--set``/``--data``, resolved against the
models), `checks` (every check that can be known before training, in one function:
`preflight`), `expand` (seeds, folds, ablation variants, ``hold_out_source: each``, the probe's
tasks) and `plan` (the `Plan`: stages in order, each a fixed list of trial specs, a search, or a
stage chosen from the rows before it; it prints itself for ``--dry-run``). The executors
(`ablate.runners.local`, `ablate.runners.ray`) carry a plan out.
"""

from __future__ import annotations

from ablate.study.checks import CHECKS, Study, preflight
from ablate.study.expand import expand_hold_out, hold_out_axis
from ablate.study.load import absolute_paths, load_study, results_folder, sweep_probe_base
from ablate.study.plan import (
    ChosenStage,
    FixedStage,
    Plan,
    SearchStage,
    phase_note,
    plan_stages,
    plan_study,
)

__all__ = [
    "CHECKS",
    "ChosenStage",
    "FixedStage",
    "Plan",
    "SearchStage",
    "Study",
    "absolute_paths",
    "expand_hold_out",
    "hold_out_axis",
    "load_study",
    "phase_note",
    "plan_stages",
    "plan_study",
    "preflight",
    "results_folder",
    "sweep_probe_base",
]
