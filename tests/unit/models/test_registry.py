"""Contract tests over the whole registry: every backbone x variant builds, trains a step and
has the parameter count that torchvision's model implies."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from ablate.config import TrialConfig
from ablate.errors import ConfigError, ModelError
from ablate.models import (
    FusedModel,
    build_model,
    get_spec,
    list_backbones,
    model_size,
    validate_taps,
)
from ablate.models.registry import graph_node_names
from ablate.models.resolve import check_taps, resolve
from ablate.models.specs import backbone_info, backbone_names

K = 5


def _size(backbone: str) -> int:
    return get_spec(backbone).min_input if backbone == "inception_v3" else 32


# Parameter counts need shapes, not values: models built on the meta device (no memory, no
# weight initialisation; VGG16's 138 M weights took ~2 s a build on the CPU).
META = torch.device("meta")


def _torchvision_count(name: str) -> int:
    kw = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    with META:
        return sum(p.numel() for p in torchvision.models.get_model(name, num_classes=K, **kw).parameters())


def _head_count(name: str) -> int:
    spec = get_spec(name)
    kw = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    with META:
        m = torchvision.models.get_model(name, num_classes=K, **kw)
    return sum(p.numel() for p in getattr(m, spec.classifier).parameters())


def test_registry_has_the_papers_six_backbones():
    assert list_backbones() == sorted(
        ["vgg16", "inception_v3", "resnet18", "densenet121", "squeezenet1_0", "mobilenet_v3_small"]
    )


@pytest.mark.parametrize("backbone", list_backbones())
@pytest.mark.parametrize("variant", ["original", "modified"])
def test_builds_runs_forward_backward(backbone: str, variant: str):
    size = _size(backbone)
    model = build_model(TrialConfig(backbone=backbone, variant=variant, input_size=size), K)
    model.train()
    x = torch.rand(2, 3, size, size) * 255
    out = model(x)
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, K)
    nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "every parameter should receive a gradient"
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("backbone", list_backbones())
def test_original_parameter_count_matches_torchvision(backbone: str):
    with META:
        model = build_model(TrialConfig(backbone=backbone, variant="original", input_size=_size(backbone)), K)
    n, mb = model_size(model)
    assert n == _torchvision_count(backbone)
    assert mb == pytest.approx(n * 4 / 1e6)


@pytest.mark.parametrize("backbone", list_backbones())
@pytest.mark.parametrize("gate", ["dynamic", "static", "uniform"])
def test_modified_parameter_count(backbone: str, gate: str):
    cfg = TrialConfig(backbone=backbone, variant="modified", input_size=_size(backbone))
    cfg.fusion.gate = gate
    with META:
        model = build_model(cfg, K)
    assert isinstance(model, FusedModel)
    p = cfg.fusion.pcb_channels
    t = len(get_spec(backbone).default_taps)
    channels = [pcb.conv.in_channels for pcb in model.pcbs]
    pcbs = sum(c * p + 2 * p for c in channels)  # conv (no bias) + BN weight and bias
    gates = {"dynamic": 3 * t + 2 * t, "static": t, "uniform": 0}[gate]
    head = p * K + K
    # default taps end at the last feature stage: the whole backbone minus its classifier
    expected = _torchvision_count(backbone) - _head_count(backbone) + pcbs + gates + head
    assert model_size(model)[0] == expected


def test_paper_sizes_in_mb():
    with META:
        vgg = build_model(TrialConfig(backbone="vgg16", variant="original", input_size=32), 1000)
        r18 = build_model(TrialConfig(backbone="resnet18", variant="original", input_size=32), 1000)
    assert model_size(vgg)[1] == pytest.approx(553.4, abs=0.5)  # 138.36 M params with 1000 classes
    assert model_size(r18)[1] == pytest.approx(46.8, abs=0.1)  # 11.69 M params


def test_mobilenet_default_tap_channels_match_method_md():
    model = build_model(TrialConfig(backbone="mobilenet_v3_small", input_size=64), K)
    assert [pcb.conv.in_channels for pcb in model.pcbs] == [16, 16, 24, 24, 576]
    r18 = build_model(TrialConfig(backbone="resnet18", input_size=64), K)
    assert [pcb.conv.in_channels for pcb in r18.pcbs] == [64, 64, 128, 256, 512]


def test_only_needed_layers_are_kept():
    cfg = TrialConfig(backbone="resnet18", input_size=64)
    cfg.fusion.taps = ["layer1", "layer2"]
    model = build_model(cfg, K)
    names = {n for n, _ in model.features.named_parameters()}
    assert any(n.startswith("layer2") for n in names)
    assert not any(n.startswith(("layer3", "layer4", "fc")) for n in names)


def test_invalid_tap_rejected_at_resolve_with_candidates():
    cfg = TrialConfig(backbone="resnet18", fusion={"taps": ["layer9"]})  # data only: valid
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    msg = str(err.value)
    assert "unknown tap 'layer9'" in msg and "layer4" in msg
    with pytest.raises(ConfigError, match="unknown tap"):
        validate_taps("mobilenet_v3_small", ["features.99"])
    with pytest.raises(ConfigError, match="duplicates"):
        check_taps("resnet18", ["layer1", "layer1"])
    check_taps("resnet18", ["layer3.0.conv1"])  # any graph node works, not only the candidates


def test_metadata_is_the_registrys_and_its_taps_exist_in_the_graph():
    """resolve trusts the listed taps without tracing the graph: this is what makes that safe."""
    assert backbone_names() == list_backbones()
    for name in list_backbones():
        info, spec = backbone_info(name), get_spec(name)
        assert (info.default_taps, info.candidate_taps, info.min_input) == (
            spec.default_taps, spec.candidate_taps, spec.min_input)
        validate_taps(name, sorted({*info.default_taps, *info.candidate_taps}))
    assert graph_node_names.cache_info().currsize >= len(list_backbones())  # traced once per backbone


def test_unknown_backbone_suggests():
    with pytest.raises(ModelError, match="did you mean 'resnet18'"):
        get_spec("resnet19")


def test_weights_path_round_trip(tmp_path):
    cfg = TrialConfig(backbone="squeezenet1_0", variant="modified", input_size=32)
    model = build_model(cfg, K)
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    loaded = build_model(cfg.model_copy(update={"weights_path": str(path)}), K)
    for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    with pytest.raises(ModelError, match="does not fit the model: missing keys: .*; unexpected keys: features"):
        build_model(TrialConfig(backbone="squeezenet1_0", variant="original", input_size=32, weights_path=str(path)), K)


@pytest.mark.parametrize("variant", ["original", "modified"])
def test_bn_momentum_overrides_every_batchnorm(variant: str):
    """torchvision's MobileNetV3 uses 0.01; bn_momentum sets every BN, the PCBs' included."""
    def momenta(cfg: TrialConfig) -> set[float]:
        return {m.momentum for m in build_model(cfg, 5).modules() if isinstance(m, nn.BatchNorm2d)}

    base = TrialConfig(backbone="mobilenet_v3_small", variant=variant, input_size=64)
    assert 0.01 in momenta(base)
    assert momenta(base.model_copy(update={"bn_momentum": 0.1})) == {0.1}
    with pytest.raises(ConfigError, match="bn_momentum"):
        from ablate.config import validate_trial

        validate_trial({"bn_momentum": 0}, source="t")
