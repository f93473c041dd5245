"""A study's stages without Ray: which stages run, what the confirm and ablation stages train,
the winner, the checks before anything starts, and the report's view of a study's rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ablate.config import validate_sweep
from ablate.errors import ConfigError
from ablate.report.runs import ok_trials
from ablate.report.studies import confirmed
from ablate.results.store import Results
from ablate.search.stages import (
    ablation_seeds,
    ablation_trials,
    confirm_trials,
    select_for_confirm,
    select_winner,
    variants_equal_to_base,
)
from ablate.search.sweep import resolve_sweep

TRIAL = {"backbone": "mobilenet_v3_small", "variant": "modified", "input_size": 32, "epochs": 1,
         "data": {"path": "synthetic"}}
SPACE = {"fusion.dropout": {"uniform": [0.0, 0.6]}}


def _sweep(**sections):
    return resolve_sweep(validate_sweep({"name": "s", "trial": TRIAL, **sections}))


def _search_rows(dropouts_and_scores):
    rows = []
    for i, (d, v, status) in enumerate(dropouts_and_scores):
        cfg = {**TRIAL, "seed": 0, "name": "s", "fusion": {"dropout": d}}
        rows.append({"trial_id": f"s-t{i}", "stage": "search", "status": status, "val_acc": v,
                     "config_json": json.dumps(cfg), "space.fusion.dropout": d})
    return pd.DataFrame(rows)


def test_stages_follow_the_file():
    assert _sweep().stages() == ["search"]
    assert _sweep(ablation={"variants": {"a": {"fusion.dropout": 0.1}}}).stages() == ["ablation"]
    study = _sweep(search={"num_samples": 3, "space": SPACE}, confirm={"top_k": 2, "seeds": [1, 2]},
                   ablation={"variants": {"a": {"fusion.dropout": 0.1}}})
    assert study.stages() == ["search", "confirm", "ablation"]
    assert ablation_seeds(study) == [1, 2]  # the confirm seeds
    assert ablation_seeds(_sweep(trial={**TRIAL, "seeds": [3, 4]}, ablation={"variants": {}})) == [3, 4]
    assert ablation_seeds(_sweep(trial={**TRIAL, "seed": 5}, ablation={"variants": {}, "seeds": [6]})) == [6]
    assert ablation_seeds(_sweep(trial={**TRIAL, "seed": 5}, ablation={"variants": {}})) == [5]


def test_confirm_picks_the_top_configurations_by_their_mean_and_uses_fresh_seeds():
    sweep = _sweep(search={"num_samples": 4, "space": SPACE}, confirm={"top_k": 2, "seeds": [7, 8, 9]})
    rows = _search_rows([(0.1, 0.50, "ok"), (0.2, 0.90, "stopped_early"), (0.3, 0.70, "ok"), (0.4, 0.60, "ok")])
    sel = select_for_confirm(sweep, rows)
    # the stopped trial's partial score does not count; best first
    assert [(s["rank"], s["search_trials"], s["search_metric"]) for s in sel] == [
        (1, ["s-t2"], 0.70), (2, ["s-t3"], 0.60)]
    trials = confirm_trials(sweep, sel)
    assert [(t.columns["confirm_rank"], t.config.seed) for t in trials] == [
        (1, 7), (1, 8), (1, 9), (2, 7), (2, 8), (2, 9)]
    assert all(t.config.fusion.dropout == 0.3 for t in trials[:3])
    assert trials[0].columns["selected_from"] == "s-t2" and trials[0].columns["space.fusion.dropout"] == 0.3

    confirm = pd.DataFrame({"confirm_rank": [1, 1, 1, 2, 2, 2], "status": ["ok"] * 6,
                            "val_acc": [0.60, 0.62, 0.58, 0.66, 0.64, 0.65]})
    win = select_winner(sweep, sel, confirm)  # the search's #2 wins once confirmed
    assert win["rank"] == 2 and win["confirm_metric"] == pytest.approx(0.65) and win["confirm_n"] == 3


def test_nothing_to_confirm_is_one_line():
    sweep = _sweep(search={"num_samples": 2, "space": SPACE}, confirm={"top_k": 1, "seeds": [1]})
    with pytest.raises(ConfigError, match="nothing to confirm"):
        select_for_confirm(sweep, _search_rows([(0.1, 0.5, "failed")]))


def test_ablation_of_the_winner_over_seeds_and_folds():
    sweep = _sweep(trial={**TRIAL, "seeds": [0, 1], "data": {"path": "synthetic", "folds": 2}},
                   ablation={"variants": {"no-dropout": {"fusion.dropout": 0.0}, "pcb-8": {"fusion.pcb_channels": 8}}})
    winner = sweep.trial.model_copy(update={"fusion": sweep.trial.fusion.model_copy(update={"dropout": 0.33})})
    trials = ablation_trials(sweep, winner, ["pcb-8"])
    assert [(t.columns["ablation_variant"], t.config.seed, t.fold) for t in trials] == [
        ("pcb-8", 0, 0), ("pcb-8", 0, 1), ("pcb-8", 1, 0), ("pcb-8", 1, 1)]
    assert all(t.config.fusion.pcb_channels == 8 and t.config.fusion.dropout == 0.33 for t in trials)
    sweep = _sweep(ablation={"variants": {"drop-0": {"fusion.dropout": 0.0}, "drop-33": {"fusion.dropout": 0.33}}})
    assert list(dict.fromkeys(t.columns["ablation_variant"] for t in ablation_trials(sweep, winner))) == ["base", "drop-0"]
    assert variants_equal_to_base(sweep, winner) == ["drop-33"]  # the winner's own value: not run twice
    with pytest.raises(ConfigError, match="unknown ablation variant 'pcb-9'"):
        ablation_trials(sweep, winner, ["pcb-9"])


@pytest.mark.parametrize(("confirm", "message"), [
    ({"top_k": 4, "seeds": [1]}, "confirm.top_k is 4 but the search tries 3 configuration"),
    ({"top_k": 1, "seeds": [1, 1]}, "lists a seed twice"),
    ({"top_k": 1, "seeds": []}, "confirm.seeds"),
])
def test_bad_confirm_settings_fail_before_anything_runs(confirm, message):
    with pytest.raises(ConfigError, match=message):
        _sweep(search={"num_samples": 3, "space": SPACE}, confirm=confirm)


def test_report_keeps_confirmed_search_picks_out_of_the_general_tables(tmp_path: Path):
    cfg = lambda d, seed: json.dumps({**TRIAL, "seed": seed, "name": "s", "fusion": {"dropout": d}})  # noqa: E731
    rows = [
        {"trial_id": "s-a", "stage": "search", "seed": 0, "val_acc": 0.9, "test_acc": 0.8, "config_json": cfg(0.1, 0)},
        {"trial_id": "s-b", "stage": "search", "seed": 0, "val_acc": 0.5, "test_acc": 0.5, "config_json": cfg(0.2, 0)},
        *({"trial_id": f"s-c{s}", "stage": "confirm", "seed": s, "val_acc": v, "test_acc": v, "confirm_rank": 1,
           "selected_from": "s-a", "config_json": cfg(0.1, s)} for s, v in ((1, 0.70), (2, 0.72), (3, 0.74))),
        *({"trial_id": f"s-ab{s}", "stage": "ablation", "ablation_variant": "base", "seed": s, "val_acc": 0.7,
           "test_acc": 0.7, "config_json": cfg(0.1, s)} for s in (1, 2, 3)),
    ]
    t = pd.DataFrame(rows).assign(status="ok", fold=None)
    res = Results({"trials": t, "predictions": pd.DataFrame(columns=["trial_id", "split", "image", "correct"])}, tmp_path)
    general = ok_trials(res)
    # the search's pick of the confirmed configuration and the ablation's repeat of it stand aside
    assert sorted(general.trial_id) == ["s-b", "s-c1", "s-c2", "s-c3"]
    assert sorted(ok_trials(res, ("ablation",)).trial_id) == ["s-ab1", "s-ab2", "s-ab3"]
    sec = confirmed(res)
    row = sec.table.iloc[0]
    assert row["search_val_acc_%"] == 90.0 and row["val_acc_%"] == 72.0 and row["seeds"] == 3
    assert row["winner"] == "yes" and row["search_trials"] == "s-a"
    low, high = (float(x) for x in row["val_ci_%"].strip("[]").split(","))
    assert low < 72.0 < high < 90.0  # the confirmed interval lies below the search's selected score
