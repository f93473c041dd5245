"""Pretrained weights: read from the weights folder as torchvision's own loader reads them (no
network), and the pre-flight check that names what is missing before anything trains."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision

from ablate.config import TrialConfig, validate_sweep
from ablate.errors import ConfigError, ModelError
from ablate.models import build_backbone
from ablate.search.sweep import load_sweep
from ablate.weights import ENV, check_weights, weight_configs, weights_file
from ablate.weights.fetch import targets_backbones

SIX = ["vgg16", "inception_v3", "resnet18", "densenet121", "squeezenet1_0", "mobilenet_v3_small"]


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch.hub cache (``$TORCH_HOME``) and no ``$ABLATE_WEIGHTS_DIR``: the default folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(ENV, raising=False)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def _imagenet_state(name: str, old_densenet_keys: bool = False) -> dict[str, torch.Tensor]:
    """A freshly initialised ImageNet-shaped state dict (DenseNet optionally as torchvision's own
    2017 file is: old key names, ``norm.1`` for ``norm1``, and no ``num_batches_tracked``)."""
    kw = {"aux_logits": True, "init_weights": False} if name == "inception_v3" else {}  # (torchvision's init: 10 s)
    state = torchvision.models.get_model(name, weights=None, **kw).state_dict()
    if old_densenet_keys:
        old = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))([12]\.(?:weight|bias|running_mean|running_var))$")
        state = {old.sub(r"\1.\2", k): v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    return state


@pytest.mark.parametrize("name", ["densenet121", "inception_v3", "mobilenet_v3_small"])
def test_pretrained_backbone_is_torchvisions_model_with_a_new_head(hub, name):
    """Ours reads the file from the folder; torchvision's builder reads the same cached file
    (torch.hub skips the download when it is there): same weights, same settings, our head."""
    state = _imagenet_state(name, old_densenet_keys=name == "densenet121")
    if name == "densenet121":
        assert any(".norm.1." in k for k in state)  # the old names torchvision's loader renames
    torch.save(state, hub / weights_file(name))
    ours = build_backbone(name, num_classes=5, pretrained=True, aux=name == "inception_v3")
    theirs = torchvision.models.get_model(name, weights="DEFAULT")
    mine, ref = ours.state_dict(), theirs.state_dict()
    differ = {k for k in ref if k not in mine or mine[k].shape != ref[k].shape or not torch.equal(mine[k], ref[k])}
    assert differ and all(k.split(".")[0] in ("fc", "classifier", "AuxLogits") for k in differ), differ
    assert next(v for k, v in mine.items() if k in differ and v.dim() == 2).shape[0] == 5  # the new head
    assert getattr(ours, "transform_input", None) == getattr(theirs, "transform_input", None)


def test_a_missing_file_is_named_with_the_command_that_fetches_it(hub):
    with pytest.raises(ModelError, match=rf"not found: {re.escape(str(hub))}/resnet18-f37072fd.pth; .*"
                                         rf"`ablate weights fetch resnet18 --to {re.escape(str(hub))}`"):
        build_backbone("resnet18", 5, pretrained=True)


def test_every_configuration_a_sweep_runs_is_checked(hub, tmp_path, monkeypatch):
    """Grid values, combined axes and ablation variants: every backbone with pretrained imagenet."""
    configs = weight_configs(load_sweep("cxr5-backbones"))
    assert {c.backbone for c in configs if c.pretrained == "imagenet"} == set(SIX)
    with pytest.raises(ModelError) as e:
        check_weights(configs)
    msg = str(e.value)
    assert "\n" not in msg and str(hub) in msg
    assert f"`ablate weights fetch {' '.join(SIX)} --to {hub}`" in msg
    for b in SIX[1:]:
        (hub / weights_file(b)).touch()
    with pytest.raises(ModelError, match=r"not in .*: vgg16 \(vgg16-397923af.pth\); .*fetch vgg16 --to"):
        check_weights(configs)
    monkeypatch.setenv(ENV, str(hub))  # the same folder, named by the environment (--weights-dir)
    (hub / weights_file("vgg16")).touch()
    check_weights(configs)
    monkeypatch.setenv(ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(ModelError, match="elsewhere"):
        check_weights(configs)

    raw = {"name": "abl", "trial": {"backbone": "squeezenet1_0", "pretrained": "none"},
           "search": {"space": {"model": {"grid": [{"backbone": "resnet18"}, {"backbone": "vgg16", "pretrained": "imagenet"}]}}},
           "ablation": {"variants": {"warm": {"pretrained": "imagenet", "backbone": "densenet121"}, "cold": {"seed": 1}}}}
    sweep = validate_sweep(raw, source="test")
    need = {c.backbone for c in weight_configs(sweep) if c.pretrained == "imagenet"}
    assert need == {"vgg16", "densenet121"}
    assert {c.backbone for c in weight_configs(sweep, ["cold"]) if c.pretrained == "imagenet"} == {"vgg16"}
    assert targets_backbones(["resnet18", "cxr-scenarios"]) == ["resnet18", "mobilenet_v3_small"]
    with pytest.raises(ConfigError, match="neither a backbone"):
        targets_backbones(["resnet99"])


def test_a_weights_path_that_does_not_fit_names_its_keys(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save(torchvision.models.resnet18(num_classes=5).state_dict(), path)
    data = {"path": "synthetic", "synthetic": {"n_per_class": 2, "image_size": 32}}
    fits = TrialConfig(backbone="resnet18", variant="original", input_size=32, weights_path=str(path), data=data)
    check_weights([fits])
    wrong = fits.model_copy(update={"backbone": "squeezenet1_0"})
    with pytest.raises(ModelError, match=r"does not fit squeezenet1_0 \(original, 5 classes\): missing keys: features"
                                         r".*unexpected keys: conv1.weight"):
        check_weights([wrong])
    three = fits.model_copy(update={"data": fits.data.model_copy(update={"scenario": "cxr3"})})
    with pytest.raises(ModelError, match=r"shapes differ \(file vs model\): fc.weight \(5, 512\) vs \(3, 512\)"):
        check_weights([three])


def test_a_trial_without_its_file_fails_with_an_error_the_sweep_records_once(hub):
    """In a trial (no pre-flight check there), a missing file is an `AblateError`: Ray's worker
    records it as the trial's failure (`failure_metrics`) instead of letting Tune retry it."""
    from ablate.engine.trainer import run_trial
    from ablate.errors import AblateError

    cfg = TrialConfig(backbone="squeezenet1_0", variant="original", pretrained="imagenet", input_size=32, epochs=1,
                      data={"path": "synthetic", "synthetic": {"n_per_class": 5, "image_size": 32}, "test_per_class": 1,
                            "val_fraction": 0.2})
    with pytest.raises(AblateError, match=r"squeezenet1_0 not found: .*ablate weights fetch squeezenet1_0 --to"):
        run_trial(cfg)
