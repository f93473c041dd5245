"""Pretrained weights where there is no internet: fetched once from a mirror (checked against
torchvision's hashes), read by every trial of a sweep from one folder with no network, and
checked before anything starts.

The mirror is a local HTTP server serving freshly initialised torchvision state dicts under
torchvision's file names (their hashes are not torchvision's, so a verifying fetch refuses them).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ablate.models.weightfile import sha256_file, weights_file

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GUARD = Path(__file__).resolve().parent / "netguard"  # sitecustomize: refuses and logs network access
SIX = ["vgg16", "inception_v3", "resnet18", "densenet121", "squeezenet1_0", "mobilenet_v3_small"]
TINY = ["--set", "input_size=75", "--set", "epochs=1", "--set", "phases=[{optimizer: adam, lr: 0.001}]",
        "--set", "batch_size=16", "--set", "data.synthetic.n_per_class=5", "--set", "data.synthetic.image_size=75",
        "--set", "data.test_per_class=1", "--set", "data.val_fraction=0.2", "--set", "analysis.latency=false"]


@dataclass
class Mirror:
    url: str
    folder: Path
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """The six backbones' files (fresh ImageNet-shaped state dicts, ~760 MB with VGG16's) served on 127.0.0.1."""
    import torch
    import torchvision

    folder = tmp_path_factory.mktemp("mirror")
    for name in SIX:
        kw = {"aux_logits": True, "init_weights": False} if name == "inception_v3" else {}
        torch.save(torchvision.models.get_model(name, weights=None, **kw).state_dict(), folder / weights_file(name))
    served = Mirror("", folder)

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, fmt: str, *args: object) -> None:
            served.requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    served.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
    thread.join()
    shutil.rmtree(folder)  # pytest keeps recent temporary folders: not these 760 MB


def _ablate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ablate.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=900, check=False, env={**os.environ, **(env or {})})


@pytest.fixture
def cli(monkeypatch, capsys):
    """`cli(*args) -> (exit code, stdout, stderr)`: the `ablate` command run in this process (its
    `main`, exit codes and one-line errors included); ``$ABLATE_WEIGHTS_DIR`` restored afterwards."""
    from ablate import cli as ablate_cli
    from ablate.models.weightfile import ENV

    monkeypatch.setenv(ENV, "unset-by-the-test")
    monkeypatch.delenv(ENV)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["ablate", *args])
        try:
            ablate_cli.main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_fetch_refuses_files_that_are_not_torchvisions_and_keeps_them_with_no_verify(mirror, tmp_path, cli):
    to = tmp_path / "weights"
    code, _, err = cli("weights", "fetch", "cxr5-backbones", "--mirror", mirror.url, "--to", str(to))
    assert code == 2, err
    refused = [line for line in err.splitlines() if line.startswith("refused ")]
    assert sorted(line.split()[1].rstrip(":") for line in refused) == sorted(SIX), err
    assert all('invalid hash value (expected "' in line and "--no-verify" in line for line in refused)
    assert err.splitlines()[-1].startswith("error: 6 of 6 not fetched") and "Traceback" not in err
    assert list(to.iterdir()) == []  # nothing kept, nothing half-written
    assert len(mirror.requests) >= 6

    code, _, err = cli("weights", "fetch", "cxr5-backbones", "--mirror", mirror.url, "--to", str(to), "--no-verify")
    assert code == 0, err
    assert sum(line.startswith("unverified ") for line in err.splitlines()) == 6, err
    assert sorted(p.name for p in to.iterdir()) == sorted(weights_file(b) for b in SIX)
    for b in SIX:
        assert sha256_file(to / weights_file(b)) == sha256_file(mirror.folder / weights_file(b)), b

    code, _, err = cli("weights", "fetch", "resnet18", "--mirror", "http://127.0.0.1:9/", "--to", str(tmp_path / "w2"))
    assert code == 2 and "failed resnet18: resnet18-f37072fd.pth cannot download http://127.0.0.1:9/" in err, err
    assert list((tmp_path / "w2").iterdir()) == []
    code, _, err = cli("weights", "fetch", "resnet18", "--to", str(to))  # a verifying fetch checks what is there
    assert code == 2 and "refused resnet18: resnet18-f37072fd.pth already there, but its SHA-256" in err, err

    code, out, err = cli("weights", "list", str(to))
    assert code == 0, err
    for b in SIX:
        line = next(ln for ln in out.splitlines() if ln.startswith(b + " "))
        assert weights_file(b) in line and "MB" in line and "DIFFERS" in line, line
    assert "sweep cxr5-backbones: covered" in out
    assert "sweep cxr-scenarios: covered" in out  # MobileNetV3's file serves it too
    shutil.rmtree(to)


def test_every_backbone_trains_from_the_weights_folder_with_no_network(mirror, tmp_path):
    """`ablate run --weights-dir`: six ImageNet-initialised trials, each `ok`, while every process
    of the run (driver, Ray's workers) refuses and logs any network access and torch.hub's cache
    is empty; the mirror sees no request."""
    from ablate.results import load

    log, hub = tmp_path / "net.log", tmp_path / "torch-home"
    before = len(mirror.requests)
    env = {"ABLATE_TEST_NETLOG": str(log), "TORCH_HOME": str(hub),
           "PYTHONPATH": os.pathsep.join([str(GUARD), str(REPO), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    r = _ablate("run", "cxr5-backbones", "--local", "--weights-dir", str(mirror.folder), "--results",
                str(tmp_path / "res"), *TINY, cwd=tmp_path, env=env)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    trials = load(tmp_path / "res").trials
    assert sorted(trials["cfg.backbone"]) == sorted(SIX)
    assert (trials["status"] == "ok").all(), trials[["cfg.backbone", "status", "reason"]]
    assert (trials["cfg.pretrained"] == "imagenet").all()
    # Ray's own dashboard process asks cloud metadata servers who hosts it (Ray's usage
    # library); the guard refuses that too. Nothing else may touch the network.
    lines = log.read_text().splitlines() if log.exists() else []
    assert [ln for ln in lines if "ray/dashboard/" not in ln] == [], lines
    assert len(mirror.requests) == before
    assert not (hub / "hub" / "checkpoints").exists()
    print(f"six pretrained trials: {wall:.0f} s")
    shutil.rmtree(tmp_path / "res")  # VGG16's checkpoints and saved model: GBs pytest would keep


def test_without_weights_trial_and_run_stop_before_anything_starts(tmp_path, monkeypatch, cli):
    """One line naming the missing backbone(s) and the fetch command; exit 2; nothing written."""
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "no-weights"
    for cmd, extra in (("trial", []), ("run", ["--local"])):
        code, out, err = cli(cmd, "cxr5-backbones", *extra, "--weights-dir", str(empty), "--results", cmd, *TINY)
        assert code == 2, err
        errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in err and out == "", err
        missing = ["mobilenet_v3_small"] if cmd == "trial" else SIX  # `ablate trial` runs the base alone
        assert f"`ablate weights fetch {' '.join(missing)} --to {empty}`" in errors[0], errors[0]
        assert all(f"{b} ({weights_file(b)})" in errors[0] for b in missing)
        assert "started" not in err and "if this run stops" not in err  # no trial, no Ray
    assert list(tmp_path.iterdir()) == []  # no results folder, no weights folder
