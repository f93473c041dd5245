"""Every experiment file shipped in search_spaces/ runs end to end, shrunk: ``ablate run --local``
(all its stages) and ``ablate trial`` (its base configuration), through the CLI's own entry point.

A file added to search_spaces/ is covered without touching this test. Each runs with its own
stages, grid axes and searcher, shrunk by appended ``--set``s (`shrink`): the smallest input size
its models accept, 1 epoch, 2 samples of a sampled search, the top 1 confirmed on 1 seed, one seed,
a tiny synthetic set, and no cost columns unless the search optimises one. The expected number of rows per stage is counted here from the YAML itself,
not by ablate's planner.

Files that ask for ImageNet weights (``pretrained: imagenet``) run with ``pretrained=none``: this
machine has no network. Files that hold out sources (``data.hold_out_source`` in the grid or an
ablation variant) or probe them (``probe:``) run on a synthetic manifest with the sources DS1-DS7
(the built-in set has one source).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from ablate.results import load
from tests.conftest import REPO, ablate_cli

pytestmark = pytest.mark.slow

MAX_GRID = 8  # values of one grid axis a shrunk run keeps (paper-claims has 15: 22 trials would take ~70 s idle)
COST_COLUMNS = {"macs", "flops", "latency_ms", "throughput_ips"}
SHIPPED = sorted((REPO / "search_spaces").glob("*.yaml"))
_MISSING = object()


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(d, list) and part.isdigit() and int(part) < len(d):
            d = d[int(part)]
        elif isinstance(d, dict) and part in d:
            d = d[part]
        else:
            return _MISSING
    return d


def _set(d: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        d = d.setdefault(part, {})
    d[last] = value


def _backbones(raw: dict) -> set[str]:
    """Every backbone the file's base trial and search space can take."""
    found = {raw["trial"].get("backbone", "mobilenet_v3_small")}
    for key, dist in ((raw.get("search") or {}).get("space") or {}).items():
        for value in next(iter(dist.values())) if isinstance(dist, dict) else []:
            if key == "backbone":
                found.add(value)
            elif isinstance(value, dict) and "backbone" in value:
                found.add(value["backbone"])
    return found


def shrink(raw: dict) -> dict[str, Any]:
    """Dotted keys -> values that make the file's run tiny, keeping its stages and axes."""
    from ablate.models.specs import backbone_info

    size = max(32, *(backbone_info(b).min_input for b in _backbones(raw)))  # inception_v3: 75
    trial = raw["trial"]
    sets: dict[str, Any] = {"input_size": size, "batch_size": 16, "epochs": 1, "seeds": None,
                            "data.synthetic.n_per_class": 8, "data.synthetic.image_size": 32}
    search = raw.get("search")
    metrics = (search or {}).get("metric", "val_acc")
    if set(metrics if isinstance(metrics, list) else [metrics]) & COST_COLUMNS:
        sets["analysis.latency_repeats"] = 1
    else:  # the cost columns (tests/integration/test_pareto.py) cost more than a 75 px epoch of VGG16
        sets["analysis.latency"] = False
    if (trial.get("data") or {}).get("test_per_class", 200) is not None:
        sets["data.test_per_class"] = 2
    if trial.get("pretrained") == "imagenet":
        sets["pretrained"] = "none"  # no network here (a later issue adds offline weights)
    if (search or "ablation" not in raw) and (search or {}).get("algorithm", "optuna") != "grid":
        sets["search.num_samples"] = 2  # (a file without search: a default optuna search of 8 samples)
    if "confirm" in raw:
        sets |= {"confirm.top_k": 1, "confirm.seeds": [1]}
    for axis, dist in ((search or {}).get("space") or {}).items():  # a long grid: its first values
        if isinstance(dist, dict) and len(dist.get("grid") or []) > MAX_GRID:
            sets[f"search.space.{axis}.grid"] = dist["grid"][:MAX_GRID]
    if (raw.get("ablation") or {}).get("seeds"):
        sets["ablation.seeds"] = [0]
    return sets


