"""Multi-objective search without Ray running: the grid point's Optuna study is told every
objective and the constraint values, and its Pareto set agrees with a brute-force check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest

from ablate.config import validate_sweep
from ablate.errors import ConfigError
from ablate.runners.ray.searcher import GridSearcher
from ablate.search.objectives import check_objectives, constraint_values
from ablate.search.sweep import check_metric
from ablate.search.translate import make_sampler

TRIAL = {"backbone": "mobilenet_v3_small", "variant": "modified", "input_size": 32, "epochs": 1,
         "data": {"path": "synthetic"}}
SPACE = {"fusion.pcb_channels": {"choice": [8, 16, 32, 64]}, "fusion.dropout": {"uniform": [0.0, 0.6]}}


def _sweep(**search):
    return validate_sweep({"name": "p", "trial": TRIAL, "scheduler": {"kind": "none"},
                           "search": {"num_samples": 10, "metric": ["val_acc", "params"], "mode": ["max", "min"],
                                      "space": SPACE, **search}})


def _result(values: dict) -> dict:
    """A made-up trial outcome: more channels cost parameters and latency and (with dropout) buy accuracy."""
    ch, dr = values["fusion.pcb_channels"], values["fusion.dropout"]
    return {"val_acc": 0.5 + 0.004 * ch - 0.3 * (dr - 0.3) ** 2, "params": 1000 * ch + int(100 * dr),
            "latency_ms": ch / 8, "final": True}


def _dominated(a, b, modes) -> bool:
    """b dominates a: no worse in every objective, better in one."""
    sign = [1 if m == "max" else -1 for m in modes]
    no_worse = all(s * y >= s * x for s, x, y in zip(sign, a, b, strict=True))
    return no_worse and any(s * y > s * x for s, x, y in zip(sign, a, b, strict=True))


@pytest.mark.parametrize("algorithm", ["optuna", "nsga2"])
def test_two_objective_pareto_set_agrees_with_brute_force(algorithm):
    s = GridSearcher(_sweep(algorithm=algorithm))
    study = s.study(0)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    rows = {}
    for i in range(s.total):
        got = s.suggest(f"t{i}")
        rows[f"t{i}"] = _result(got["values"])
        s.on_trial_result(f"t{i}", {"val_acc": 0.1, "epoch": 1})  # per-epoch results do not reach Optuna
        s.on_trial_complete(f"t{i}", rows[f"t{i}"])
    import pickle

    pickle.dumps(s)  # what tune.Tuner pickles: Optuna 5.1's NSGA-II sampler (a lock) is not in it
    points = {tid: (r["val_acc"], r["params"]) for tid, r in rows.items()}
    brute = {tid for tid, p in points.items()
             if not any(_dominated(p, q, ["max", "min"]) for o, q in points.items() if o != tid)}
    assert [tuple(t.values) for t in study.trials] == [points[f"t{i}"] for i in range(s.total)]  # asked in order
    assert {f"t{t.number}" for t in study.best_trials} == brute
    assert 1 <= len(brute) < len(points)


def test_a_trial_without_an_objective_fails_in_optuna():
    s = GridSearcher(_sweep())
    for i in range(2):
        s.suggest(f"t{i}")
    s.on_trial_complete("t0", {"val_acc": 0.9, "params": math.nan})
    s.on_trial_complete("t1", None, error=True)
    assert [t.state.name for t in s.study(0).trials] == ["FAIL", "FAIL"]


def test_constraint_marks_violating_trials_infeasible_and_off_the_front():
    s = GridSearcher(_sweep(constraints={"latency_ms": "<= 3"}))
    study = s.study(0)
    rows = []
    for i in range(s.total):
        got = s.suggest(f"t{i}")
        rows.append(_result(got["values"]))
        s.on_trial_complete(f"t{i}", rows[-1])
    stored = [t.constraints for t in study.trials]
    assert [c["latency_ms"] <= 0 for c in stored] == [r["latency_ms"] <= 3 for r in rows]
    assert any(r["latency_ms"] > 3 for r in rows) and any(r["latency_ms"] <= 3 for r in rows)
    assert all(rows[t.number]["latency_ms"] <= 3 for t in study.best_trials)


def test_constraint_values_by_operator():
    c = {"latency_ms": "<= 5", "val_acc": ">= 0.8", "params": "< 10"}
    assert constraint_values(c, {"latency_ms": 4.0, "val_acc": 0.9, "params": 9}) == pytest.approx([-1.0, -0.1, -1.0])
    broken = constraint_values(c, {"latency_ms": 6.0, "val_acc": 0.7, "params": 10})
    assert broken[0] == pytest.approx(1.0) and broken[1] == pytest.approx(0.1) and broken[2] > 0
    assert constraint_values(c, {"val_acc": 0.9, "params": 1})[0] == math.inf  # not measured: infeasible


def test_algorithm_names_the_sampler():
    assert isinstance(make_sampler("nsga2", 0, 16), optuna.samplers.NSGAIISampler)
    assert isinstance(make_sampler("optuna", 0, 16), optuna.samplers.TPESampler)


@pytest.mark.parametrize(("change", "match"), [
    ({"scheduler": {"kind": "asha"}}, "ASHA stops trials on one metric.*scheduler.kind: none"),
    ({"confirm": {"top_k": 1, "seeds": [1]}}, "confirm ranks configurations by one metric"),
    ({"search": {"metric": ["val_acc", "flopz"], "mode": ["max", "min"]}}, "'flopz', not a numeric column"),
    ({"search": {"metric": "val_acc", "mode": "max", "constraints": {"latency": "<= 5"}}},
     "search.constraints names 'latency'"),
])
def test_bad_multi_objective_files_are_refused_naming_the_fix(change, match):
    raw = {"name": "p", "trial": TRIAL, "scheduler": {"kind": "none"},
           "search": {"metric": ["val_acc", "latency_ms"], "mode": ["max", "min"]}}
    for key, value in change.items():
        raw[key] = {**raw.get(key, {}), **value} if key == "search" else value
    with pytest.raises(ConfigError, match=match):
        check_metric(validate_sweep(raw))


def test_single_metric_search_is_checked_as_before():
    sweep = validate_sweep({"name": "p", "trial": TRIAL, "search": {"metric": "params"}})
    check_objectives(sweep)  # no objectives, no constraints: nothing to say
    with pytest.raises(ConfigError, match="not reported by a trial's epochs"):
        check_metric(sweep)
    check_metric(validate_sweep({"name": "p", "trial": TRIAL, "search": {"metric": "val_loss", "mode": "min"}}))


def test_final_tune_report_carries_the_trial_row_cost_columns():
    from types import SimpleNamespace

    from ablate.runners.ray.worker import _final_metrics

    row = {"val_acc": 0.8, "val_loss": 0.5, "test_acc": 0.7, "test_loss": 0.6, "epochs_run": 1, "best_epoch": 1,
           "params": 1234, "fp32_mb": 0.005, "macs": 10, "flops": 20, "latency_ms": 1.5, "throughput_ips": 900.0,
           "latency_repeats": 20}
    outcome = SimpleNamespace(trial_row=row, tables={"epochs": [{"epoch": 1, "val_acc": 0.8}]}, status="ok",
                              reason="")
    out = _final_metrics(outcome, "val_acc")
    assert {k: out[k] for k in ("params", "fp32_mb", "macs", "flops", "latency_ms", "throughput_ips")} == {
        k: row[k] for k in ("params", "fp32_mb", "macs", "flops", "latency_ms", "throughput_ips")}
    assert "epoch" not in out  # ASHA skips the final report
    unmeasured = _final_metrics(SimpleNamespace(**{**vars(outcome), "trial_row": {**row, "latency_ms": None}}),
                                "val_acc")
    assert "latency_ms" not in unmeasured  # an objective that was not measured fails the Optuna trial


def test_shipped_pareto_sweep_samples_valid_trials_over_backbones_variants_channels_and_taps():
    from ablate.search.sweep import load_sweep
    from ablate.search.translate import trial_config

    sweep = load_sweep("cxr5-pareto")
    check_metric(sweep)
    assert sweep.search.directions == [("val_acc", "max"), ("params", "min"), ("latency_ms", "min")]
    assert sweep.search.algorithm == "nsga2" and sweep.scheduler.kind == "none"
    s = GridSearcher(sweep)
    assert isinstance(s.study(0).sampler, optuna.samplers.NSGAIISampler)
    cfgs = [trial_config(sweep, s.suggest(f"t{i}")["values"]) for i in range(12)]
    assert len({c.backbone for c in cfgs}) > 1 and {c.variant for c in cfgs} == {"original", "modified"}
    assert all(c.analysis.latency and c.input_size == 299 for c in cfgs)


@pytest.mark.parametrize(("search", "match"), [
    ({"metric": ["val_acc", "params"], "mode": ["max"]}, "metric lists 2 column.*give mode as a list of as many"),
    ({"metric": ["val_acc", "params"], "mode": "max"}, "give mode as a list of as many"),
    ({"metric": "val_acc", "mode": ["max", "min"]}, "mode is a list but metric is not"),
    ({"metric": ["val_acc", "val_acc"], "mode": ["max", "max"]}, "names a column twice"),
    ({"constraints": {"latency_ms": "about 5"}}, "constraints.latency_ms: 'about 5' is not a bound"),
])
def test_bad_objectives_fail_at_load_on_one_line(search, match):
    with pytest.raises(ConfigError, match=match) as e:
        validate_sweep({"name": "p", "trial": TRIAL, "search": search})
    assert "\n" not in str(e.value)


def test_objectives_survive_the_sweep_json_round_trip_and_overrides():
    from ablate.config import read_sweep

    sweep = _sweep(constraints={"latency_ms": "< 5"})
    again = validate_sweep(json.loads(sweep.model_dump_json()))  # what --resume reads back
    assert again.search.directions == sweep.search.directions and again.search.constraints == {"latency_ms": "< 5"}
    over = read_sweep("cxr5-sweep", ["search.metric=[val_acc, latency_ms]", "search.mode=[max, min]"])
    assert over.search.directions == [("val_acc", "max"), ("latency_ms", "min")] and over.search.metric == "val_acc"
    with pytest.raises(ConfigError, match="must be the first of objectives"):
        read_sweep("cxr5-pareto", ["search.metric=test_acc"])


def test_resume_keeps_the_multi_objective_study(tmp_path):
    journal = str(tmp_path / "optuna.journal")
    s = GridSearcher(_sweep(constraints={"latency_ms": "<= 3"}), journal=journal)
    for i in range(3):
        s.on_trial_complete(f"t{i}", _result(s.suggest(f"t{i}")["values"]))
    s.suggest("t3")  # running when the sweep stopped
    s.save(str(tmp_path / "searcher.json"))
    again = GridSearcher(_sweep(constraints={"latency_ms": "<= 3"}), journal=journal)
    again.restore(str(tmp_path / "searcher.json"))
    study = again.study(0)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert [len(t.values) for t in study.trials[:3]] == [2, 2, 2] and all(t.constraints for t in study.trials[:3])
    again.on_trial_complete("t3", {"val_acc": 0.7, "params": 5, "latency_ms": 9.0})  # told after the resume
    assert study.trials[3].values == [0.7, 5] and study.trials[3].constraints["latency_ms"] > 0


def test_end_summary_of_a_multi_objective_sweep_names_its_front():
    import pandas as pd
    from rich.console import Console

    from ablate.runners.ray.summary import print_best

    sweep = _sweep(constraints={"latency_ms": "<= 5"})
    rows = [("a", 0.9, 100, 9.0), ("b", 0.8, 100, 2.0), ("c", 0.7, 50, 1.0), ("d", 0.6, 60, 1.0), ("e", 0.95, 10, 1.0)]
    trials = pd.DataFrame([{"ray_trial_id": i, "status": "ok" if i != "e" else "failed", "val_acc": v, "params": p,
                            "latency_ms": lat, "test_acc": 0.5, "epochs_run": 1} for i, v, p, lat in rows])
    console = Console(width=200, record=True, force_terminal=False)
    print_best(console, sweep, trials, Path("/r"))
    line = next(x for x in console.export_text().splitlines() if x.startswith("Pareto front"))
    # a breaks latency <= 5; d is dominated by c; e failed: the front is b and c
    assert "2 of 4 ok trial(s) meeting latency_ms <= 5" in line
    assert " b val_acc=0.8" in line and " c val_acc=0.7" in line and " a " not in line and " d " not in line


def test_constraint_with_a_single_metric_reaches_optuna():
    sweep = validate_sweep({"name": "p", "trial": TRIAL, "search": {
        "num_samples": 3, "space": SPACE, "constraints": {"latency_ms": "<= 3"}}})
    s = GridSearcher(sweep)
    for i, lat in enumerate((2.0, 4.0)):
        s.suggest(f"t{i}")
        s.on_trial_complete(f"t{i}", {"val_acc": 0.5 + i / 10, "latency_ms": lat})
    study = s.study(0)
    assert [t.value for t in study.trials] == [0.5, 0.6]
    assert [t.constraints["latency_ms"] for t in study.trials] == [-1.0, 1.0]
    assert study.best_trial.number == 0  # the more accurate trial breaks the bound
