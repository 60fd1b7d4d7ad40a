"""A supernet's subnet with inherited weights: extract it, re-estimate its BatchNorm
statistics where it has any, evaluate it. The one path that search, export, rank and the
supernet's own training take, with the evaluation settings built once (`EvalSetting`)."""

from __future__ import annotations

import time

import torch
from torch.utils.data import Dataset

from ..train import EvalSetting, evaluate_metrics, has_batchnorm, recalibrate_bn


def extract_recalibrated(supernet, arch, ds_recal: Dataset, setting: EvalSetting,
                         device: torch.device):
    """The static network of `arch` with the supernet's weights (the supernet is left
    untouched), its BatchNorm statistics re-estimated on `setting.recal_batches` batches of
    `ds_recal` if it has any and that number is above 0 (with 0 the supernet's statistics
    are kept as they are)."""
    model = supernet.extract(arch).eval()
    if has_batchnorm(model) and setting.recal_batches > 0:
        recalibrate_bn(model, ds_recal, setting.batch_size, setting.recal_batches, device,
                       setting.num_workers, setting.amp)
    return model


def subnet_metrics(supernet, arch, ds_eval: Dataset, ds_recal: Dataset, setting: EvalSetting,
                   device: torch.device) -> dict[str, float]:
    """Accuracy and mean cross-entropy of `arch` with inherited weights on `ds_eval`."""
    model = extract_recalibrated(supernet, arch, ds_recal, setting, device)
    return evaluate_metrics(model, ds_eval, setting.batch_size, device, setting.limit,
                            setting.num_workers, setting.amp)


def subnet_accuracy(supernet, arch, ds_eval: Dataset, ds_recal: Dataset, setting: EvalSetting,
                    device: torch.device) -> float:
    """Accuracy of `arch` with inherited weights (see `subnet_metrics`)."""
    return subnet_metrics(supernet, arch, ds_eval, ds_recal, setting, device)["accuracy"]


class SubnetEvaluator:
    """arch -> {"accuracy", "loss"} with inherited weights on `ds_eval` (the search's holdout
    split), BatchNorm statistics re-estimated on `ds_recal` where needed. Records the time
    spent."""

    def __init__(self, supernet, ds_eval: Dataset, ds_recal: Dataset, setting: EvalSetting,
                 device: torch.device):
        self.supernet = supernet
        self.ds_eval, self.ds_recal = ds_eval, ds_recal
        self.setting, self.device = setting, device
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, arch) -> dict[str, float]:
        t = time.perf_counter()
        out = subnet_metrics(self.supernet, arch, self.ds_eval, self.ds_recal, self.setting,
                             self.device)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out
