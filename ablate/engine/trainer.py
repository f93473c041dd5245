"""`run_trial`: one configuration trained end to end, the same code locally and in a Ray trial (DDP).

The loop knows nothing about Ray: a `Reporter` is told about each epoch (with a function that
returns the checkpoint state, called only if the reporter wants a checkpoint), and the result
rows come back in a `TrialOutcome` for the caller to write.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ablate.config import TrialConfig
from ablate.data import PreparedData, normalize_batch, prepare_data
from ablate.engine.batches import TensorBatches
from ablate.engine.cost import measure_cost
from ablate.engine.gradients import GradientStats
from ablate.engine.loop import StepContext, evaluate, train_one_epoch
from ablate.engine.metrics import confusion_matrix, per_class_metrics
from ablate.engine.phases import make_optimizer, phase_lr
from ablate.engine.robustness import paper_levels, robustness_eval
from ablate.engine.runtime import Runtime, local_runtime, seed_everything
from ablate.engine.small_data import (
    apply_bn_momentum,
    at_chance,
    bn_momentum_for,
    chance_level,
    train_batch_size,
)
from ablate.errors import TrialFailed
from ablate.models import build_model, model_size
from ablate.results.record import environment, trial_row

__all__ = ["Reporter", "TrialOutcome", "run_trial", "unwrap"]

State = dict[str, Any]
log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Told about a trial's progress; the local CLI prints, the Ray adapter reports to Tune."""

    def on_start(self, info: dict[str, Any]) -> None:
        """Static facts of the trial (params, dataset sizes, ...), once, before epoch 1."""

    def on_epoch(self, row: dict[str, Any], state: Callable[[], State]) -> None:
        """One finished epoch: its `epochs` row and a function returning the checkpoint state."""


class StepReporter(Protocol):
    """A reporter that also wants every training step (for a progress bar)."""

    def on_step(self, epoch: int, step: int, steps: int) -> None: ...


class NullReporter:
    def on_start(self, info: dict[str, Any]) -> None:
        pass

    def on_epoch(self, row: dict[str, Any], state: Callable[[], State]) -> None:
        pass


@dataclass
class TrialOutcome:
    """What a trial produced: its status and the rows of each results table."""

    trial_id: str
    status: str  # ok | failed
    reason: str = ""
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    best_state: dict[str, torch.Tensor] | None = None  # weights of the best epoch (CPU)

    @property
    def trial_row(self) -> dict[str, Any]:
        return self.tables["trials"][0]


def unwrap(model: nn.Module) -> nn.Module:
    """The module under a DDP / DataParallel wrapper."""
    return getattr(model, "module", model)


