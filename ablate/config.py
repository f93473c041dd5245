"""Typed configuration: one trial (`TrialConfig`) and one sweep file (`SweepConfig`).

Everything a run needs is here, validated when loaded: unknown keys are rejected with a
suggestion, backbones and taps are checked against the model registry. Overrides use dotted
paths (``fusion.pcb_channels=32``, ``phases.0.lr=1e-3``, ``seeds=[0,1]``) whose values are
parsed as YAML scalars or lists.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ablate.errors import ConfigError

__all__ = [
    "AblationConfig",
    "AnalysisConfig",
    "DataConfig",
    "FusionConfig",
    "PhaseConfig",
    "ResourcesConfig",
    "SchedulerConfig",
    "SearchConfig",
    "SweepConfig",
    "SyntheticConfig",
    "TrialConfig",
    "apply_overrides",
    "config_hash",
    "find_sweep_file",
    "flatten",
    "load_sweep",
    "parse_set",
    "search_space_dirs",
]

DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FusionConfig(_Strict):
    """The modification: one PCB per tap, fused with gate weights."""

    taps: list[str] | None = None  # torchvision graph node names; None = the backbone's defaults
    pcb_channels: int = Field(64, ge=1, le=4096)  # P: channels of every tap PCB
    gate: Literal["dynamic", "static", "uniform"] = "dynamic"  # per-sample | per-tap | plain sum
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    init: Literal["xavier", "default"] = "xavier"  # init of the new layers (the scripts: Xavier)


class PhaseConfig(_Strict):
    """One optimizer phase; phases run in order (the paper: Adam, then SGD)."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    epochs: int | None = Field(None, ge=0)  # None: the rest of the trial's `epochs`
    lr: float | None = Field(None, gt=0)  # None: the framework default (adam 1e-3, sgd 1e-2)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # SGD only
    weight_decay: float = Field(0.0, ge=0.0)
    cosine: bool = False  # cosine decay of lr over the phase

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


class SyntheticConfig(_Strict):
    """The built-in synthetic chest-X-ray-like dataset (used when ``data.path: synthetic``)."""

    n_per_class: int = Field(300, ge=2)  # enough for the paper's 200 test images per class
    image_size: int = Field(96, ge=16, le=1024)
    seed: int = 0


class DataConfig(_Strict):
    """Where images come from and how they are split."""

    path: str = "synthetic"  # "synthetic", a class-per-folder tree, or a manifest CSV
    format: Literal["auto", "folder", "manifest", "covidx", "covidx-ct"] = "auto"
    scenario: Literal["cxr5", "cxr4", "cxr3", "none"] = "cxr5"
    normalize: Literal["none", "imagenet"] = "none"  # none = raw 0-255 pixels, as the paper
    test_per_class: int | None = Field(200, ge=1)  # fixed test images per class (the paper: 200)
    test_fraction: float | None = Field(None, gt=0.0, lt=1.0)  # used when test_per_class is None
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # of the train/val part (no k-fold)
    folds: int = Field(1, ge=1, le=20)  # > 1: k-fold cross-validation on the train/val part
    hold_out_source: str | None = None  # leave-one-source-out: test = this source's images
    split_seed: int = 0
    hflip: bool = False  # random horizontal flip while training
    decode_workers: int = Field(0, ge=0)  # threads decoding images; 0 = one per core
    cache_dir: str | None = None  # decoded-image cache; None = ~/.cache/ablate
    skip_bad: bool = False  # drop unreadable images (listed in the trial row) instead of failing
    synthetic: SyntheticConfig = SyntheticConfig()

    @model_validator(mode="after")
    def _one_test_rule(self) -> DataConfig:
        if self.test_per_class is None and self.test_fraction is None:
            raise ValueError("set data.test_per_class or data.test_fraction")
        return self


class AnalysisConfig(_Strict):
    """Extra measurements of a trial (the paper's Fig. 6 and Tables 15/16)."""

    gradients: bool = False  # per epoch: |gradient| stats of the first eight conv layers
    robustness: bool = False  # after training: test accuracy under the paper's pixel noise
    robustness_levels: list[tuple[float, float]] = Field(default_factory=list)  # extra (n, m) pairs
    robustness_seed: int = 0


