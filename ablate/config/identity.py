"""Configuration identity: the hash of a resolved config and its flattened columns."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol


class _Resolved(Protocol):
    """A config that dumps its resolved values (`ablate.config.TrialConfig`)."""

    def resolved_dump(self) -> dict[str, Any]: ...

# --------------------------------------------------------------------------- identity


def config_hash(cfg: _Resolved) -> str:
    """SHA-256 of the resolved config (name, device and the cost measurement's settings excluded:
    they do not change results)."""
    d = cfg.resolved_dump()
    for key in ("name", "device"):
        d.pop(key)
    for key in ("latency", "latency_repeats"):
        d["analysis"].pop(key, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def flatten(cfg: _Resolved) -> dict[str, Any]:
    """Flat ``cfg.a.b`` columns for result rows; lists become JSON strings, None stays null."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(node, list):
            out[prefix] = json.dumps(node)
        else:
            out[prefix] = node

    walk("", cfg.resolved_dump())
    return {f"cfg.{k}": v for k, v in out.items()}


# flattened config keys that do not define the experiment: the seed, the name, the device, the I/O knobs
NOT_THE_EXPERIMENT = frozenset({"cfg.seed", "cfg.seeds", "cfg.name", "cfg.device", "cfg.data.cache_dir",
                                "cfg.data.decode_workers"})


def id_of(flat: dict[str, Any]) -> str:
    """The configuration id (8 hex digits) of flattened ``cfg.*`` values, those of
    `NOT_THE_EXPERIMENT` left out: the one hash behind `config_id` and the report's ids."""
    d = {k: v for k, v in flat.items() if k not in NOT_THE_EXPERIMENT}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]


def config_id(cfg: _Resolved) -> str:
    """The configuration id (8 hex digits): the same for every seed and fold of a configuration,
    and the report's ``config`` id of its rows (`ablate.report.runs.config_ids`)."""
    return id_of(flatten(cfg))
