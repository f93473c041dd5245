"""Typed configuration: one trial (`TrialConfig`) and one sweep file (`SweepConfig`).

A leaf module: it imports nothing from ablate but `ablate.errors`, and no torch. Validating a
config checks its data only (types, ranges, unknown keys with a suggestion, the search-space
language); whatever needs a model (backbones, taps in the graph, input size) is the explicit
resolve step, `ablate.models.resolve.resolve`, and loading a sweep with that step is
`ablate.search.sweep.load_sweep`.

Overrides use dotted paths (``fusion.pcb_channels=32``, ``phases.0.lr=1e-3``,
``seeds=[0,1]``): `parse_set` reads the command-line text as YAML once, and `set_path` /
`set_paths` put values into a validated config and return the new, validated config.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ablate.errors import ConfigError

__all__ = [
    "DIST_KINDS",
    "AblationConfig",
    "AnalysisConfig",
    "Choice",
    "DataConfig",
    "Distribution",
    "FusionConfig",
    "Grid",
    "IntRange",
    "LogUniform",
    "PhaseConfig",
    "ResourcesConfig",
    "SchedulerConfig",
    "SearchConfig",
    "Subset",
    "SubsetOf",
    "SweepConfig",
    "SyntheticConfig",
    "TrialConfig",
    "Uniform",
    "apply_overrides",
    "apply_sets",
    "as_distribution",
    "config_hash",
    "find_sweep_file",
    "flatten",
    "parse_set",
    "read_sweep",
    "search_space_dirs",
    "set_path",
    "set_paths",
    "validate_sweep",
    "validate_trial",
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
        """The taps the modified model uses; [] if original.

        Raises:
            ConfigError: a modified config whose taps are unset (resolve it first).
        """
        if self.variant != "modified":
            return []
        if self.fusion.taps is None:
            raise ConfigError("fusion.taps is unset: resolve the config first (ablate.models.resolve.resolve)")
        return list(self.fusion.taps)

    def resolved_dump(self) -> dict[str, Any]:
        """JSON-able dict of the config as run, `seeds` (a list to expand) left out.

        On a resolved config (`ablate.models.resolve.resolve`) the taps are explicit; an
        unresolved modified config keeps ``taps: null``.
        """
        return self.model_dump(mode="json", exclude={"seeds"})

    def trial_id(self) -> str:
        """Stable id from the resolved config (the same config and seed give the same id)."""
        return f"{self.backbone}-{self.variant}-s{self.seed}-{config_hash(self)[:10]}"


# --------------------------------------------------------------------------- search space

DIST_KINDS = ("choice", "grid", "uniform", "loguniform", "int", "subset")


class _Dist(BaseModel):
    """One distribution, written in YAML as a one-key mapping ``{kind: argument}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)
    kind: ClassVar[str]

    @property
    def arg(self) -> Any:
        """The argument as the sweep file writes it (``[16, 32]``, ``{of: [...], min: 2}``)."""
        return self.model_dump(mode="json")[self.kind]

    def check_values(self) -> list[Any]:
        """The values checked against the base trial when a sweep is resolved."""
        raise NotImplementedError

    def example(self) -> Any:
        """One value the distribution can produce (its first or lowest)."""
        return self.check_values()[0]

    def is_grid(self, algorithm: str) -> bool:
        """Enumerated as a grid axis (``grid``, and ``choice`` under ``algorithm: grid``)?"""
        return False


def _non_empty_list(v: Any) -> Any:
    if not isinstance(v, list) or not v:
        raise ValueError(f"needs a non-empty list of values, got {v!r}")
    return v


class Choice(_Dist):
    """``{choice: [v1, v2, ...]}``: one of the values, sampled (enumerated under ``algorithm: grid``)."""

    kind: ClassVar[str] = "choice"
    options: list[Any] = Field(alias="choice")

    @field_validator("options", mode="before")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        return _non_empty_list(v)

    def check_values(self) -> list[Any]:
        return list(self.options)

    def is_grid(self, algorithm: str) -> bool:
        return algorithm == "grid"


class Grid(Choice):
    """``{grid: [v1, v2, ...]}``: every value, an axis of the sweep's outer product."""

    kind: ClassVar[str] = "grid"
    options: list[Any] = Field(alias="grid")

    def is_grid(self, algorithm: str) -> bool:
        return True


