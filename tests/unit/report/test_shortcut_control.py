"""A masked-lung or held-out-source run is a check, never the configuration a table selects."""

from __future__ import annotations

import pandas as pd

from ablate.report.runs import RunSet, select_config, shortcut_control


def _set(cid: str, val: float, mask: str = "none", held: str | None = None) -> RunSet:
    rows = pd.DataFrame({"trial_id": [cid], "seed": [0], "cfg.data.mask": [mask], "cfg.data.hold_out_source": [held]})
    return RunSet(cid, {0: cid}, 1, val, rows)


def test_controls_stand_aside_when_a_plain_configuration_exists():
    plain, masked, held = _set("a", 0.70), _set("b", 0.90, mask="lungs"), _set("c", 0.95, held="DS1")
    assert [shortcut_control(s) for s in (plain, masked, held)] == [False, True, True]
    assert select_config([masked, plain, held])[0] is plain
    assert select_config([masked, held])[0] is held  # only checks: the usual rule
