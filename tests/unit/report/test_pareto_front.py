"""The Pareto report: the non-dominated set against brute force, one point per configuration,
constraints, the frontier figure and the paper's backbones counted on the architecture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ablate.report.pareto import non_dominated, paper_backbones, pareto_figure, pareto_section
from ablate.results.store import Results
from tests.unit.report.test_tables import _trial


def _brute(values: np.ndarray, modes: list[str]) -> set[int]:
    sign = np.array([1 if m == "max" else -1 for m in modes])
    keep = set()
    for i, a in enumerate(values):
        if np.isnan(a).any():
            continue
        beaten = any(not np.isnan(b).any() and all(sign * b >= sign * a) and any(sign * b > sign * a)
                     for j, b in enumerate(values) if j != i)
        if not beaten:
            keep.add(i)
    return keep


def test_non_dominated_agrees_with_brute_force():
    rng = np.random.default_rng(3)
    for modes in (["max", "min"], ["max", "min", "min"], ["min", "min"]):
        v = rng.integers(0, 6, size=(40, len(modes))).astype(float)  # small integers: many ties
        v[5, 0] = np.nan
        got = set(np.flatnonzero(non_dominated(v, modes)))
        assert got == _brute(v, modes)
        assert 5 not in got and 0 < len(got) < len(v)
    assert list(non_dominated(np.array([[1.0, 1.0], [1.0, 1.0]]), ["max", "min"])) == [True, True]  # equal: both stay


def _res(root: Path, trials) -> Results:
    rows = [t for t, _ in trials]
    preds = [p for _, ps in trials for p in ps]
    return Results({"trials": pd.DataFrame(rows), "predictions": pd.DataFrame(preds)}, root)


# pcb channels -> (val_acc, params, latency_ms): 16 and 64 trade accuracy for cost, 32 is beaten by 64, 128 is
# the most accurate but slow
CONFIGS = {16: (0.80, 1.0e6, 2.0), 32: (0.81, 1.6e6, 3.5), 64: (0.86, 1.5e6, 3.0), 128: (0.90, 3.0e6, 6.0)}


def _trials(path: str = "synthetic"):
    out = []
    for ch, (acc, params, lat) in CONFIGS.items():
        for seed in (0, 1):
            row, preds = _trial(f"c{ch}-s{seed}", seed, acc, val_acc=acc + 0.01 * seed, path=path,
                                extra={"cfg.fusion.pcb_channels": ch})
            row.update(params=int(params), fp32_mb=params * 4 / 1e6, macs=int(params * 10), flops=int(params * 20),
                       latency_ms=lat + 0.1 * seed)
            out.append((row, preds))
    return out


def test_front_is_per_configuration_over_seeds_and_respects_constraints(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({"search": {
        "objectives": [{"metric": "val_acc", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}],
        "constraints": {"latency_ms": "<= 5"}}}))
    sec = pareto_section(_res(tmp_path, _trials()))
    assert sec is not None and sec.key == "pareto"
    t = sec.table
    assert set(t.seeds) == {2}  # a configuration's seeds together, never pooled with another's
    means = {ch: (acc + 0.005, lat + 0.05) for ch, (acc, _, lat) in CONFIGS.items()}
    feasible = [ch for ch, (_, lat) in means.items() if lat <= 5]
    expected = {feasible[i] for i in _brute(np.array([means[c] for c in feasible]), ["max", "min"])}
    got = {round(p, 1) for p in t.params_M}
    assert got == {round(CONFIGS[c][1] / 1e6, 1) for c in expected} == {1.0, 1.5}  # 128 breaks latency <= 5
    assert list(t.val_acc) == pytest.approx([0.805, 0.865]) and "ci_%" in t
    assert any("break the constraints" in n for n in sec.notes)
    # without the constraint the slow, most accurate configuration joins the front
    (tmp_path / "sweep.json").write_text(json.dumps({"search": {
        "objectives": [{"metric": "val_acc", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}]}}))
    assert len(pareto_section(_res(tmp_path, _trials())).table) == 3


def test_default_objectives_without_a_sweep_are_val_acc_and_params(tmp_path):
    t = pareto_section(_res(tmp_path, _trials())).table
    assert {"val_acc", "params_M"} <= set(t.columns) and "params" not in t  # params shown once, in millions
    assert sorted(t.params_M) == [1.0, 1.5, 3.0]  # 32 channels: more params and less accurate than 64


def test_paper_backbones_counted_on_the_architecture():
    p = paper_backbones().set_index("backbone")
    assert len(p) == 6 and p.loc["vgg16", "test_acc"] == pytest.approx(0.939)
    # torchvision's VGG16 (138,357,544 with 1,000 classes) with a 5-class last layer
    assert p.loc["vgg16", "params"] == 138_357_544 - (4096 * 1000 + 1000) + (4096 * 5 + 5)
    assert (p.flops == 2 * p.macs).all() and p.loc["mobilenet_v3_small", "macs"] < p.loc["resnet18", "macs"]


@pytest.mark.parametrize("path", ["synthetic", "/data/cxr5-real/manifest.csv"])
def test_frontier_figure_for_a_chosen_pair(tmp_path, path):
    res = _res(tmp_path, _trials(path))
    f = pareto_figure(res, tmp_path, ("latency_ms", "test_acc"))
    assert f is not None and f.name == "pareto_latency_ms_test_acc.png" and f.stat().st_size > 0
    assert pareto_figure(res, tmp_path).name == "pareto_params_test_acc.png"
    one = _res(tmp_path, _trials(path)[:1])
    assert pareto_figure(one, tmp_path) is None


def test_unknown_pareto_column_is_one_line_naming_the_choices():
    from ablate.errors import AblateError
    from ablate.report import make_report

    with pytest.raises(AblateError, match=r"--pareto 'latency,test_acc' must be two columns.*latency_ms"):
        make_report("nowhere", pareto="latency,test_acc")
