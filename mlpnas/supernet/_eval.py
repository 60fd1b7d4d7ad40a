"""Accuracy of a supernet's subnet with inherited weights, BatchNorm statistics
re-estimated where needed."""

from __future__ import annotations

import time

import torch
from torch.utils.data import Dataset

from ..train import evaluate, has_batchnorm, recalibrate_bn


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
        t = time.perf_counter()
        acc = subnet_accuracy(self.supernet, arch, self.ds_eval, self.ds_recal,
                              self.batch_size, self.device, self.recal_batches, self.limit,
                              self.num_workers, self.amp)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return acc
