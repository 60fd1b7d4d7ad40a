"""A supernet's subnet with inherited weights: extract it, re-estimate its BatchNorm
statistics where it has any, evaluate it. The one path that search, export and rank take."""

from __future__ import annotations

import time

import torch
from torch.utils.data import Dataset

from ..train import evaluate_metrics, has_batchnorm, recalibrate_bn


def extract_recalibrated(supernet, arch, ds_recal: Dataset, batch_size: int,
                         device: torch.device, recal_batches: int = 4, num_workers: int = 0,
                         amp: str | None = None):
    """The static network of `arch` with the supernet's weights (the supernet is left
    untouched), its BatchNorm statistics re-estimated on `recal_batches` batches of
    `ds_recal` if it has any and `recal_batches` > 0 (with 0 the supernet's statistics are
    kept as they are)."""
    model = supernet.extract(arch).eval()
    if has_batchnorm(model) and recal_batches > 0:
        recalibrate_bn(model, ds_recal, batch_size, recal_batches, device, num_workers, amp)
    return model


def subnet_metrics(supernet, arch, ds_eval: Dataset, ds_recal: Dataset, batch_size: int,
                   device: torch.device, recal_batches: int = 4, limit: int | None = None,
                   num_workers: int = 0, amp: str | None = None) -> dict[str, float]:
    """Accuracy and mean cross-entropy of `arch` with inherited weights on `ds_eval`."""
    model = extract_recalibrated(supernet, arch, ds_recal, batch_size, device, recal_batches,
                                 num_workers, amp)
    return evaluate_metrics(model, ds_eval, batch_size, device, limit, num_workers, amp)


def subnet_accuracy(supernet, arch, ds_eval: Dataset, ds_recal: Dataset, batch_size: int,
                    device: torch.device, recal_batches: int = 4, limit: int | None = None,
                    num_workers: int = 0, amp: str | None = None) -> float:
    """Accuracy of `arch` with inherited weights (see `subnet_metrics`)."""
    return subnet_metrics(supernet, arch, ds_eval, ds_recal, batch_size, device,
                          recal_batches, limit, num_workers, amp)["accuracy"]


class SubnetEvaluator:
    """arch -> {"accuracy", "loss"} with inherited weights on `ds_eval` (the search's holdout
    split), BatchNorm statistics re-estimated on `ds_recal` where needed. Records the time
    spent."""

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

    def __call__(self, arch) -> dict[str, float]:
        t = time.perf_counter()
        out = subnet_metrics(self.supernet, arch, self.ds_eval, self.ds_recal, self.batch_size,
                             self.device, self.recal_batches, self.limit, self.num_workers,
                             self.amp)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out
