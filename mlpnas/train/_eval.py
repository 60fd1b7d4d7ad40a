"""Accuracy of a network, BatchNorm statistics re-estimation, bf16 autocast."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import iterate_batches, sequential_batches
from ..errors import whole_number


@dataclass(frozen=True)
class EvalSetting:
    """How a network is evaluated, built once at a task's boundary from the configuration
    node that holds `eval_batch_size`, `recal_batches` and `eval_limit` (the search's for
    supernet scores and exports, the training recipe's for training-time evaluation), plus
    the DataLoader workers and autocast. The constructor holds the checks."""

    batch_size: int
    recal_batches: int        # batches of batch_size to re-estimate BatchNorm (0: keep)
    limit: int | None         # evaluate at most this many images (None: all)
    num_workers: int
    amp: str | None

    def __post_init__(self):
        for name, low in (("batch_size", 1), ("recal_batches", 0), ("num_workers", 0)):
            whole_number(getattr(self, name), low, f"the evaluation's {name}")
        if self.limit is not None:
            whole_number(self.limit, 1, "eval_limit")

    @classmethod
    def of(cls, node: Mapping, num_workers: int = 0, amp: str | None = None) -> EvalSetting:
        """From a configuration node (search or train section, as plain data)."""
        limit = node.get("eval_limit")
        return cls(int(node["eval_batch_size"]), int(node["recal_batches"]),
                   None if limit is None else int(limit), int(num_workers), amp)


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
def evaluate_metrics(model: nn.Module, ds: Dataset, batch_size: int, device: torch.device,
                     limit: int | None = None, num_workers: int = 0,
                     amp: str | None = None) -> dict[str, float]:
    """Top-1 accuracy (in [0, 1]) and mean cross-entropy on the first `limit` items of `ds`
    (default: all)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    loss = 0.0
    with autocast(device, amp):
        for x, y in iterate_batches(ds, sequential_batches(len(ds), batch_size, limit),
                                    num_workers):
            logits = model(x.to(device, non_blocking=True)).float().cpu()
            correct += int((logits.argmax(-1) == y).sum())
            loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            total += len(y)
    model.train(was_training)
    return {"accuracy": correct / max(total, 1), "loss": loss / max(total, 1)}


def evaluate(model: nn.Module, ds: Dataset, batch_size: int, device: torch.device,
             limit: int | None = None, num_workers: int = 0, amp: str | None = None) -> float:
    """Top-1 accuracy (in [0, 1]) on the first `limit` items of `ds` (default: all)."""
    return evaluate_metrics(model, ds, batch_size, device, limit, num_workers, amp)["accuracy"]