class TrialConfig(_Strict):
    """One training configuration: backbone, variant, data, optimizer phases."""

    name: str = "trial"
    backbone: str = "mobilenet_v3_small"
    variant: Literal["original", "modified"] = "modified"
    fusion: FusionConfig = FusionConfig()
    pretrained: Literal["none", "imagenet"] = "none"
    weights_path: str | None = None  # local state dict, loaded with weights_only=True
    aux_weight: float = Field(0.4, ge=0.0)  # Inception-v3 auxiliary loss weight; 0 = off
    # momentum of every BatchNorm layer; None keeps torchvision's (0.1, MobileNetV3: 0.01)
    bn_momentum: float | None = Field(None, gt=0.0, le=1.0)
    input_size: int = Field(299, ge=16, le=1024)
    batch_size: int = Field(128, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    epochs: int = Field(40, ge=1)  # total; phases are consumed in order
    phases: list[PhaseConfig] = Field(
        default_factory=lambda: [PhaseConfig(optimizer="adam", epochs=20), PhaseConfig(optimizer="sgd")]
    )
    seed: int = 0
    seeds: list[int] | None = None  # repeat the configuration once per seed
    stop_at_val_acc: float | None = Field(None, gt=0.0, le=1.0)  # the CT script stops at 0.993
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True  # mixed precision on CUDA
    channels_last: bool = True  # on CUDA
    data: DataConfig = DataConfig()
    analysis: AnalysisConfig = AnalysisConfig()

    @field_validator("phases")
    @classmethod
    def _phases_nonempty(cls, v: list[PhaseConfig]) -> list[PhaseConfig]:
        if not v:
            raise ValueError("at least one optimizer phase is needed")
        return v

    @model_validator(mode="after")
    def _check_model(self) -> TrialConfig:
        from ablate.models.registry import validate_model_config

        validate_model_config(self)
        return self

    def phase_plan(self) -> list[int]:
        """Phase index for each epoch: phases in order, each cut by the total `epochs`."""
        plan: list[int] = []
        for i, phase in enumerate(self.phases):
            left = self.epochs - len(plan)
            n = left if phase.epochs is None else min(phase.epochs, left)
            plan.extend([i] * max(n, 0))
        if len(plan) < self.epochs:  # the last phase runs on when phases sum to less
            plan.extend([len(self.phases) - 1] * (self.epochs - len(plan)))
        return plan

    def resolved_taps(self) -> list[str]:
        """The taps the modified model uses (the backbone's defaults when unset); [] if original."""
        if self.variant != "modified":
            return []
        from ablate.models.registry import get_spec

        return list(self.fusion.taps or get_spec(self.backbone).default_taps)

    def resolved_dump(self) -> dict[str, Any]:
        """JSON-able dict of the config as run: taps resolved, `seeds` (a list to expand) left out."""
        d = self.model_dump(mode="json", exclude={"seeds"})
        if self.variant == "modified":
            d["fusion"]["taps"] = self.resolved_taps()
        return d

    def trial_id(self) -> str:
        """Stable id from the resolved config (the same config and seed give the same id)."""
        return f"{self.backbone}-{self.variant}-s{self.seed}-{config_hash(self)[:10]}"


Distribution = dict[str, Any]
DIST_KINDS = ("choice", "grid", "uniform", "loguniform", "int", "subset")


class SearchConfig(_Strict):
    """How the space is searched; `space` maps dotted config paths to distributions."""

    algorithm: Literal["optuna", "random", "grid"] = "optuna"
    seed: int = 0
    num_samples: int = Field(8, ge=1)  # samples per grid point
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"
    max_concurrent: int | None = Field(None, ge=1)
    space: dict[str, Distribution] = Field(default_factory=dict)

    @field_validator("space")
    @classmethod
    def _check_space(cls, space: dict[str, Distribution]) -> dict[str, Distribution]:
        for key, dist in space.items():
            _check_distribution(key, dist)
        return space


def _check_distribution(key: str, dist: Any) -> None:
    where = f"search.space.{key}"
    if not isinstance(dist, dict) or len(dist) != 1:
        raise ValueError(f"{where} must be one of {{{', '.join(DIST_KINDS)}: ...}}, got {dist!r}")
    (kind, arg), = dist.items()
    if kind not in DIST_KINDS:
        raise ValueError(f"{where}: unknown distribution {kind!r}; allowed: {', '.join(DIST_KINDS)}")
    if kind in ("choice", "grid"):
        if not isinstance(arg, list) or not arg:
            raise ValueError(f"{where}: {kind} needs a non-empty list of values")
    elif kind == "subset":
        if not isinstance(arg, dict) or not isinstance(arg.get("of"), list) or not arg["of"]:
            raise ValueError(f"{where}: subset needs {{of: [candidates...], min: N}}")
        unknown = set(arg) - {"of", "min"}
        if unknown:
            raise ValueError(f"{where}: subset takes 'of' and 'min', not {sorted(unknown)}")
        if not 1 <= int(arg.get("min", 1)) <= len(arg["of"]):
            raise ValueError(f"{where}: subset min must be between 1 and {len(arg['of'])}")
    else:
        ok = isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, (int, float)) for a in arg)
        if not ok or not arg[0] < arg[1]:
            raise ValueError(f"{where}: {kind} needs [low, high] with low < high, got {arg!r}")
        if kind == "loguniform" and arg[0] <= 0:
            raise ValueError(f"{where}: loguniform bounds must be > 0, got {arg!r}")
        if kind == "int" and not all(isinstance(a, int) for a in arg):
            raise ValueError(f"{where}: int bounds must be integers, got {arg!r}")