def run_trial(
    cfg: TrialConfig,
    *,
    data: PreparedData | None = None,
    runtime: Runtime | None = None,
    reporter: Reporter | None = None,
    resume: State | None = None,
    tb_dir: str | Path | None = None,
    trial_id: str | None = None,
    fold: int | None = None,
    extra_columns: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrialOutcome:
    """Train `cfg` and evaluate its best epoch on the test set.

    Args:
        cfg: the resolved trial config (one seed).
        data: prepared splits; built from ``cfg.data`` when None.
        runtime: device / rank / DDP wrapping; the local device when None.
        reporter: told about every epoch (checkpointing happens there).
        resume: a checkpoint state from an earlier run of this trial.
        tb_dir: TensorBoard log folder (rank 0 writes there).
        trial_id: row id; ``cfg.trial_id()`` (plus ``-fold<k>``) when None.
        fold: with ``data.folds > 1``, the fold used for validation.
        extra_columns: added to the trials row (sweep name, searched values, ...).
        progress: one-line messages (data preparation; a warning when val accuracy is at chance at
            the end of a phase); None: data messages are dropped, warnings logged.

    Returns:
        The outcome; a NaN/inf loss gives status ``failed`` with the reason, not an exception.
    """
    runtime = runtime or local_runtime(cfg.device)
    reporter = reporter or NullReporter()
    tid = trial_id or cfg.trial_id() + ("" if fold is None else f"-fold{fold}")
    t0 = time.perf_counter() - (resume or {}).get("elapsed", 0.0)
    seed_everything(cfg.seed)
    data = data or prepare_data(cfg.data, cfg.input_size, fold=fold, progress=progress)
    k = len(data.class_names)
    net = build_model(cfg, k)
    params, fp32_mb = model_size(net)
    on_cuda = runtime.device.type == "cuda"
    if on_cuda and cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    model = runtime.wrap_model(net)
    ctx = StepContext(
        device=runtime.device,
        preprocess=functools.partial(normalize_batch, kind=cfg.data.normalize),
        amp=cfg.amp and on_cuda,
        channels_last=cfg.channels_last and on_cuda,
        aux_weight=cfg.aux_weight,
        check_every=25 if on_cuda else 1,
        hflip=cfg.data.hflip,
    )
    ws, rank = runtime.world_size, runtime.rank
    n_train = len(data.train.labels)
    bs = train_batch_size(cfg.batch_size, n_train, ws, cfg.min_steps_per_epoch)  # small sets: smaller batches
    train = TensorBatches(
        data.train.images, data.train.labels, bs, shuffle=True, seed=cfg.seed,
        rank=rank, world_size=ws, drop_last=n_train > bs * ws, pin=on_cuda,
    )
    bn = cfg.bn_momentum if cfg.bn_momentum is not None else apply_bn_momentum(net, bn_momentum_for(len(train)))
    chance = chance_level(data.val.labels, k)
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    val = TensorBatches(data.val.images, data.val.labels, eval_bs, pin=on_cuda)
    info = {
        "params": params, "fp32_mb": fp32_mb, "num_classes": k, "class_names": json.dumps(data.class_names),
        "n_train": len(data.train.labels), "n_val": len(data.val.labels), "n_test": len(data.test.labels),
        "dataset_hash": data.dataset_hash, "data_source": data.source_desc,
        "skipped_images": json.dumps(data.skipped), **environment(runtime.device, ws),
        "train_batch_size": bs, "train_bn_momentum": bn, "steps_per_epoch": len(train),
    }
    extra_columns = dict(extra_columns or {})
    reporter.on_start(info)
    tb = _tensorboard(tb_dir) if runtime.is_main else None
    grads = None
    if cfg.analysis.gradients:
        example, _ = ctx.inputs(data.train.images[:2], data.train.labels[:2])
        grads = GradientStats(unwrap(model), example)
        ctx.after_backward = grads
    grad_rows: list[dict[str, Any]] = list((resume or {}).get("gradients", []))

    plan = cfg.phase_plan()
    history: list[dict[str, Any]] = list((resume or {}).get("history", []))
    start = len(history)
    best = {"epoch": -1, "val_acc": -1.0, "val_loss": float("nan"), "state": None}
    if resume and resume.get("best_state") is not None:
        best = {"epoch": resume["best_epoch"], "val_acc": resume["best_val_acc"],
                "val_loss": resume["best_val_loss"], "state": resume["best_state"]}
        unwrap(model).load_state_dict(resume["model"])
    optimizer, phase_idx = None, -1
    scaler = torch.amp.GradScaler("cuda") if ctx.amp and not torch.cuda.is_bf16_supported() else None
    status, reason = "ok", ""
    say = progress or log.warning
    warned = False
    try:
        for e in range(start, len(plan)):
            if plan[e] != phase_idx:
                phase_idx = plan[e]
                optimizer = make_optimizer(cfg.phases[phase_idx], model.parameters())
                if resume and e == start and resume.get("phase") == phase_idx and resume.get("optimizer"):
                    optimizer.load_state_dict(resume["optimizer"])
            phase = cfg.phases[phase_idx]
            first = plan.index(phase_idx)
            n_in_phase = plan.count(phase_idx)
            for g in optimizer.param_groups:
                g["lr"] = phase_lr(phase, e - first, n_in_phase)
            train.set_epoch(e)
            if runtime.is_main and hasattr(reporter, "on_step"):
                ctx.on_step = functools.partial(reporter.on_step, e + 1)
            tr = train_one_epoch(model, train, optimizer, ctx, scaler)
            ev = evaluate(model, val, ctx)
            row = {
                "trial_id": tid, "epoch": e + 1, "phase": phase_idx, "optimizer": phase.optimizer,
                "lr": optimizer.param_groups[0]["lr"], "train_loss": tr["loss"], "train_acc": tr["acc"],
                "val_loss": ev["loss"], "val_acc": ev["acc"],
                "images_per_s": tr["images_per_s"] * ws, "epoch_s": tr["seconds"],
            }
            history.append(row)
            if grads is not None:
                grad_rows += [{"trial_id": tid, "epoch": e + 1, **r} for r in grads.summary()]
                grads.reset()
            if ev["acc"] > best["val_acc"]:
                best = {"epoch": e + 1, "val_acc": ev["acc"], "val_loss": ev["loss"],
                        "state": {n: t.detach().clone() for n, t in unwrap(model).state_dict().items()}}
            if tb is not None:
                for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s"):
                    tb.add_scalar(key.replace("_", "/", 1) if "_" in key else key, row[key], e + 1)
                tb.flush()
            state_fn = functools.partial(
                _state, model, optimizer, phase_idx, best, history, grad_rows, time.perf_counter() - t0
            )
            reporter.on_epoch(row, state_fn)
            phase_ends = e + 1 == len(plan) or plan[e + 1] != phase_idx
            if phase_ends and not warned and at_chance(ev["acc"], chance):
                warned = True
                say(_chance_warning(cfg, history, phase_idx, chance, bs, bn))
            if cfg.stop_at_val_acc is not None and ev["acc"] >= cfg.stop_at_val_acc:
                break
    except TrialFailed as err:
        status, reason = "failed", str(err)
    except BaseException:
        if tb is not None:
            tb.close()
        raise

    tables, test, status, reason = _final_tables(tid, model, data, ctx, best, history, status, reason, eval_bs, on_cuda)
    if tb is not None:
        _log_final(tb, cfg, extra_columns, best, test, bs, bn)
        tb.close()
    tables["gradients"] = grad_rows
    if cfg.analysis.robustness and status == "ok":
        tables["robustness"] = _robustness(cfg, tid, model, data, ctx, eval_bs)
    cost = None
    if cfg.analysis.latency and status == "ok" and runtime.is_main:  # the best weights are loaded
        cost = measure_cost(unwrap(model), data.test.images, ctx, batch_size=eval_bs,
                            repeats=cfg.analysis.latency_repeats)
    tables["trials"] = [
        trial_row(cfg, trial_id=tid, status=status, reason=reason, history=history, info=info, test_acc=test["acc"],
                  test_loss=test["loss"], wall_s=time.perf_counter() - t0, fold=fold, cost=cost, extra=extra_columns)
    ]
    best_cpu = None if best["state"] is None else {n: t.cpu() for n, t in best["state"].items()}
    return TrialOutcome(tid, status, reason, tables, best_cpu)


def _state(model, optimizer, phase_idx, best, history, grad_rows, elapsed) -> State:
    """The checkpoint: model, optimizer, best weights so far and the epoch history."""
    return {
        "model": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "phase": phase_idx,
        "best_epoch": best["epoch"],
        "best_val_acc": best["val_acc"],
        "best_val_loss": best["val_loss"],
        "best_state": None if best["state"] is None else {k: v.cpu() for k, v in best["state"].items()},
        "history": list(history),
        "gradients": list(grad_rows),
        "elapsed": elapsed,
    }


def _robustness(cfg, tid, model, data, ctx, eval_bs) -> list[dict[str, Any]]:
    """The best weights (already loaded) on the perturbed test set."""
    levels = paper_levels() + [("custom", float(n), float(m)) for n, m in cfg.analysis.robustness_levels]
    rows = robustness_eval(model, data.test.images, data.test.labels, levels, ctx.preprocess, ctx.device,
                           eval_bs, cfg.analysis.robustness_seed)
    return [{"trial_id": tid, **r} for r in rows]


def _chance_warning(cfg: TrialConfig, history: list[dict[str, Any]], phase_idx: int, chance: float,
                    bs: int, bn: float | None) -> str:
    """One line: validation accuracy is at chance at the end of a phase, and what to try."""
    phase = cfg.phases[phase_idx]
    last = history[-1]
    head = (f"warning: val accuracy {last['val_acc']:.2f} is at chance ({chance:.2f}) after phase {phase_idx} "
            f"({phase.optimizer} lr {phase.learning_rate:g}, epoch {last['epoch']})")
    earlier = max((r["val_acc"] for r in history if r["phase"] < phase_idx), default=None)
    if earlier is not None and not at_chance(earlier, chance):
        return (f"{head}, down from {earlier:.2f} before the handover: lower phases.{phase_idx}.lr "
                f"or search it and the handover epoch (phases.{phase_idx - 1}.epochs)")
    return (f"{head}: try more epochs, a smaller batch_size (now {bs}) or bn_momentum 0.1 (now {bn}); "
            "raw 0-255 pixels (data.normalize none) also want a lower lr than data.normalize imagenet")


def _log_final(tb: Any, cfg: TrialConfig, extra: dict[str, Any], best: dict[str, Any], test: dict[str, float],
               bs: int, bn: float | None) -> None:
    """Test metrics as scalars (at the best epoch) and the trial's HParams: its searched values
    (``space.*`` columns) and main settings, with the final val / test accuracy."""
    step = max(best["epoch"], 0)
    for key in ("acc", "loss"):
        if not math.isnan(test[key]):
            tb.add_scalar(f"test/{key}", test[key], step)
    hp: dict[str, Any] = {"backbone": cfg.backbone, "variant": cfg.variant, "seed": cfg.seed,
                          "epochs": cfg.epochs, "input_size": cfg.input_size, "batch_size": bs,
                          "bn_momentum": bn if bn is not None else "none"}
    hp.update({k.removeprefix("space."): v for k, v in extra.items() if k.startswith("space.")})
    hp = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for k, v in hp.items()}
    metrics = {"hparams/val_acc": best["val_acc"] if best["epoch"] > 0 else math.nan,
               "hparams/test_acc": test["acc"], "hparams/best_epoch": best["epoch"]}
    tb.add_hparams(hp, metrics, run_name=".", global_step=step)  # "." = this trial's own run folder
    tb.flush()


