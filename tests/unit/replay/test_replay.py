"""The replay on a planted table: one configuration clearly best, curves that never cross."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ablate.config import read_sweep
from ablate.errors import ConfigError
from ablate.replay import STRATEGIES, Asha, Curves, replay, rung_epochs, simulate

REPO = Path(__file__).resolve().parents[3]
CHANNELS, LRS, EPOCHS = [16, 32, 64, 128], [0.001, 0.003, 0.01], 6
BEST = (64, 0.003)

SWEEP = f"""
name: planted
trial: {{epochs: {EPOCHS}, phases: [{{optimizer: adam, lr: 0.001}}]}}
search:
  algorithm: optuna
  seed: 0
  num_samples: 6
  space:
    fusion.pcb_channels: {{choice: {CHANNELS}}}
    phases.0.lr: {{choice: {LRS}}}
scheduler: {{kind: asha, grace_period: 1, reduction_factor: 2}}
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "planted.yaml"
    path.write_text(SWEEP)
    return read_sweep(path)


def planted_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """12 configurations; final accuracy 0.3..0.85, the planted best 0.95; order fixed at every epoch."""
    trials, epochs = [], []
    rng = np.random.default_rng(0)
    for i, (ch, lr) in enumerate(itertools.product(CHANNELS, LRS)):
        top = 0.95 if (ch, lr) == BEST else 0.3 + 0.05 * i
        tid = f"t{i:02d}"
        trials.append({"trial_id": tid, "status": "ok", "val_acc": top,
                       "space.fusion.pcb_channels": ch, "space.phases.0.lr": lr})
        for e in range(1, EPOCHS + 1):
            epochs.append({"trial_id": tid, "epoch": e, "val_acc": top * (1 - 0.5 ** e),
                           "epoch_s": float(rng.uniform(5, 15))})
    return pd.DataFrame(trials), pd.DataFrame(epochs)


@pytest.fixture(scope="module")
def curves(sweep):
    return Curves.from_frames(sweep, *planted_frames())


def test_curves_key_the_table_by_space_values(curves):
    assert curves.scores.shape == (12, EPOCHS)
    best = curves.index({"fusion.pcb_channels": 64.0, "phases.0.lr": 0.003})  # 64 == 64.0
    assert curves.final[best] == pytest.approx(curves.best)


def test_each_strategy_is_deterministic_per_seed(sweep, curves):
    for strategy in STRATEGIES:
        a = simulate(sweep, curves, strategy, seed=3, concurrency=2)
        b = simulate(sweep, curves, strategy, seed=3, concurrency=2)
        assert (a.configs, a.time_s, a.best, a.stopped_at) == (b.configs, b.time_s, b.best, b.stopped_at)
    one = replay(sweep, curves, repeats=3, concurrency=2)
    two = replay(sweep, curves, repeats=3, concurrency=2)
    pd.testing.assert_frame_equal(one.runs, two.runs)
    pd.testing.assert_frame_equal(one.summary, two.summary)


def test_grid_spends_exactly_every_epoch(sweep, curves):
    grid = next(s for s in STRATEGIES if s.name == "grid")
    run = simulate(sweep, curves, grid, seed=0, concurrency=1)
    assert run.epochs == curves.scores.size
    assert sorted(run.configs) == list(range(12))
    assert run.time_s[-1] == pytest.approx(curves.epoch_s.sum())  # one slot: the clock is the sum
    assert run.best[-1] == pytest.approx(curves.best)


def test_asha_stops_trials_only_at_rungs(sweep, curves):
    rungs = rung_epochs(1, 2, EPOCHS)
    assert rungs == [1, 2, 4]
    for strategy in (s for s in STRATEGIES if s.asha):
        for seed in range(5):
            run = simulate(sweep, curves, strategy, seed=seed, concurrency=3)
            assert set(run.stopped_at.values()) <= set(rungs)
            assert run.epochs < len(run.configs) * EPOCHS  # it did stop some


def test_rank_correlation_is_one_when_curves_never_cross(sweep, curves):
    rep = replay(sweep, curves, repeats=2, concurrency=2)
    assert list(rep.rungs[rep.rungs.rung >= 0].epoch) == [1, 2, 4]
    assert list(rep.rungs.epoch) == list(range(1, EPOCHS + 1))
    assert np.allclose(rep.rungs.rho, 1.0)


