"""ASHA's decisions survive a resume: a scheduler rebuilt from what the sweep wrote (committed
rows and the in-flight trial's checkpoint) stops the same trials at the same rungs as one that
was never interrupted, where a fresh scheduler (what Ray's restore gives) does not."""

from __future__ import annotations

import json

import numpy as np

from ablate.config import validate_sweep
from ablate.runners.ray.asha import ResumableASHA
from ablate.runners.sweep_results import PROGRESS, RunStore, TrialEnd, record_trial, row_id_for

TRIAL = {"backbone": "mobilenet_v3_small", "variant": "modified", "input_size": 32, "epochs": 6,
         "data": {"path": "synthetic"}}
EPOCHS, GRACE, RF = 6, 1, 2  # rungs at epochs 1, 2, 4


def _curves(n: int = 10, seed: int = 3) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {f"t{i:02d}": list(np.cumsum(rng.uniform(0.0, 0.2, EPOCHS)) + rng.uniform(0, 0.3)) for i in range(n)}


def _scheduler(tmp_path) -> ResumableASHA:
    return ResumableASHA(metric="val_acc", mode="max", max_t=EPOCHS, grace_period=GRACE, reduction_factor=RF,
                         results_dir=tmp_path / "res", sweep_name="s", train_root=str(tmp_path / "train"))


class _Trial:
    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id


def _train(sched: ResumableASHA, tid: str, curve: list[float], start: int = 1, until: int = EPOCHS) -> int | None:
    """Report epochs start..until one trial at a time; the epoch it was stopped at, or None."""
    for epoch in range(start, until + 1):
        if sched.on_trial_result(None, _Trial(tid), {"epoch": epoch, "val_acc": curve[epoch - 1]}) == "STOP":
            return epoch
    return None


def _epoch_row(tid: str, epoch: int, acc: float) -> dict:
    return {"trial_id": row_id_for("s", tid), "epoch": epoch, "phase": 0, "optimizer": "adam", "lr": 1e-3,
            "train_loss": 1.0, "train_acc": acc, "val_loss": 1.0, "val_acc": acc, "images_per_s": 1.0, "epoch_s": 1.0}


def _checkpoint(tmp_path, tid: str, curve: list[float], epochs: int) -> None:
    d = tmp_path / "train" / row_id_for("s", tid) / f"epoch-{epochs:04d}"
    d.mkdir(parents=True)
    history = [_epoch_row(tid, e, curve[e - 1]) for e in range(1, epochs + 1)]
    (d / PROGRESS).write_text(json.dumps({"row_id": row_id_for("s", tid), "info": {}, "history": history,
                                          "elapsed": float(epochs)}))


def test_rungs_rebuilt_from_rows_and_checkpoints_give_the_uninterrupted_decisions(tmp_path):
    curves = _curves()
    straight = _scheduler(tmp_path / "a")
    expected = {tid: _train(straight, tid, c) for tid, c in curves.items()}
    assert 2 <= sum(v is not None for v in expected.values()) <= 8  # some trials stopped, some not

    # the same sweep killed while its 6th trial was at epoch 3: 5 trials committed, 1 checkpointed
    sweep = validate_sweep({"name": "s", "trial": TRIAL, "scheduler": {"grace_period": GRACE, "reduction_factor": RF}})
    before = _scheduler(tmp_path)
    ids = list(curves)
    stopped = {}
    for tid in ids[:5]:
        stopped[tid] = _train(before, tid, curves[tid])
        _checkpoint(tmp_path, tid, curves[tid], stopped[tid] or EPOCHS)
        record_trial(tmp_path / "res", sweep, TrialEnd(tid, {}, 0, False, {}), RunStore(str(tmp_path / "train")))
    in_flight = ids[5]
    assert _train(before, in_flight, curves[in_flight], 1, 3) is None
    _checkpoint(tmp_path, in_flight, curves[in_flight], 3)

    after = _scheduler(tmp_path)  # what the restored experiment holds: empty rungs
    got = dict(stopped)
    got[in_flight] = _train(after, in_flight, curves[in_flight], 4)
    for tid in ids[6:]:
        got[tid] = _train(after, tid, curves[tid])
    assert got == expected

    fresh = _scheduler(tmp_path / "nothing-written")  # no rows to rebuild from: Ray's restore
    lost = dict(stopped)
    lost[in_flight] = _train(fresh, in_flight, curves[in_flight], 4)
    for tid in ids[6:]:
        lost[tid] = _train(fresh, tid, curves[tid])
    assert lost != expected  # without the rebuild the resumed sweep prunes differently


def test_the_final_report_and_other_metrics_are_not_rung_results(tmp_path):
    sched = _scheduler(tmp_path)
    assert sched.on_trial_result(None, _Trial("x"), {"val_acc": 0.1, "final": True}) == "CONTINUE"
    assert sched.on_trial_result(None, _Trial("x"), {"epoch": 1, "train_loss": 0.1}) == "CONTINUE"
    assert all(not recorded for _, recorded in sched.asha.rungs)
