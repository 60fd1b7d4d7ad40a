"""The losses of a training recipe (timm's), shared by supernet and standalone training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._recipe import Recipe


class Losses:
    """The label loss (cross-entropy, label smoothing, or soft targets under mixup / cutmix),
    the mixup itself, and the distillation loss at `kd_temperature` (None: no distillation,
    as in standalone training)."""

    def __init__(self, recipe: Recipe, num_classes: int, kd_temperature: float | None = None):
        from timm.data import Mixup
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

        self.mixup = None
        if recipe.mixes_batches:
            self.mixup = Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix,
                               label_smoothing=recipe.label_smoothing,
                               num_classes=num_classes)
            self.label_loss = SoftTargetCrossEntropy()
        elif recipe.label_smoothing > 0:
            self.label_loss = LabelSmoothingCrossEntropy(recipe.label_smoothing)
        else:
            self.label_loss = torch.nn.CrossEntropyLoss()
        self.distill = kd_temperature is not None
        self.T = float(kd_temperature or 1.0)

    def kd(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        soft = F.softmax(teacher.float() / self.T, dim=-1)
        return -(soft * F.log_softmax(student.float() / self.T, dim=-1)).sum(-1).mean() * self.T**2
