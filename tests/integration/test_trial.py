"""End-to-end local trials: real training, real Parquet, real images, and the error paths."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from ablate import api
from ablate.results import TABLES, load
from tests.conftest import TINY, tensorboard_run

pytestmark = pytest.mark.slow


def _ablate(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ablate.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False)


def test_synthetic_trial_beats_chance_and_writes_documented_tables(tmp_path):
    outcomes = api.run_trials("cxr5-sweep", overrides=[*TINY, "epochs=4"], data="synthetic", results=tmp_path)
    assert len(outcomes) == 1 and outcomes[0].status == "ok"
    res = load(tmp_path)
    t = res.trials
    assert len(t) == 1
    assert set(TABLES["trials"].names) <= set(t.columns)
    row = t.iloc[0]
    assert row.status == "ok" and row.epochs_run == 4 and 1 <= row.best_epoch <= 4
    assert row.test_acc > 0.2 + 0.15, f"5 classes: chance is 0.2, got {row.test_acc}"
    assert row.n_test == 5 * 20 and row.params > 0 and row.fp32_mb == pytest.approx(row.params * 4 / 1e6)
    assert row["cfg.backbone"] == "resnet18" and json.loads(row["cfg.fusion.taps"]) == ["maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert json.loads(row.class_names) == ["covid", "tuberculosis", "normal", "bacterial_pneumonia", "viral_pneumonia"]
    assert res.epochs.epoch.tolist() == [1, 2, 3, 4]
    cm = res.confusion[res.confusion.split == "test"]
    assert cm["count"].sum() == row.n_test
    correct = cm[cm.true_index == cm.pred_index]["count"].sum()
    assert correct / row.n_test == pytest.approx(row.test_acc)
    cls = res.class_metrics[res.class_metrics.split == "test"]
    assert cls.support.tolist() == [20] * 5
    assert len(res.predictions) == row.n_test and res.predictions.correct.mean() == pytest.approx(row.test_acc)
    # plain pandas reads the files too, and TensorBoard logs are there
    assert len(pd.read_parquet(tmp_path / "epochs")) == 4
    tb = tensorboard_run(tmp_path / "tensorboard" / row.trial_id)
    assert tb["scalars"]["test/acc"] == pytest.approx(row.test_acc) and "val/acc" in tb["scalars"]
    assert tb["scalars"]["hparams/val_acc"] == pytest.approx(row.val_acc)
    assert tb["hparams"]["backbone"] == "resnet18" and tb["hparams"]["batch_size"] == row.train_batch_size
    from ablate.results.models import load_model

    _model, cfg, names = load_model(tmp_path, row.trial_id)
    assert cfg.trial_id() == row.trial_id and names == json.loads(row.class_names)


def test_seeds_repeat_and_rerun_does_not_duplicate(tmp_path):
    sets = [*TINY, "epochs=1", "seeds=[0, 1]", "variant=original"]
    api.run_trials("cxr5-sweep", overrides=sets, data="synthetic", results=tmp_path)
    api.run_trials("cxr5-sweep", overrides=sets, data="synthetic", results=tmp_path)
    t = load(tmp_path).trials
    assert sorted(t.seed) == [0, 1] and t.trial_id.is_unique
    assert (t.variant == "original").all() and t["cfg.fusion.taps"].isna().all()


def test_nan_loss_fails_the_trial_with_a_reason(tmp_path):
    sets = [*TINY, "epochs=2", "phases=[{optimizer: sgd, lr: 1.0e+8}]"]
    r = _ablate("trial", "cxr5-sweep", "--data", "synthetic", "--results", str(tmp_path),
                *[a for s in sets for a in ("--set", s)])
    assert r.returncode != 0
    assert "non-finite loss" in r.stderr
    row = load(tmp_path).trials.iloc[0]
    assert row.status == "failed" and "non-finite loss" in row.reason and pd.isna(row.test_acc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "does/not/exist"], "does/not/exist"),
        (["--set", "backbone=resnet19"], "unknown backbone 'resnet19'"),
        (["--set", "fusion.taps=[layer9]"], "unknown tap 'layer9'"),
        (["--set", "fusion.gates=dynamic"], "unknown key 'trial.fusion.gates'"),
        (["--set", "data.scenario=cxr7"], "data.scenario"),
    ],
)
def test_bad_input_one_line_error_no_output(tmp_path, args, message):
    results = tmp_path / "res"
    r = _ablate("trial", "cxr5-sweep", "--results", str(results), *args, cwd=tmp_path)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error:") and message in lines[0]
    assert not results.exists()


def test_unreadable_config_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trial: [unclosed\n")
    r = _ablate("trial", str(bad), "--results", str(tmp_path / "res"))
    assert r.returncode != 0 and "not valid YAML" in r.stderr
    assert not (tmp_path / "res").exists()
    r = _ablate("--debug", "trial", str(bad))
    assert "Traceback" in r.stderr


def test_kfold_writes_one_row_per_fold(tmp_path):
    api.run_trials("cxr5-sweep", overrides=[*TINY, "epochs=1", "data.folds=3"], data="synthetic", results=tmp_path)
    t = load(tmp_path).trials.sort_values("fold")
    assert t.fold.tolist() == [0, 1, 2] and t.config_hash.nunique() == 1 and t.trial_id.is_unique
    assert (t.n_test == 100).all()
    assert t.n_val.sum() == t.n_train.iloc[0] + t.n_val.iloc[0], "the folds partition the train/val part"