def test_summary_numbers(sweep, curves):
    rep = replay(sweep, curves, repeats=4, concurrency=2)
    s = rep.summary.set_index("strategy")
    assert list(s.index) == [st.name for st in STRATEGIES]
    assert rep.grid_epochs == 12 * EPOCHS
    assert (s.loc["grid", "epochs_total_median"]) == rep.grid_epochs
    assert s.loc["grid", "reached"] == 4  # the grid always finds its own best
    assert (s.epochs_q25 <= s.epochs_median).all() and (s.epochs_median <= s.epochs_q75).all()
    assert (s.epochs_ci_low <= s.epochs_ci_high).all()
    # ASHA at rf 2 on curves that never cross keeps the leader: it finds it with fewer epochs
    assert s.loc["TPE + ASHA", "epochs_total_median"] < s.loc["TPE", "epochs_total_median"]


def test_asha_matches_rays_bracket():
    """The same reports give the same decisions as Ray's own _Bracket (stop_last_trials=False)."""
    from ray.tune.schedulers.async_hyperband import _Bracket
    from ray.tune.schedulers.trial_scheduler import TrialScheduler

    class Stub:
        def __init__(self, i):
            self.trial_id = str(i)

    rng = np.random.default_rng(1)
    for grace, rf, max_t in [(1, 2, 8), (2, 3, 20), (1, 3.0, 9), (3, 2.5, 30)]:
        ours, ray_ = Asha(grace, rf, max_t), _Bracket(min(grace, max_t), max_t, rf, 0, stop_last_trials=False)
        assert [m for m, _ in ours.rungs] == [m for m, _ in ray_._rungs]
        alive = {i: 0 for i in range(12)}
        while alive:
            i = int(rng.choice(list(alive)))
            alive[i] += 1
            score = float(rng.choice([np.nan, *rng.uniform(0, 1, 9)])) if rng.uniform() < 0.1 else float(rng.uniform())
            stop = ours.on_result(i, alive[i], score)
            assert stop == (ray_.on_result(Stub(i), alive[i], score) == TrialScheduler.STOP)
            if stop or alive[i] == max_t:
                del alive[i]


def test_continuous_axis_is_refused(tmp_path):
    path = tmp_path / "cont.yaml"
    path.write_text(SWEEP.replace("{choice: [0.001, 0.003, 0.01]}", "{loguniform: [0.001, 0.01]}"))
    with pytest.raises(ConfigError, match="phases.0.lr: .*loguniform is continuous"):
        Curves.from_frames(read_sweep(path), *planted_frames())


def test_missing_configuration_is_named(sweep):
    trials, epochs = planted_frames()
    with pytest.raises(ConfigError, match="1 of 12 configurations"):
        Curves.from_frames(sweep, trials[trials.trial_id != "t05"], epochs)


def test_replay_of_the_shipped_grid(tmp_path):
    """`benchmarks/data`: the real grid's tables, replayed with the shipped sweep (no training)."""
    from ablate.replay import run_replay

    sweep = read_sweep(REPO / "benchmarks" / "data" / "replay-sweep.yaml")
    rep = run_replay(sweep, REPO / "benchmarks" / "data", repeats=3, out=tmp_path)
    s = rep.summary.set_index("strategy")
    assert s.loc["grid", "epochs_total_median"] == rep.grid_epochs
    assert s.loc["grid", "reached"] == 3
    assert {p.name for p in tmp_path.iterdir()} >= {"summary.csv", "runs.csv", "rungs.csv", "anytime.png"}


def test_cli_replay(tmp_path):
    """`ablate replay` on the shipped grid: the table, the target line, the files; a continuous axis: one line."""
    import subprocess
    import sys

    ablate = [sys.executable, "-c", "from ablate.cli import main; main()", "replay",
              str(REPO / "benchmarks" / "data" / "replay-sweep.yaml"), "--from", str(REPO / "benchmarks" / "data")]
    done = subprocess.run([*ablate, "--repeats", "2", "--out", str(tmp_path)], check=False,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "TPE + ASHA" in done.stdout and "target >= 80%" in done.stdout
    assert (tmp_path / "summary.csv").is_file()
    bad = subprocess.run([*ablate, "--set", "search.space.phases.0.lr={loguniform: [1.0e-4, 1.0e-2]}"],
                         check=False, capture_output=True, text=True)
    assert bad.returncode == 2 and "loguniform is continuous" in bad.stderr
