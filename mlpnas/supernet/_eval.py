"""Accuracy of a (sub)network, with BatchNorm statistics re-estimated where needed."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import iterate_batches, sequential_batches


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def autocast(device: torch.device, amp: str | None):
    if amp in (None, "none", "fp32") or device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, ds: Dataset, batch_size: int, n_batches: int,
                   device: torch.device, num_workers: int = 0, amp: str | None = None) -> None:
    """Re-estimate every BatchNorm's running statistics as the plain average over the first
    `n_batches` batches of `ds` (a subnet's statistics differ from the supernet's mixture)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training = model.training
    model.eval()
    saved = [(m.momentum, m.training) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    batches = sequential_batches(len(ds), batch_size, n_batches * batch_size)
    with autocast(device, amp):
        for x, _ in iterate_batches(ds, batches, num_workers):
            model(x.to(device, non_blocking=True))
    for m, (momentum, training) in zip(bns, saved):
        m.momentum = momentum
        m.train(training)
    model.train(was_training)


@torch.no_grad()
def evaluate(model: nn.Module, ds: Dataset, batch_size: int, device: torch.device,
             limit: int | None = None, num_workers: int = 0, amp: str | None = None) -> float:
    """Top-1 accuracy (in [0, 1]) on the first `limit` items of `ds` (default: all)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with autocast(device, amp):
        for x, y in iterate_batches(ds, sequential_batches(len(ds), batch_size, limit),
                                    num_workers):
            pred = model(x.to(device, non_blocking=True)).argmax(-1).cpu()
            correct += int((pred == y).sum())
            total += len(y)
    model.train(was_training)
    return correct / max(total, 1)


def subnet_accuracy(supernet, arch, ds_eval: Dataset, ds_recal: Dataset, batch_size: int,
                    device: torch.device, recal_batches: int = 4, limit: int | None = None,
                    num_workers: int = 0, amp: str | None = None) -> float:
    """Accuracy of `arch` with inherited weights: extract the static network (the supernet is
    left untouched), re-estimate BatchNorm statistics on training batches if it has any,
    evaluate."""
    model = supernet.extract(arch).eval()
    if has_batchnorm(model) and recal_batches > 0:
        recalibrate_bn(model, ds_recal, batch_size, recal_batches, device, num_workers, amp)
    return evaluate(model, ds_eval, batch_size, device, limit, num_workers, amp)


class SubnetEvaluator:
    """arch -> top-1 accuracy with inherited weights on `ds_eval` (the search's holdout
    split), BatchNorm statistics re-estimated on `ds_recal` where needed. Records the time
    spent, for the search's timing split."""

    def __init__(self, supernet, ds_eval: Dataset, ds_recal: Dataset, batch_size: int,
                 device: torch.device, recal_batches: int = 4, limit: int | None = None,
                 num_workers: int = 0, amp: str | None = None):
        self.supernet = supernet
        self.ds_eval, self.ds_recal = ds_eval, ds_recal
        self.batch_size, self.device = batch_size, device
        self.recal_batches, self.limit = recal_batches, limit
        self.num_workers, self.amp = num_workers, amp
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, arch) -> float:
        import time

        t = time.perf_counter()
        acc = subnet_accuracy(self.supernet, arch, self.ds_eval, self.ds_recal,
                              self.batch_size, self.device, self.recal_batches, self.limit,
                              self.num_workers, self.amp)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return acc