class SchedulerConfig(_Strict):
    """Early stopping of bad trials."""

    kind: Literal["asha", "none"] = "asha"
    grace_period: int = Field(2, ge=1)  # epochs before a trial may be stopped
    reduction_factor: float = Field(3.0, gt=1.0)


class ResourcesConfig(_Strict):
    """Resources of one trial: a Ray Train job of `workers` DDP processes."""

    workers: int = Field(1, ge=1)
    gpus_per_worker: float | Literal["auto"] = "auto"  # auto: 1 when the cluster has GPUs
    cpus_per_worker: float = Field(1.0, gt=0)


class AblationConfig(_Strict):
    """A base configuration (the sweep's `trial`) and named variants of overrides."""

    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    include_base: bool = True


class SweepConfig(_Strict):
    """One experiment file in `search_spaces/`."""

    name: str
    description: str = ""
    trial: TrialConfig = TrialConfig()
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    resources: ResourcesConfig = ResourcesConfig()
    ablation: AblationConfig | None = None


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


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path} is not valid YAML{where}: {getattr(e, 'problem', e)}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a YAML mapping, got {type(raw).__name__}")
    return raw


def load_sweep(
    name_or_path: str | Path, overrides: list[str] | None = None, *, check_space: bool = True
) -> SweepConfig:
    """Load a sweep file (or a bare trial config) and apply ``--set`` overrides.

    A file without a ``trial:`` key is taken as a trial config and wrapped in a sweep.
    Overrides address the trial by default (``epochs=2``); ``search.``, ``scheduler.``,
    ``resources.`` and ``ablation.`` address the sweep. ``check_space=False`` (``ablate
    trial``, which runs only the base configuration) skips checking every search-space value
    against the base trial, so ``--set backbone=resnet18`` works on a sweep whose space lists
    MobileNet taps.
    """
    path = find_sweep_file(name_or_path)
    raw = _read_yaml(path)
    if "trial" not in raw and "search" not in raw:
        raw = {"name": raw.get("name", path.stem), "trial": raw}
    raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, overrides or [])
    return validate_sweep(raw, source=str(path), check_space=check_space)