def expected_rows(raw: dict, results: Path) -> dict[str, int]:
    """Trials rows per stage of the shrunk file, counted from its YAML (and the winner it chose)."""
    trial, search, confirm, ablation = raw["trial"], raw.get("search") or {}, raw.get("confirm"), raw.get("ablation")
    seeds = trial.get("seeds") or [trial.get("seed", 0)]
    out: dict[str, int] = {}
    space = search.get("space") or {}
    if space or not ablation:
        by_grid = search.get("algorithm") == "grid"  # then choice: axes are grid axes too
        grid = math.prod(len(d.get("grid") or (d.get("choice") if by_grid else None) or [None])
                         for d in space.values())
        out["search"] = grid * search.get("num_samples", 8) * len(seeds)
    if confirm:
        out["confirm"] = confirm["top_k"] * len(confirm["seeds"])
    if ablation:
        base = json.loads(json.loads((results / "stages" / "winner.json").read_text())["config_json"]) \
            if confirm else trial
        changed = [v for v in ablation["variants"].values()  # a variant equal to the base is not run twice
                   if any(_get(base, k) != val for k, val in v.items())]
        # data.hold_out_source: each in a variant: one variant per source that can be held out
        runs = sum(len(HOLDABLE) if v.get("data.hold_out_source") == "each" else 1 for v in changed)
        ab_seeds = ablation.get("seeds") or (confirm or {}).get("seeds") or seeds
        out["ablation"] = (runs + ablation.get("include_base", True)) * len(ab_seeds)
    return out


HOLDABLE = ("DS1", "DS2", "DS3")  # the sources of `sourced_manifest` that can be held out


@pytest.fixture(scope="module")
def sourced_manifest(tmp_path_factory) -> Path:
    """Synthetic CXR-5 images in a manifest with sources: covid from DS1-DS4, each other class from
    one source (as cxr5-real), so DS1-DS3 can be held out."""
    from ablate.data import write_manifest
    from ablate.data.samples import Sample
    from ablate.data.synthetic import synthetic_image

    root = tmp_path_factory.mktemp("sourced")
    plan = [("covid", s) for s in ("DS1", "DS2", "DS3", "DS4") for _ in range(6)] + [
        (label, src) for label, src in (("normal", "DS4"), ("tuberculosis", "DS5"),
                                        ("bacterial_pneumonia", "DS7"), ("viral_pneumonia", "DS7")) for _ in range(8)]
    samples = []
    for i, (label, src) in enumerate(plan):
        path = root / f"{i}.png"
        Image.fromarray(synthetic_image(label, 32, np.random.default_rng([5, i]))).save(path)
        samples.append(Sample(str(path), label, f"p{i}", src))
    return write_manifest(samples, root / "manifest.csv")


def _needs_sources(raw: dict) -> bool:
    """The file holds out sources (a grid axis or an ablation variant) or probes them."""
    variants = ((raw.get("ablation") or {}).get("variants") or {}).values()
    return ("data.hold_out_source" in ((raw.get("search") or {}).get("space") or {}) or "probe" in raw
            or any("data.hold_out_source" in v for v in variants))


def _args(raw: dict, sourced: Path) -> list[str]:
    data = ["--data", str(sourced)] if _needs_sources(raw) else []
    return data + [a for k, v in shrink(raw).items() for a in ("--set", f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}")]


def _raw_shrunk(path: Path) -> dict:
    raw = yaml.safe_load(path.read_text())
    for k, v in shrink(raw).items():
        if k.startswith("search.space."):  # an axis name may hold dots: the last part is the kind
            axis, kind = k.removeprefix("search.space.").rsplit(".", 1)
            raw["search"]["space"][axis] = {kind: v}
            continue
        target = raw if k.split(".")[0] in ("search", "confirm", "ablation") else raw["trial"]
        _set(target, k, v)
    return raw


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_sweep_runs_every_stage(path, tmp_path, local_ray, sourced_manifest, capsys):
    """``ablate run FILE --local``, shrunk: exit 0, every stage's rows load, as many as the file asks for."""
    raw = yaml.safe_load(path.read_text())
    res = tmp_path / "res"
    code = ablate_cli("run", str(path), "--local", "--results", str(res), *_args(raw, sourced_manifest))
    err = capsys.readouterr().err
    assert code == 0, err[-3000:]
    t = load(res).trials
    want = expected_rows(_raw_shrunk(path), res)
    assert t.groupby("stage").size().to_dict() == want, err[-3000:]
    assert t.trial_id.is_unique and (t.status == "ok").all(), t[["trial_id", "status", "reason"]].to_string()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_base_trial_runs(path, tmp_path, sourced_manifest, capsys):
    """``ablate trial FILE``, shrunk: the base configuration trains here and writes its one row."""
    raw = yaml.safe_load(path.read_text())
    res = tmp_path / "res"
    code = ablate_cli("trial", str(path), "--results", str(res), *_args(raw, sourced_manifest))
    err = capsys.readouterr().err
    assert code == 0, err[-3000:]
    t = load(res).trials
    assert len(t) == 1 and t.status.iloc[0] == "ok" and t.epochs_run.iloc[0] == 1, err[-3000:]
    assert t["cfg.backbone"].iloc[0] == raw["trial"].get("backbone", "mobilenet_v3_small")
