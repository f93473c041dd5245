"""One study file, two executors: `ablate trial` (here) and `ablate run` (Ray Tune) train the same
configurations of a study with seeds, 2 folds and ``hold_out_source: each``, the ones the plan
listed: their rows carry the same ``config_hash`` set."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ablate import api
from ablate.results import load

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_trial_and_run_rows_carry_the_plans_config_hashes(small_study, tmp_path, local_ray):
    path = small_study
    planned = api.plan("run", path).config_hashes()
    assert planned == api.plan("trial", path).config_hashes() and len(planned) == 6

    api.run_trials(path, results=tmp_path / "trial", console=Console(file=io.StringIO()))
    local = load(tmp_path / "trial").trials
    api.run_sweep(path, results=tmp_path / "run", local=True, console=Console(file=io.StringIO()))
    ray = load(tmp_path / "run").trials

    assert len(local) == len(ray) == 12 and set(local.status) == set(ray.status) == {"ok"}
    assert set(local.config_hash) == set(ray.config_hash) == planned
    runs = [{(h, int(f)) for h, f in zip(t.config_hash, t.fold, strict=True)} for t in (local, ray)]
    assert runs[0] == runs[1] and len(runs[0]) == 12  # the same configuration and fold, once each
