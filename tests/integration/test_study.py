"""Studies through `ablate run`: search -> confirm -> ablation as Ray work, and k-fold as Ray work.

A tiny study (MobileNetV3-small, 32 px synthetic, 1 epoch): a search of 3 Optuna samples, the
top 2 confirmed over 2 fresh seeds, then the winner and one variant over the same 2 seeds.
It is killed (SIGKILL of the ``ablate run`` process) during the confirm stage and resumed;
every stage's rows must then be there exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.results import committed_trials, load
from tests.integration.test_sweep import assert_complete_rows, row_marks, tiny_sweep_file
from tests.integration.test_sweep_resume import _kill

pytestmark = pytest.mark.slow

STUDY = {
    "trial": {"epochs": 1},
    "search": {"algorithm": "optuna", "num_samples": 3, "max_concurrent": 2,
               "space": {"fusion.dropout": {"uniform": [0.0, 0.6]}}},
    "scheduler": {"kind": "none"},
    "confirm": {"top_k": 2, "seeds": [11, 12]},
    "ablation": {"include_base": True, "variants": {"pcb-8": {"fusion.pcb_channels": 8}}},
}


def _cmd(sweep: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ablate.cli", "run", str(sweep), "--local", "--data", "synthetic",
            "--results", str(results), *extra]


def _without_seed(config_json: str) -> dict:
    d = json.loads(config_json)
    d.pop("seed")
    d.pop("name")
    return d


def test_study_killed_in_its_confirm_stage_resumes_with_every_row_once(tmp_path):
    sweep = tiny_sweep_file(tmp_path, "study", **STUDY)
    results = tmp_path / "res"
    proc = subprocess.Popen(_cmd(sweep, results), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:  # kill once the search is done and the confirm stage has written a row
        end = time.monotonic() + 400
        while proc.poll() is None and time.monotonic() < end and len(committed_trials(results)) < 4:
            time.sleep(0.2)
        assert proc.poll() is None, "the study ended before its confirm stage could be interrupted"
    finally:
        _kill(proc)
    before = load(results).trials
    assert (results / "stages" / "search.done.json").is_file() and not (results / "stages" / "confirm.done.json").exists()
    assert 1 <= (before.stage == "confirm").sum() < 4
    search_marks = {t: m for t, m in row_marks(results).items() if t in set(before.trial_id[before.stage == "search"])}

    again = subprocess.run(_cmd(sweep, results, "--resume"), check=False, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "stage search (1 of 3): finished earlier (3 trial(s))" in again.stderr
    res = assert_complete_rows(results, 3 + 2 * 2 + 2 * 2)
    t = res.trials
    assert t.groupby("stage").size().to_dict() == {"search": 3, "confirm": 4, "ablation": 4}
    assert (t.status == "ok").all()
    after = row_marks(results)
    for tid, marks in search_marks.items():  # the finished stage was not rerun
        assert after[tid] == marks, tid

    # confirm: the search's top 2 by val_acc, each over the fresh seeds, configs unchanged
    search = t[t.stage == "search"].sort_values("val_acc", ascending=False, kind="stable")
    confirm = t[t.stage == "confirm"]
    assert sorted(confirm.seed) == [11, 11, 12, 12]
    for rank, tid in ((1, search.trial_id.iloc[0]), (2, search.trial_id.iloc[1])):
        rows = confirm[confirm.confirm_rank == rank]
        assert list(rows.selected_from.unique()) == [tid]
        picked = search.set_index("trial_id").loc[tid]
        assert all(_without_seed(c) == _without_seed(picked.config_json) for c in rows.config_json)
        assert (rows["space.fusion.dropout"] == picked["space.fusion.dropout"]).all()

    # the winner: best mean val_acc over its confirm seeds; it is the ablation's base
    means = confirm.groupby("confirm_rank").val_acc.mean()
    winner = json.loads((results / "stages" / "winner.json").read_text())
    assert winner["rank"] == int(means.idxmax()) and winner["confirm_metric"] == pytest.approx(means.max())
    ablation = t[t.stage == "ablation"]
    assert sorted(ablation.seed) == [11, 11, 12, 12]  # the confirm seeds
    base = ablation[ablation.ablation_variant == "base"]
    assert len(base) == 2 and all(_without_seed(c) == _without_seed(winner["config_json"]) for c in base.config_json)
    variant = ablation[ablation.ablation_variant == "pcb-8"]
    assert all(json.loads(c)["fusion"]["pcb_channels"] == 8 for c in variant.config_json)
    assert all(json.loads(c)["fusion"]["dropout"] == json.loads(winner["config_json"])["fusion"]["dropout"]
               for c in variant.config_json)

    from ablate.report import make_report

    files, _ = make_report(results, "md", tmp_path / "report")
    md = next(f for f in files if f.suffix == ".md").read_text()
    assert "Confirmed" in md and "Ablation against 'base'" in md
    confirmed = md.split("Confirmed", 1)[1].split("\n## ", 1)[0]
    assert f"{means.max() * 100:.1f}" in confirmed  # the winner's confirmed mean val_acc, in %


def test_two_fold_search_and_ablation_write_one_row_per_fold(tmp_path):
    """data.folds 2: every configuration of the search and of the ablation runs once per fold;
    Optuna sees one trial per configuration (its fold mean); --variant narrows the ablation."""
    from ablate.runners.ray import run_sweep, start_local_ray
    from ablate.search.sweep import load_sweep

    sweep = tiny_sweep_file(
        tmp_path, "folds", trial={"epochs": 1, "data": {**STUDY_DATA, "folds": 2}},
        search={"num_samples": 1, "max_concurrent": 2, "space": {"fusion.dropout": {"uniform": [0.0, 0.6]}}},
        ablation={"variants": {"pcb-8": {"fusion.pcb_channels": 8}, "pcb-4": {"fusion.pcb_channels": 4}}},
    )
    import io

    import ray
    from rich.console import Console

    out = io.StringIO()
    start_local_ray(num_cpus=2)
    try:
        trials = run_sweep(load_sweep(sweep), results_dir=tmp_path / "res", local=True, progress="lines",
                           variants=["pcb-8"], console=Console(file=out, width=200))
    finally:
        ray.shutdown()
    log = out.getvalue()
    assert "stage search (1 of 2): 2 trial(s) (1 grid point(s) x 1 x 2 folds)" in log
    assert "started: ablation_variant=pcb-8 seed=0 fold=1" in log  # what each trial is, as it starts
    assert len(trials) == 1 * 2 + 1 * 2
    res = assert_complete_rows(tmp_path / "res", 4)
    t = res.trials
    search = t[t.stage == "search"]
    assert sorted(search.fold) == [0, 1] and search["space.fusion.dropout"].nunique() == 1  # one Optuna trial
    ablation = t[t.stage == "ablation"]
    assert set(ablation.ablation_variant) == {"pcb-8"} and sorted(ablation.fold) == [0, 1]
    pool = ablation.n_train + ablation.n_val  # each fold validates on half of the same train/val pool
    assert pool.nunique() == 1 and (abs(ablation.n_val - pool / 2) <= 5).all()


STUDY_DATA = {"path": "synthetic", "normalize": "imagenet", "test_per_class": 5, "val_fraction": 0.2,
              "synthetic": {"n_per_class": 60, "image_size": 32}}