class Uniform(_Dist):
    """``{uniform: [low, high]}``: a float drawn uniformly."""

    kind: ClassVar[str] = "uniform"
    bounds: list[float] = Field(alias="uniform")

    @field_validator("bounds", mode="before")
    @classmethod
    def _two_numbers(cls, v: Any) -> Any:
        numbers = isinstance(v, list) and len(v) == 2 and all(
            isinstance(a, int | float) and not isinstance(a, bool) for a in v)
        if not numbers:
            raise ValueError(f"needs two numbers [low, high], got {v!r}")
        if cls.kind == "int" and not all(isinstance(a, int) for a in v):
            raise ValueError(f"bounds must be integers, got {v!r}")
        if not v[0] < v[1]:
            raise ValueError(f"needs low < high, got {v!r}")
        if cls.kind == "loguniform" and v[0] <= 0:
            raise ValueError(f"bounds must be > 0 (a log scale), got {v!r}")
        return v

    @property
    def low(self) -> float:
        return self.bounds[0]

    @property
    def high(self) -> float:
        return self.bounds[1]

    def check_values(self) -> list[Any]:
        return list(self.bounds)


class LogUniform(Uniform):
    """``{loguniform: [low, high]}``: a float drawn uniformly on a log scale (0 < low)."""

    kind: ClassVar[str] = "loguniform"
    bounds: list[float] = Field(alias="loguniform")


class IntRange(Uniform):
    """``{int: [low, high]}``: an integer in ``[low, high]``, both included."""

    kind: ClassVar[str] = "int"
    bounds: list[int] = Field(alias="int")  # type: ignore[assignment]


