"""Importing the Ray adapter changes no global state (Optuna's verbosity, warning filters);
a run sets them inside `quiet_optuna` and restores them."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

pytest.importorskip("ray.tune")

# the adapter's third-party and ablate dependencies are imported first, so the snapshot is
# taken after anything they do at import; then only the adapter's own modules are compared
_CHECK = """
import importlib, pkgutil, warnings
import optuna, pandas, rich.live, ray, ray.train.torch, ray.tune.search.optuna
import ray.tune.integration.ray_train, ray.tune.schedulers
import ray.air.integrations.mlflow, ray.air.integrations.wandb  # the trackers' clients (ablate.runners.ray.tracking)
import ablate.config, ablate.engine.runtime, ablate.results, ablate.runners.sweep_results, ablate.search.translate
before = (optuna.logging.get_verbosity(), list(warnings.filters))
import ablate.runners.ray as pkg
for m in pkgutil.iter_modules(pkg.__path__):
    importlib.import_module(f"ablate.runners.ray.{m.name}")
after = (optuna.logging.get_verbosity(), list(warnings.filters))
assert before == after, (before, after)
print("unchanged")
"""


def test_importing_the_ray_adapter_changes_no_global_state():
    r = subprocess.run([sys.executable, "-c", _CHECK], check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "unchanged" in r.stdout, r.stderr[-3000:]


def test_quiet_optuna_hides_the_repeated_step_warning_and_restores_state():
    import optuna

    from ablate.runners.ray.searcher import quiet_optuna

    before = (optuna.logging.get_verbosity(), list(warnings.filters))
    with quiet_optuna():
        assert optuna.logging.get_verbosity() >= optuna.logging.WARNING
        trial = optuna.create_study().ask()
        trial.report(1.0, step=1)
        with warnings.catch_warnings(record=True) as caught:
            trial.report(2.0, step=1)  # a resumed trial re-reports an epoch: Optuna keeps the first value
        assert not [w for w in caught if "already reported" in str(w.message)]
    assert (optuna.logging.get_verbosity(), list(warnings.filters)) == before


def test_timing_marks_are_records_of_the_ablate_timing_logger(tmp_path, caplog):
    import json
    import logging

    from ablate.runners.ray.timing import JsonLinesHandler, mark, timing_log

    with caplog.at_level(logging.DEBUG, logger="ablate.timing"):
        mark("epoch_trained", row_id="s-1", epoch=2)
    (record,) = [r for r in caplog.records if r.name == "ablate.timing"]
    assert record.getMessage() == "epoch_trained" and record.timing == {"row_id": "s-1", "epoch": 2}

    handler = JsonLinesHandler(str(tmp_path / "timing.jsonl"))
    timing_log.addHandler(handler)
    try:
        with caplog.at_level(logging.DEBUG, logger="ablate.timing"):
            mark("ray_init")
            mark("epoch_trained", row_id="s-1", epoch=2)
    finally:
        timing_log.removeHandler(handler)
    lines = [json.loads(ln) for ln in (tmp_path / "timing.jsonl").read_text().splitlines()]
    assert [ln["event"] for ln in lines] == ["ray_init", "epoch_trained"]
    assert lines[1]["epoch"] == 2 and {"t", "pid", "row_id"} <= set(lines[1])
