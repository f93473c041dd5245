"""The study plan: one expansion for both executors (the same configurations from `ablate trial`
and `ablate run`), printed by ``--dry-run`` without Ray or torch, quickly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ablate.study import FixedStage, SearchStage, plan_study


def test_trial_and_run_plan_the_same_configurations_of_a_study_with_seeds_folds_and_each(small_study):
    path = small_study
    trial, run = plan_study("trial", path), plan_study("run", path)
    (local,) = trial.stages
    (search,) = run.stages
    assert isinstance(local, FixedStage) and isinstance(search, SearchStage)
    assert local.total == search.total == 2 * 3 * 2  # seeds x (in distribution, A, B) x folds
    assert trial.config_hashes() == run.config_hashes() and len(trial.config_hashes()) == 6  # a hash per seed
    held = {(t.config.seed, t.config.data.hold_out_source, t.fold) for t in local.trials}
    assert held == {(s, h, f) for s in (0, 1) for h in (None, "A", "B") for f in (0, 1)}


def test_trial_with_every_variant_and_run_plan_the_same_ablation(synthetic_listed):
    trial = plan_study("trial", "cxr5-ablation", variants=["all"])
    run = plan_study("run", "cxr5-ablation")
    assert [t.config.trial_id() for t in trial.known_trials()] == [t.config.trial_id() for t in run.known_trials()]
    assert len(run.config_hashes()) == 8 * 3  # base and 7 variants x 3 seeds
    assert [t.columns for t in trial.known_trials()] == [t.columns for t in run.known_trials()]


def test_a_plan_prints_its_stages_counts_and_config_ids(small_study, synthetic_listed):
    lines = plan_study("run", "cxr5-study").lines()
    assert lines[0].startswith("ablate run cxr5-study: 3 stage(s), 84 trial(s)")
    assert lines[1] == "stage 1 search: 24 trial(s) (1 grid point(s) x 24)"
    assert lines[3].startswith("stage 2 confirm: 15 trial(s) (top 3 configuration(s) of the search x 5 fresh seed(s)")
    assert lines[4].startswith("stage 3 ablation: 45 trial(s) (9 variant(s)")
    text = "\n".join(plan_study("trial", small_study).lines())
    assert "seed 1 fold 1 held out B" in text
    assert "resnet18-original-s1-" in text  # the trial ids (and config hashes) rows will carry


@pytest.fixture(scope="module")
def synthetic_listed():
    """The built-in synthetic set, generated once (``ablate run``'s data check reads it)."""
    from ablate.config import DataConfig
    from ablate.data.listing import load_samples

    load_samples(DataConfig())


@pytest.mark.parametrize(("command", "study"), [("run", "cxr5-study"), ("run", "cxr5-ablation"),
                                                ("run", "cxr5-loso"), ("trial", "cxr5-ablation")])
def test_dry_run_prints_the_plan_quickly_without_torch_or_ray(command, study, tmp_path, synthetic_listed):
    """The whole command in a fresh process, from its first import; 1.5 s on an idle machine
    (the bound is scaled by the load average per core when the machine is busier)."""
    variant = ", '--variant', 'all'" if command == "trial" else ""
    code = ("import sys, time; t = time.perf_counter(); from ablate.cli import main; "
            f"sys.argv = ['ablate', '{command}', '{study}', '--dry-run', '--results', {str(tmp_path / 'r')!r}{variant}]; "
            "main(); print(f'{time.perf_counter() - t:.3f}', 'torch' in sys.modules, 'ray' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    *plan, last = r.stdout.strip().splitlines()
    seconds, torch, ray = last.split()
    assert (torch, ray) == ("False", "False")
    assert plan[0].startswith(f"ablate {command} {study}: ")
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert float(seconds) < 1.5 * busy, f"{seconds} s at load {os.getloadavg()[0]:.1f}"
    assert not (tmp_path / "r").exists()  # nothing written