def _tensorboard(tb_dir: str | Path | None):
    if tb_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(tb_dir))


def _final_tables(tid, model, data, ctx, best, history, status, reason, eval_bs, on_cuda):
    """Evaluate the best weights on val and test: every table's rows but the trials row, the test
    metrics, and the final status and reason."""
    names = data.class_names
    k = len(names)
    tables: dict[str, list[dict[str, Any]]] = {"epochs": history, "class_metrics": [], "confusion": [], "predictions": []}
    test = {"acc": float("nan"), "loss": float("nan")}
    if status == "ok" and best["state"] is not None:
        unwrap(model).load_state_dict(best["state"])
        splits = {"val": data.val, "test": data.test}
        for split, part in splits.items():
            ev = evaluate(model, TensorBatches(part.images, part.labels, eval_bs, pin=on_cuda), ctx)
            cm = confusion_matrix(ev["y_true"], ev["y_pred"], k)
            for i, m in enumerate(per_class_metrics(cm)):
                tables["class_metrics"].append({"trial_id": tid, "split": split, "class_index": i, "class_name": names[i], **m})
            for i in range(k):
                for j in range(k):
                    tables["confusion"].append({"trial_id": tid, "split": split, "true_index": i, "true_class": names[i],
                                                "pred_index": j, "pred_class": names[j], "count": int(cm[i, j])})
            if split == "test":
                test = {"acc": ev["acc"], "loss": ev["loss"]}
                for s, y, p in zip(part.samples, ev["y_true"].tolist(), ev["y_pred"].tolist(), strict=True):
                    tables["predictions"].append({"trial_id": tid, "split": split, "image": s.path,
                                                  "label": y, "pred": p, "correct": y == p})
    elif status == "ok":
        status, reason = "failed", "no epoch finished"
    return tables, test, status, reason
