"""`ablate schema`: the committed JSON Schemas are what the models generate now, every shipped
sweep file names and passes them, and a misspelt key fails them as it fails `ablate`."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from ablate.cli import app
from ablate.config import read_sweep, validate_sweep, validate_trial
from ablate.config.schema import SCHEMA_FILES, schema, schema_text
from ablate.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SPACES = REPO / "search_spaces"
SWEEPS = sorted(SPACES.glob("*.yaml"))


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    s = schema(kind)
    jsonschema.Draft202012Validator.check_schema(s)
    return jsonschema.Draft202012Validator(s)


@pytest.mark.parametrize("kind", ["sweep", "trial"])
def test_committed_schema_is_what_ablate_schema_writes_now(kind, tmp_path):
    committed = (SPACES / SCHEMA_FILES[kind]).read_text()
    assert committed == schema_text(kind), f"search_spaces/{SCHEMA_FILES[kind]} is stale: run `make schema`"
    args = ["schema", *(["--trial"] if kind == "trial" else [])]
    assert CliRunner().invoke(app, args).output == committed
    r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "s.json")])
    assert r.exit_code == 0 and (tmp_path / "s.json").read_text() == committed


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_shipped_file_names_the_schema_and_passes_it(path):
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=sweep.schema.json"
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in _validator("sweep").iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors


def test_schema_describes_fields_from_the_source_comments():
    defs = schema("sweep")["$defs"]
    assert "PCB" in defs["FusionConfig"]["properties"]["pcb_channels"]["description"]
    assert "multi-objective" in defs["SearchConfig"]["properties"]["metric"]["description"]
    assert set(defs["TrialConfig"]["properties"]) == set(type(validate_trial({})).model_fields)


def _set(raw: dict, path: tuple[str, ...], value, *, rename: str | None = None) -> dict:
    out = copy.deepcopy(raw)
    *parents, last = path
    node = out
    for p in parents:
        node = node[p]
    if rename:
        node[rename] = node.pop(last)
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "rename", "where"),
    [
        (("search",), None, "serach", ""),  # a misspelt section
        (("trial", "fusion", "pcb_channels"), None, "pcb_chanels", "trial.fusion"),  # a misspelt key
        (("search", "space", "phases.0.lr"), {"logunifrom": [1e-4, 1e-2]}, None, "search.space.phases.0.lr"),  # a kind
        (("trial", "fusion", "gate"), "dinamic", None, "trial.fusion.gate"),  # a value outside its choices
    ],
)
def test_a_typo_fails_the_schema_and_ablate_alike(path, value, rename, where):
    raw = yaml.safe_load((SPACES / "cxr5-study.yaml").read_text())
    bad = _set(raw, path, value, rename=rename)
    errors = list(_validator("sweep").iter_errors(bad))
    assert errors and {".".join(map(str, e.absolute_path)) for e in errors} == {where}
    with pytest.raises(ConfigError):
        validate_sweep(bad)


def test_bare_trial_file_schema(tmp_path):
    raw = {"backbone": "resnet18", "epochs": 2, "phases": [{"optimizer": "sgd", "lr": 0.01}], "data": {"path": "x.csv"}}
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(raw))
    assert read_sweep(p).trial.backbone == "resnet18"  # ablate takes it as a trial file
    v = _validator("trial")
    assert not list(v.iter_errors(raw))
    assert [list(e.absolute_path) for e in v.iter_errors({**raw, "epoch": 2})] == [[]]