SWEEP_KEYS = ("name", "description", "trial", "search", "scheduler", "resources", "ablation")


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides to a raw sweep dict (trial keys need no prefix)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, value = parse_set(item)
        parts = key.split(".")
        if parts[0] not in SWEEP_KEYS:
            parts = ["trial", *parts]
        if parts[:2] == ["search", "space"] and len(parts) > 2:
            _set_space_axis(out, parts[2:], value)
        else:
            _set_path(out, parts, value, key)
    return out


def _set_space_axis(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    """``search.space.<dotted key>=...``: space keys contain dots, so the rest is one key.

    ``search.space.phases.0.epochs='{int: [2, 6]}'`` and ``search.space.phases.0.epochs.int=[2,6]``
    set that axis; ``=null`` removes it (the base trial's value is used instead).
    """
    if parts[-1] in DIST_KINDS and len(parts) > 1:
        parts, value = parts[:-1], {parts[-1]: value}
    search = raw.setdefault("search", {}) or {}
    raw["search"] = search
    space = search.setdefault("space", {}) or {}
    search["space"] = space
    axis = ".".join(parts)
    if value is None:
        space.pop(axis, None)
    else:
        space[axis] = value


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
        raise ConfigError(f"--set {key}: cannot parse value {text!r}: {e}") from e
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads '1e-3' as a string
    return key, value


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _set_path(d: Any, parts: list[str], value: Any, key: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(d, list):
            if not part.isdigit() or int(part) >= len(d):
                raise ConfigError(f"--set {key}: index {part!r} out of range (the list has {len(d)} items)")
            if last:
                d[int(part)] = value
            else:
                d = d[int(part)]
            continue
        if not isinstance(d, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping")
        if last:
            d[part] = value
        else:
            if d.get(part) is None:
                d[part] = _defaults_for(parts[: i + 1])
            d = d[part]


def _defaults_for(parts: list[str]) -> Any:
    """Default value of a nested section, so ``--set phases.1.lr=...`` works on defaults."""
    node: Any = SweepConfig(name="x").model_dump()
    for p in parts:
        if isinstance(node, list) and p.isdigit() and int(p) < len(node):
            node = node[int(p)]
        elif isinstance(node, dict) and p in node:
            node = node[p]
        else:
            return {}
    return copy.deepcopy(node) if isinstance(node, (dict, list)) else {}


def validate_sweep(raw: dict[str, Any], source: str = "config", check_space: bool = True) -> SweepConfig:
    """Validate a raw dict as a sweep, turning pydantic errors into one line."""
    try:
        sweep = SweepConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_one_line(e)}") from None
    if check_space:
        from ablate.search.space import validate_space

        validate_space(sweep)
    if sweep.ablation is not None:
        from ablate.search.ablation import expand_ablation

        expand_ablation(sweep)  # every variant must validate now, not when it runs
    return sweep


def validate_trial(raw: dict[str, Any], source: str = "config") -> TrialConfig:
    """Validate a raw dict as a trial config."""
    try:
        return TrialConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_one_line(e)}") from None


def _one_line(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1])
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"unknown key {loc!r}{did}; allowed here: {', '.join(allowed)}"
    if err["type"] == "literal_error":
        return f"{loc}: {err['msg'].replace('Input should be', 'must be')}, got {err['input']!r}"
    msg = err["msg"].removeprefix("Value error, ")
    if loc:
        return f"{loc}: {msg}" + ("" if err["type"] == "value_error" else f" (got {err['input']!r})")
    return msg


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = SweepConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = _model_of(field.annotation)
        if model is None:
            return []
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _model_of(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        m = _model_of(arg)
        if m is not None:
            return m
    return None


# --------------------------------------------------------------------------- identity


def config_hash(cfg: TrialConfig) -> str:
    """SHA-256 of the resolved config (name and device excluded: they do not change results)."""
    d = cfg.resolved_dump()
    for key in ("name", "device"):
        d.pop(key)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def flatten(cfg: TrialConfig) -> dict[str, Any]:
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
