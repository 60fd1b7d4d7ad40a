"""The losses of a training recipe (timm's), shared by supernet and standalone training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._loop import mixes_batches


class Losses:
    """The label loss (cross-entropy, label smoothing, or soft targets under mixup / cutmix),
    the mixup itself, and the distillation loss of the recipe."""

    def __init__(self, recipe: dict, num_classes: int):
        from timm.data import Mixup
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

        self.mixup = None
        if mixes_batches(recipe):
            self.mixup = Mixup(mixup_alpha=recipe["mixup"], cutmix_alpha=recipe["cutmix"],
                               label_smoothing=recipe["label_smoothing"],
                               num_classes=num_classes)
            self.label_loss = SoftTargetCrossEntropy()
        elif recipe["label_smoothing"] > 0:
            self.label_loss = LabelSmoothingCrossEntropy(recipe["label_smoothing"])
        else:
            self.label_loss = torch.nn.CrossEntropyLoss()
        self.distill = bool(recipe["distill"])
        self.T = float(recipe["kd_temperature"])

    def kd(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        soft = F.softmax(teacher.float() / self.T, dim=-1)
        return -(soft * F.log_softmax(student.float() / self.T, dim=-1)).sum(-1).mean() * self.T**2
