"""The engine on its own: metrics, optimizer phases, batches, NaN handling, checkpoint resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

from ablate.config import DataConfig, TrialConfig
from ablate.data import PreparedData, Sample, Split
from ablate.engine import TensorBatches
from ablate.engine.metrics import confusion_matrix, per_class_metrics
from ablate.engine.trainer import run_trial


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    p[:5] = 0  # make sure class 3 has some zero cells
    cm = confusion_matrix(torch.tensor(y), torch.tensor(p), 4)
    assert cm.numpy().tolist() == sk_confusion(y, p, labels=range(4)).tolist()
    pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=range(4), zero_division=0)
    ours = per_class_metrics(cm)
    assert [m["precision"] for m in ours] == pytest.approx(pr)
    assert [m["sensitivity"] for m in ours] == pytest.approx(rc)
    assert [m["f1"] for m in ours] == pytest.approx(f1)
    assert [m["support"] for m in ours] == sup.tolist()


def test_undefined_metrics_are_nan_as_sklearn_says():
    """Class 2 is never predicted (precision 0/0), class 3 never occurs (sensitivity 0/0),
    class 4 both (F1 0/0 too): NaN, as scikit-learn's ``zero_division=np.nan``, never 0."""
    y = np.array([0, 0, 1, 1, 2, 2, 1])
    p = np.array([0, 1, 1, 3, 0, 1, 1])
    pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=range(5), zero_division=np.nan)
    ours = per_class_metrics(confusion_matrix(torch.tensor(y), torch.tensor(p), 5))
    for key, ref in (("precision", pr), ("sensitivity", rc), ("f1", f1)):
        got = np.array([m[key] for m in ours])
        assert np.array_equal(np.isnan(got), np.isnan(ref)), key
        assert got[~np.isnan(got)] == pytest.approx(ref[~np.isnan(ref)]), key
    assert [m["support"] for m in ours] == sup.tolist()
    assert np.isnan(ours[2]["precision"]) and np.isnan(ours[3]["sensitivity"]) and np.isnan(ours[4]["f1"])


def test_batches_shard_shuffle_and_cover():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2)
    y = torch.arange(10)
    shards = [TensorBatches(x, y, 3, shuffle=True, seed=1, rank=r, world_size=2) for r in range(2)]
    seen = [torch.cat([b[1] for b in s]) for s in shards]
    assert len(seen[0]) == len(seen[1]) == 5
    assert set(torch.cat(seen).tolist()) == set(range(10))
    first = torch.cat([b[1] for b in shards[0]])
    shards[0].set_epoch(1)
    assert not torch.equal(first, torch.cat([b[1] for b in shards[0]])), "reshuffled per epoch"
    assert [len(b[1]) for b in TensorBatches(x, y, 4, drop_last=True)] == [4, 4]


def _data(n=40, size=32, k=2) -> PreparedData:
    g = torch.Generator().manual_seed(0)
    def split(m):  # class 1 images are bright, class 0 dark: learnable in a few steps
        labels = torch.arange(m) % k
        imgs = (torch.rand(m, 3, size, size, generator=g) * 60 + labels.view(-1, 1, 1, 1) * 150).to(torch.uint8)
        return Split(imgs, labels, [Sample(f"img{i}", str(int(lab))) for i, lab in enumerate(labels)])
    return PreparedData([str(i) for i in range(k)], split(n), split(n // 2), split(n // 2), dataset_hash="h")


def _cfg(**kw) -> TrialConfig:
    base = {"backbone": "resnet18", "variant": "original", "input_size": 32, "batch_size": 8, "epochs": 3,
            "phases": [{"optimizer": "adam", "epochs": 1, "lr": 1e-3},
                       {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "cosine": True}],
            "data": DataConfig(scenario="none", test_per_class=2)}
    base.update(kw)
    return TrialConfig(**base)


class Recorder:
    def __init__(self, stop_after=None):
        self.rows, self.states, self.stop_after = [], [], stop_after

    def on_start(self, info):
        self.info = info

    def on_epoch(self, row, state):
        self.rows.append(row)
        self.states.append(state())


def test_phases_switch_optimizer_and_cosine_lr():
    rec = Recorder()
    out = run_trial(_cfg(), data=_data(), reporter=rec)
    assert out.status == "ok"
    assert [r["optimizer"] for r in rec.rows] == ["adam", "sgd", "sgd"]
    assert rec.rows[0]["lr"] == pytest.approx(1e-3)
    assert rec.rows[1]["lr"] == pytest.approx(0.01) and rec.rows[2]["lr"] == pytest.approx(0.005)
    assert out.trial_row["test_acc"] > 0.9, "the bright/dark task is learnable"
    assert rec.info["n_train"] == 40


def test_nan_loss_is_a_failed_outcome_not_a_crash():
    out = run_trial(_cfg(phases=[{"optimizer": "sgd", "lr": 1e12}], epochs=2), data=_data())
    assert out.status == "failed" and "non-finite loss" in out.reason
    assert np.isnan(out.trial_row["test_acc"])


def test_resume_from_a_checkpoint_continues_the_history():
    rec = Recorder()
    full = run_trial(_cfg(), data=_data(), reporter=rec)
    state = rec.states[0]  # after epoch 1
    rec2 = Recorder()
    resumed = run_trial(_cfg(), data=_data(), reporter=rec2, resume=state)
    assert [r["epoch"] for r in rec2.rows] == [2, 3]
    assert [r["epoch"] for r in resumed.tables["epochs"]] == [1, 2, 3]
    assert resumed.tables["epochs"][0] == full.tables["epochs"][0]
    assert resumed.trial_row["epochs_run"] == 3


def test_stop_at_val_acc_ends_early():
    out = run_trial(_cfg(epochs=5, stop_at_val_acc=0.5), data=_data())
    assert out.trial_row["epochs_run"] < 5


def test_inception_aux_loss_is_added_with_its_weight():
    from ablate.engine.loop import _loss
    from ablate.models import build_model

    torch.manual_seed(0)
    model = build_model(TrialConfig(backbone="inception_v3", variant="original", input_size=299), 3)
    model.train()
    out = model(torch.rand(2, 3, 299, 299) * 255)
    assert isinstance(out, tuple) and out[1] is not None, "the aux head runs in training at 299 px"
    y = torch.tensor([0, 2])
    main = torch.nn.functional.cross_entropy(out[0], y)
    aux = torch.nn.functional.cross_entropy(out[1], y)
    assert _loss(out, y, 0.4)[0].item() == pytest.approx((main + 0.4 * aux).item(), rel=1e-5)
    assert _loss(out, y, 0.0)[0].item() == pytest.approx(main.item(), rel=1e-5)
    off = build_model(TrialConfig(backbone="inception_v3", variant="original", input_size=299, aux_weight=0), 3)
    assert off.AuxLogits is None
