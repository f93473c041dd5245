"""Engine vs a plain PyTorch loop: same model, same tensors, alternating rounds, one run.

Prints images/s of ablate's `train_one_epoch` and of a hand-written loop (forward, loss,
backward, step) on identical copies of the model, and the ratio engine / plain (target >= 0.95).

    python benchmarks/trial_throughput.py --backbone mobilenet_v3_small --size 64
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from ablate.config import TrialConfig
from ablate.data import normalize_batch
from ablate.engine import StepContext, TensorBatches, select_device, train_one_epoch
from ablate.engine.phases import make_optimizer
from ablate.models import build_model


def plain_epoch(model, images, labels, batch_size, optimizer, device, seed) -> float:
    """The reference loop; returns images/s."""
    model.train()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(labels), generator=g)
    n_batches = len(labels) // batch_size
    start = time.perf_counter()
    for b in range(n_batches):
        idx = perm[b * batch_size : (b + 1) * batch_size]
        x = images[idx].to(device).float()
        y = labels[idx].to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n_batches * batch_size / (time.perf_counter() - start)


def engine_epoch(model, batches, optimizer, ctx) -> float:
    return train_one_epoch(model, batches, optimizer, ctx)["images_per_s"]


def measure(backbone: str, variant: str, size: int, n: int, batch_size: int, rounds: int, device) -> tuple[float, float]:
    cfg = TrialConfig(backbone=backbone, variant=variant, input_size=size, amp=False, channels_last=False)
    torch.manual_seed(0)
    base = build_model(cfg, 5).to(device)
    m_engine, m_plain = copy.deepcopy(base), copy.deepcopy(base)
    opt_e = make_optimizer(cfg.phases[0], m_engine.parameters())
    opt_p = make_optimizer(cfg.phases[0], m_plain.parameters())
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    labels = torch.randint(0, 5, (n,))
    ctx = StepContext(device=device, preprocess=lambda x: normalize_batch(x, "none"))
    batches = TensorBatches(images, labels, batch_size, shuffle=True, drop_last=True)
    engine_epoch(m_engine, batches, opt_e, ctx)  # warm-up both
    plain_epoch(m_plain, images, labels, batch_size, opt_p, device, 0)
    e, p = [], []
    for r in range(rounds):
        batches.set_epoch(r + 1)
        e.append(engine_epoch(m_engine, batches, opt_e, ctx))
        p.append(plain_epoch(m_plain, images, labels, batch_size, opt_p, device, r + 1))
    return statistics.median(e), statistics.median(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="mobilenet_v3_small")
    ap.add_argument("--variants", default="original,modified")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n", type=int, default=1024, help="images per epoch")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = select_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.n} images/epoch, batch {args.batch_size}")
    print(f"{'model':<32}{'engine img/s':>14}{'plain img/s':>14}{'ratio':>8}")
    for variant in args.variants.split(","):
        e, p = measure(args.backbone, variant, args.size, args.n, args.batch_size, args.rounds, device)
        print(f"{args.backbone + ' ' + variant + f' @{args.size}px':<32}{e:>14.1f}{p:>14.1f}{e / p:>8.3f}")


if __name__ == "__main__":
    main()
