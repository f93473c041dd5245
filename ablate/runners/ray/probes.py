"""The probe stage on Ray: the same Tune experiment as any stage, with its own recorder.

What the stage runs is decided Ray-free (the plan's probe stage, `ablate.study`) and each trial
trains through `trial_driver` like a confirm or ablation trial; its ``final`` checkpoint holds
its ``probes`` row instead of the trial's tables. `ProbeRecorder` (when a trial ends) and
`reconcile_probe_stage` (after ``fit()``) copy that row to ``RESULTS/probes/`` exactly once
(`ablate.runners.probe_stage`): a probe writes no ``trials`` row.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import tune
from rich.console import Console

from ablate.probe.source import verdicts
from ablate.runners.probe_stage import reconcile_probes, record_probe
from ablate.runners.ray.common import one_line
from ablate.runners.ray.recorder import Recorder
from ablate.runners.sweep_results import TrialEnd

log = logging.getLogger(__name__)

__all__ = ["ProbeRecorder", "print_probes", "reconcile_probe_stage"]


class ProbeRecorder(Recorder):
    """`Recorder` of the probe stage: each ended trial's ``probes`` row, no trials row."""

    def _ended(self, trial: Any, errored: bool) -> None:
        error = one_line(trial.get_error()) if errored else ""
        end = TrialEnd.from_tune(trial.trial_id, trial.config, errored, dict(trial.last_result or {}), error)
        try:
            row = record_probe(self.results_dir, self.sweep, end, self.store)
        except Exception as e:  # noqa: BLE001 - the reconciliation pass writes it after fit()
            log.warning("could not record probe %s now (%s); it is written when the stage ends", trial.trial_id, e)
            return
        if self.view:
            self.view.ended(trial.trial_id, row)


def reconcile_probe_stage(results_dir: Path, sweep: Any, store: Any, exp_path: str) -> tuple[int, int]:
    """Write every ended probe trial that has no ``ok`` row; (trials ended, trials known)."""
    analysis = tune.ExperimentAnalysis(exp_path)
    ended = [t for t in analysis.trials if t.status in ("TERMINATED", "ERROR") and "values" in t.config]
    reconcile_probes(results_dir, sweep, [
        TrialEnd.from_tune(t.trial_id, t.config, t.status == "ERROR", t.last_result or {},
                           one_line(t.get_error()) if t.status == "ERROR" else "") for t in ended], store)
    return len(ended), len(analysis.trials)


def print_probes(console: Console, results_dir: Path, sweep: Any) -> None:
    """The stage's verdict: each probe's accuracy against chance (as ``ablate probe source``),
    and each failed probe trial with its reason."""
    from ablate.results import load

    p = load(results_dir).probes
    rows = p[p["sweep"] == sweep.name] if "sweep" in p else p.iloc[0:0]
    for line in verdicts(rows):
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    for r in rows[rows.status != "ok"].itertuples():
        console.print(f"probe {r.probe_task} {r.trial_id}: {r.status} ({r.reason})", highlight=False,
                      soft_wrap=True, markup=False)
