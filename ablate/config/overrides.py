"""Reading sweep files, ``--set`` parsing and typed dotted-path overrides (`set_path`)."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from ablate.config.messages import ModelT, model_of, validate_as
from ablate.config.space import DIST_KINDS
from ablate.config.sweep import SweepConfig
from ablate.config.trial import TrialConfig
from ablate.errors import ConfigError

# --------------------------------------------------------------------------- loading


def search_space_dirs() -> list[Path]:
    """Folders searched for a sweep name: ./search_spaces, then the packaged ones."""
    here = Path(__file__).resolve().parent
    dirs = [Path.cwd() / "search_spaces", here / "search_spaces", here.parent / "search_spaces"]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def find_sweep_file(name_or_path: str | Path) -> Path:
    """Resolve a sweep name (``cxr5-sweep``) or a path to its YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(f"config file {p} not found; pass a YAML path or a sweep name (see `ablate list`)")
        return p
    for d in search_space_dirs():
        for ext in (".yaml", ".yml"):
            if (d / f"{p.name}{ext}").is_file():
                return d / f"{p.name}{ext}"
    names = sorted({f.stem for d in search_space_dirs() for f in d.glob("*.y*ml")})
    hint = difflib.get_close_matches(str(name_or_path), names, n=1)
    extra = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ConfigError(f"unknown sweep {str(name_or_path)!r}{extra}; known: {', '.join(names) or 'none'} (see `ablate list`)")


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or " ".join(str(e).split())
        raise ConfigError(f"config {path} is not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a YAML mapping, got {type(raw).__name__}")
    return raw


def validate_sweep(raw: dict[str, Any], source: str = "config") -> SweepConfig:
    """Validate a raw dict as a sweep (data only: no model checks), errors as one line."""
    return validate_as(SweepConfig, raw, source)


def validate_trial(raw: dict[str, Any], source: str = "config") -> TrialConfig:
    """Validate a raw dict as a trial config (data only: no model checks), errors as one line."""
    return validate_as(TrialConfig, raw, source)


def read_sweep(name_or_path: str | Path, overrides: Iterable[str] = ()) -> SweepConfig:
    """Read a sweep file (or a bare trial config) and apply ``--set`` overrides; data only.

    A file without a ``trial:`` key is taken as a trial config and wrapped in a sweep. The
    model checks and the search-space checks are the resolve step: `ablate.search.sweep.load_sweep`
    does both.
    """
    path = find_sweep_file(name_or_path)
    raw = read_yaml(path)
    if "trial" not in raw and "search" not in raw:
        raw = {"name": raw.get("name", path.stem), "trial": raw}
    raw.setdefault("name", path.stem)
    return apply_sets(validate_sweep(raw, source=str(path)), overrides)


def apply_sets(sweep: SweepConfig, overrides: Iterable[str]) -> SweepConfig:
    """`sweep` with ``--set key=value`` overrides (trial keys need no ``trial.`` prefix)."""
    pairs = [_sweep_key(*parse_set(item)) for item in overrides]
    return set_paths(sweep, pairs, source="--set") if pairs else sweep


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides to a raw sweep dict (trial keys need no prefix); not validated."""
    out = copy.deepcopy(raw)
    for item in overrides:
        _put(out, SweepConfig, *_sweep_key(*parse_set(item)), source="--set")
    return out


def _sweep_key(key: str, value: Any) -> tuple[str, Any]:
    return (key if key.split(".")[0] in SweepConfig.model_fields else f"trial.{key}"), value


def parse_set(item: str) -> tuple[str, Any]:
    """Split ``a.b=value`` and parse the value as YAML (``2``, ``1e-3``, ``[0,1]``, ``adam``)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r} must look like key=value, e.g. --set epochs=2")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r} has an empty key")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: cannot parse value {text!r}: {_yaml_problem(e)}") from None
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads '1e-3' as a string
    return key, value