class SubsetOf(BaseModel):
    """The argument of ``subset``: the candidates and how many at least."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    of: list[Any]
    min: int = 1

    @field_validator("of", mode="before")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        return _non_empty_list(v)

    @model_validator(mode="after")
    def _min_in_range(self) -> SubsetOf:
        if not 1 <= self.min <= len(self.of):
            raise ValueError(f"min must be between 1 and {len(self.of)}, got {self.min}")
        return self


class Subset(_Dist):
    """``{subset: {of: [c1, c2, ...], min: k}}``: at least k of the candidates, in candidate order."""

    kind: ClassVar[str] = "subset"
    spec: SubsetOf = Field(alias="subset")

    def check_values(self) -> list[Any]:
        return [list(self.spec.of)]

    def example(self) -> Any:
        return list(self.spec.of[: self.spec.min])


def _dist_kind(v: Any) -> str | None:
    if isinstance(v, _Dist):
        return v.kind
    if isinstance(v, dict) and len(v) == 1:
        key = next(iter(v))
        return key if isinstance(key, str) else None
    return None


Distribution = Annotated[
    Union[  # noqa: UP007 - the tagged members of a discriminated union
        Annotated[Choice, Tag("choice")],
        Annotated[Grid, Tag("grid")],
        Annotated[Uniform, Tag("uniform")],
        Annotated[LogUniform, Tag("loguniform")],
        Annotated[IntRange, Tag("int")],
        Annotated[Subset, Tag("subset")],
    ],
    Discriminator(
        _dist_kind,
        custom_error_type="distribution",
        custom_error_message="a distribution is one mapping {choice|grid|uniform|loguniform|int|subset: ...}",
    ),
]


def as_distribution(value: Any, key: str = "value") -> Distribution:
    """`value` (``{loguniform: [1e-4, 1e-2]}`` or a distribution) as a typed distribution.

    Raises:
        ConfigError: not a distribution (one line, naming `key`).
    """
    if isinstance(value, _Dist):
        return value  # type: ignore[return-value]
    return _validate(SearchConfig, {"space": {key: value}}, "search").space[key]


class SearchConfig(_Strict):
    """How the space is searched; `space` maps dotted config paths to distributions."""

    algorithm: Literal["optuna", "random", "grid"] = "optuna"
    seed: int = 0
    num_samples: int = Field(8, ge=1)  # samples per grid point
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"
    max_concurrent: int | None = Field(None, ge=1)
    space: dict[str, Distribution] = Field(default_factory=dict)


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
        problem = getattr(e, "problem", None) or " ".join(str(e).split())
        raise ConfigError(f"config {path} is not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a YAML mapping, got {type(raw).__name__}")
    return raw


def validate_sweep(raw: dict[str, Any], source: str = "config") -> SweepConfig:
    """Validate a raw dict as a sweep (data only: no model checks), errors as one line."""
    return _validate(SweepConfig, raw, source)


def validate_trial(raw: dict[str, Any], source: str = "config") -> TrialConfig:
    """Validate a raw dict as a trial config (data only: no model checks), errors as one line."""
    return _validate(TrialConfig, raw, source)


def read_sweep(name_or_path: str | Path, overrides: Iterable[str] = ()) -> SweepConfig:
    """Read a sweep file (or a bare trial config) and apply ``--set`` overrides; data only.

    A file without a ``trial:`` key is taken as a trial config and wrapped in a sweep. The
    model checks and the search-space checks are the resolve step: `ablate.search.sweep.load_sweep`
    does both.
    """
    path = find_sweep_file(name_or_path)
    raw = _read_yaml(path)
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

ModelT = TypeVar("ModelT", bound=BaseModel)


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
    return _validate(type(config), raw, source)


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
    return _model_of(fields[part].annotation) if part in fields else None


def _section_default(model: Any, part: str) -> Any:
    """The raw default of an unset section, so ``--set phases.1.lr=...`` works on defaults."""
    field = getattr(model, "model_fields", {}).get(part)
    if field is None:
        return {}
    default = field.get_default(call_default_factory=True)
    if default is None:
        sub = _model_of(field.annotation)
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


# --------------------------------------------------------------------------- one-line errors


def _validate(model: type[ModelT], raw: Any, source: str) -> ModelT:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_one_line(e, model)}") from None


def _one_line(e: ValidationError, root: type[BaseModel] = SweepConfig) -> str:
    """The first error of `e` as one line that names the key, says what is wrong and what fits."""
    err = e.errors()[0]
    loc = [p for i, p in enumerate(err["loc"]) if i == 0 or p != err["loc"][i - 1]]  # union tags
    where = ".".join(str(x) for x in loc)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(root, tuple(err["loc"][:-1]))
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        listed = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {where!r}{did}{listed}"
    if err["type"] == "distribution":
        got = err["input"]
        if isinstance(got, dict) and len(got) == 1:
            return f"{where}: unknown distribution {next(iter(got))!r}; allowed: {', '.join(DIST_KINDS)}"
        return f"{where} must be one mapping {{{' | '.join(DIST_KINDS)}: ...}}, got {got!r}"
    if err["type"] == "literal_error":
        return f"{where}: {err['msg'].replace('Input should be', 'must be')}, got {err['input']!r}"
    msg = err["msg"].removeprefix("Value error, ")
    if where:
        return f"{where}: {msg}" + ("" if err["type"] == "value_error" else f" (got {err['input']!r})")
    return msg


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys (aliases where set) of the model found at `loc` under `root`; [] if none."""
    ann: Any = root
    for part in loc:
        ann = _step(ann, part)
        if ann is None:
            return []
    model = _model_of(ann)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _step(ann: Any, part: Any) -> Any:
    """The annotation one `loc` step below `ann`: a field, a list item, a dict value, a union tag."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Annotated:
        return _step(args[0], part)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        for name, f in ann.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    if origin in (list, tuple):
        return args[0] if args else None
    if origin is dict:
        return args[1] if len(args) == 2 else None
    if origin in (Union, types.UnionType):
        for member in args:
            meta = typing.get_args(member)[1:] if typing.get_origin(member) is Annotated else ()
            if any(isinstance(m, Tag) and m.tag == part for m in meta):
                return typing.get_args(member)[0]
        for member in args:
            found = _step(member, part) if member is not type(None) else None
            if found is not None:
                return found
    return None


def _model_of(annotation: Any) -> Any:
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


def __getattr__(name: str) -> Any:
    """``ablate.config.load_sweep``: the loader with the resolve step now lives in
    `ablate.search.sweep` (it needs the model registry); this name forwards to it, looked up
    on use only, so importing this module stays a leaf."""
    if name == "load_sweep":
        from ablate.search.sweep import load_sweep

        return load_sweep
    raise AttributeError(f"module 'ablate.config' has no attribute {name!r}")
