"""The probe stage's rows on the driver (`ablate.runners.probe_stage`): copied once from the trial's
``final`` checkpoint, a ``failed`` row when the trial left none, an ``ok`` row never rewritten."""

from __future__ import annotations

from ablate.config import TrialConfig, validate_sweep
from ablate.results import load
from ablate.runners.probe_stage import committed_probe, reconcile_probes, record_probe
from ablate.runners.sweep_results import (
    FINAL,
    RunStore,
    TrialEnd,
    partial_tables,
    write_final_checkpoint,
)

COLUMNS = {"stage": "probe", "probe": "source", "probe_task": "covid", "probe_data": "toy"}


def _setup(tmp_path):
    sweep = validate_sweep({"name": "s", "trial": {}, "probe": {"kind": "source"}})
    cfg = TrialConfig().model_dump_json()
    end = TrialEnd("t1", {}, trial_json=cfg, columns=COLUMNS,
                   last_result={"final": True, "status": "failed", "reason": "bad image x.png"})
    return sweep, end, RunStore(str(tmp_path / "train"))


def test_a_trial_without_a_final_checkpoint_gets_a_failed_row(tmp_path):
    sweep, end, store = _setup(tmp_path)
    row = record_probe(tmp_path / "res", sweep, end, store)
    assert (row["status"], row["reason"], row["trial_id"]) == ("failed", "bad image x.png", "s-t1")
    p = load(tmp_path / "res").probes
    assert len(p) == 1 and p.probe_task.iloc[0] == "covid" and p.stage.iloc[0] == "probe"


def test_the_final_row_is_copied_once_and_an_ok_row_is_never_rewritten(tmp_path):
    sweep, end, store = _setup(tmp_path)
    res = tmp_path / "res"
    record_probe(res, sweep, end, store)  # failed first (e.g. before a retry) ...
    ok = partial_tables(sweep, "s-t1", end, {}, "ok", "")["trials"][0]
    ok.update(COLUMNS, test_acc=0.9, n_test=10, n_correct=9, chance=0.5, chance_label="B", probe_labels='["A", "B"]',
              test_counts='{"A": 5, "B": 5}')
    store.save_checkpoint("s-t1", FINAL, lambda d: write_final_checkpoint(d, {"row_id": "s-t1"}, {"probes": [ok]}, None))
    assert reconcile_probes(res, sweep, [end], store) == ["s-t1"]  # ... then replaced by the final row
    assert committed_probe(res, "s-t1")["status"] == "ok"
    assert reconcile_probes(res, sweep, [end], store) == []  # committed ok: not written again
    p = load(res).probes
    assert len(p) == 1 and p.status.iloc[0] == "ok" and p.n_correct.iloc[0] == 9 and p.sweep.iloc[0] == "s"