def _yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error on one line: the problem and where (PyYAML's own text spans several lines)."""
    problem = getattr(e, "problem", None) or " ".join(str(e).split())
    mark = getattr(e, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- set_path



def set_path(config: ModelT, path: str, value: Any, *, source: str | None = None) -> ModelT:
    """A copy of `config` with `value` at the dotted `path`, validated.

    Digits index lists (``phases.1.lr``); a section that is unset (``None``) is filled with
    its defaults first. On a `SweepConfig`, ``search.space.<axis>`` names one axis whose key
    may contain dots (``search.space.phases.0.lr``); ``None`` removes the axis, and
    ``search.space.<axis>.<kind>`` sets ``{kind: value}``.

    Args:
        config: a validated config (`TrialConfig`, `SweepConfig` or any of their sections).
        path: dotted path relative to `config`.
        value: the new value, as YAML would give it (scalars, lists, mappings).
        source: the start of an error message (default: ``set <path>``).

    Raises:
        ConfigError: an unknown key, an index out of range or an invalid value (one line).
    """
    return set_paths(config, [(path, value)], source=source or f"set {path}")


def set_paths(
    config: ModelT, values: Mapping[str, Any] | Iterable[tuple[str, Any]], *, source: str = "set"
) -> ModelT:
    """`set_path` for several paths at once, validated once at the end (so keys that must
    change together, like ``data.test_per_class`` and ``data.test_fraction``, can)."""
    pairs = list(values.items()) if isinstance(values, Mapping) else list(values)
    raw = config.model_dump()
    for path, value in pairs:
        _put(raw, type(config), path, value, source=source)
    return validate_as(type(config), raw, source)


def _put(raw: dict[str, Any], model: type[BaseModel], path: str, value: Any, *, source: str) -> None:
    """Put `value` at `path` in the raw dump of `model`, filling unset sections with defaults."""
    parts = path.split(".")
    if issubclass(model, SweepConfig) and parts[:2] == ["search", "space"] and len(parts) > 2:
        _set_space_axis(raw, parts[2:], value)
        return
    node: Any = raw
    node_model: Any = model
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{source}: {path}: index {part!r} out of range (the list has {len(node)} items)")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: {path}: {'.'.join(parts[:i])} is not a mapping")
        if last:
            node[part] = value
            break
        if node.get(part) is None:
            node[part] = _section_default(node_model, part)
        node, node_model = node[part], _child_model(node_model, part)


def _child_model(model: Any, part: str) -> Any:
    fields = getattr(model, "model_fields", {})
    return model_of(fields[part].annotation) if part in fields else None


def _section_default(model: Any, part: str) -> Any:
    """The raw default of an unset section, so ``--set phases.1.lr=...`` works on defaults."""
    field = getattr(model, "model_fields", {}).get(part)
    if field is None:
        return {}
    default = field.get_default(call_default_factory=True)
    if default is None:
        sub = model_of(field.annotation)
        try:
            default = sub() if sub is not None else {}
        except ValidationError:
            return {}
    if isinstance(default, BaseModel):
        return default.model_dump()
    if isinstance(default, list):
        return [d.model_dump() if isinstance(d, BaseModel) else copy.deepcopy(d) for d in default]
    return copy.deepcopy(default) if isinstance(default, dict) else {}


def _set_space_axis(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    """``search.space.<dotted key>=...``: space keys contain dots, so the rest is one key.

    ``search.space.phases.0.epochs='{int: [2, 6]}'`` and ``search.space.phases.0.epochs.int=[2,6]``
    set that axis; ``=null`` removes it (the base trial's value is used instead).
    """
    if parts[-1] in DIST_KINDS and len(parts) > 1:
        parts, value = parts[:-1], {parts[-1]: value}
    search = raw.get("search") or {}
    raw["search"] = search
    space = search.get("space") or {}
    search["space"] = space
    axis = ".".join(parts)
    if value is None:
        space.pop(axis, None)
    else:
        space[axis] = value
