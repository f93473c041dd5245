"""Trial configuration: backbone, variant, fusion, optimizer phases, data, analysis."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ablate.config.identity import config_hash
from ablate.errors import ConfigError

DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FusionConfig(StrictModel):
    """The modification: one PCB per tap, fused with gate weights."""

    # torchvision graph node names (`layer3`, `features.3`), validated on load; None = the backbone's
    # defaults (`ablate backbones` lists them)
    taps: list[str] | None = None
    pcb_channels: int = Field(64, ge=1, le=4096)  # P: channels of every tap PCB
    gate: Literal["dynamic", "static", "uniform"] = "dynamic"  # per-sample | per-tap | plain sum
    dropout: float = Field(0.5, ge=0.0, lt=1.0)  # dropout before the linear head
    init: Literal["xavier", "default"] = "xavier"  # init of the new layers (the scripts: Xavier)


class PhaseConfig(StrictModel):
    """One optimizer phase; phases run in order (the paper: Adam, then SGD)."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"  # the paper: Adam, then SGD
    epochs: int | None = Field(None, ge=0)  # None: the rest of the trial's `epochs`
    lr: float | None = Field(None, gt=0)  # None: the framework default (adam 1e-3, sgd 1e-2)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # SGD only
    weight_decay: float = Field(0.0, ge=0.0)  # L2 penalty of the optimizer
    cosine: bool = False  # cosine decay of lr over the phase

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


class SyntheticConfig(StrictModel):
    """The built-in synthetic chest-X-ray-like dataset (used when ``data.path: synthetic``)."""

    n_per_class: int = Field(300, ge=2)  # enough for the paper's 200 test images per class
    image_size: int = Field(96, ge=16, le=1024)  # side of the generated images, in pixels
    seed: int = 0  # the generated set is deterministic from it


class DataConfig(StrictModel):
    """Where images come from and how they are split."""

    path: str = "synthetic"  # "synthetic", a class-per-folder tree, or a manifest CSV
    # auto: a folder or a CSV by what the path is; covidx / covidx-ct: those label files, official splits
    format: Literal["auto", "folder", "manifest", "covidx", "covidx-ct"] = "auto"
    # classes: cxr5 as the paper; cxr4 bacterial+viral = pneumonia; cxr3 +TB = non-COVID infection; none as labelled
    scenario: Literal["cxr5", "cxr4", "cxr3", "none"] = "cxr5"
    normalize: Literal["none", "imagenet"] = "none"  # none = raw 0-255 pixels, as the paper
    test_per_class: int | None = Field(200, ge=1)  # fixed test images per class (the paper: 200)
    test_fraction: float | None = Field(None, gt=0.0, lt=1.0)  # used when test_per_class is None
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # of the train/val part (no k-fold)
    # > 1: k-fold cross-validation on the train/val part, one fit per fold (Table 4)
    folds: int = Field(1, ge=1, le=20)
    # leave-one-source-out: test = this source's images (e.g. DS1), its patients kept out of training;
    # each: in distribution and every source that can be held out
    hold_out_source: str | None = None
    # black out a fixed geometric lung field: "lungs" (the lungs), "outside" (all but the lungs)
    mask: Literal["none", "lungs", "outside"] = "none"
    split_seed: int = 0  # seed of the patient-grouped test / validation / fold splits
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


class AnalysisConfig(StrictModel):
    """Extra measurements of a trial (the paper's Fig. 6 and Tables 15/16)."""

    gradients: bool = False  # per epoch: mean / variance of |gradient| of the first eight conv layers (Fig. 6)
    robustness: bool = False  # after training: test accuracy under the paper's pixel noise (Tables 15/16)
    robustness_levels: list[tuple[float, float]] = Field(default_factory=list)  # extra (n, m) pairs
    robustness_seed: int = 0  # seed of the noise
    # after training: FLOPs and measured inference latency / throughput of the best weights (the cost
    # columns macs, flops, latency_ms, throughput_ips); false skips them
    latency: bool = True
    latency_repeats: int = Field(10, ge=1, le=10000)  # timed batch-1 passes (median)


class TrialConfig(StrictModel):
    """One training configuration: backbone, variant, data, optimizer phases."""

    name: str = "trial"  # the run's name in its rows
    # vgg16, inception_v3, resnet18, densenet121, squeezenet1_0 or mobilenet_v3_small (`ablate backbones`)
    backbone: str = "mobilenet_v3_small"
    # original: torchvision's model with a new head; modified: the paper's fusion
    variant: Literal["original", "modified"] = "modified"
    fusion: FusionConfig = FusionConfig()
    # imagenet: torchvision's ImageNet weights, read from the weights folder (never downloaded by a trial)
    pretrained: Literal["none", "imagenet"] = "none"
    weights_path: str | None = None  # local state dict, loaded with weights_only=True after any ImageNet weights
    aux_weight: float = Field(0.4, ge=0.0)  # Inception-v3 auxiliary loss weight (its aux head needs 299 px); 0 = off
    # momentum of every BatchNorm layer; None: the backbone's (torchvision 0.1, MobileNetV3 0.01)
    # raised to 3 / steps-per-epoch (at most 0.1), so each validation sees this epoch's statistics
    bn_momentum: float | None = Field(None, gt=0.0, le=1.0)
    input_size: int = Field(299, ge=16, le=1024)  # side of the square model input, in pixels (Table 3: 299)
    batch_size: int = Field(128, ge=1)  # per worker; lowered on a small training set (min_steps_per_epoch)
    # an epoch has at least this many steps: batch = min(batch_size, n_train // steps), >= 16; 0 = off
    min_steps_per_epoch: int = Field(32, ge=0)
    eval_batch_size: int | None = Field(None, ge=1)  # validation / test batch; None = batch_size
    epochs: int = Field(40, ge=1)  # total; phases are consumed in order
    # optimizer phases, run in order; a phase without `epochs` takes the rest (default: Adam 20, then SGD)
    phases: list[PhaseConfig] = Field(
        default_factory=lambda: [PhaseConfig(optimizer="adam", epochs=20), PhaseConfig(optimizer="sgd")]
    )
    seed: int = 0  # the trial's random seed (weights' init, batch order)
    seeds: list[int] | None = None  # repeat the configuration once per seed
    stop_at_val_acc: float | None = Field(None, gt=0.0, le=1.0)  # the CT script stops at 0.993
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: a GPU when there is one
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

    def per_seed(self) -> list[TrialConfig]:
        """One config per seed of ``seeds`` (the config itself when ``seeds`` is unset)."""
        if not self.seeds:
            return [self]
        return [self.model_copy(update={"seed": s, "seeds": None}) for s in self.seeds]

    def trial_id(self) -> str:
        """Stable id from the resolved config (the same config and seed give the same id)."""
        return f"{self.backbone}-{self.variant}-s{self.seed}-{config_hash(self)[:10]}"
