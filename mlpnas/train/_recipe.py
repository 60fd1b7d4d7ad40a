"""A training recipe, built once at a task's boundary from the `train` section of the
configuration (`Recipe.of`), frozen, and checked by its constructor: every value in range,
the warm-up no longer than the training. Its values come from `conf/train/*.yaml` only; the
code holds no default of its own.

The generic recipe serves every training run (supernet training holds one in its
`SupernetRecipe`, standalone training uses it as it is); `with_overrides` gives the recipe
with some values replaced and checked under another section's name (`mlpnas rank`'s
standalone budget, `rank.epochs=...`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UserError, check_rules, section_values
from ._fingerprint import STANDALONE_RECIPE_KEYS

if TYPE_CHECKING:
    from ._eval import EvalSetting

# (field, kind, lowest, highest) as errors.number_problem reads them
RULES: tuple[tuple[str, str, float | None, float | None], ...] = (
    ("epochs", "int", 1, None),
    ("batch_size", "int", 1, None),
    ("lr", "num", 1e-12, None),
    ("min_lr", "num", 0, None),
    ("weight_decay", "num", 0, None),
    ("warmup_epochs", "num", 0, None),
    ("label_smoothing", "num", 0, 0.999),
    ("mixup", "num", 0, None),
    ("cutmix", "num", 0, None),
    ("grad_clip", "num", 0, None),
    ("drop_path", "num", 0, 0.999),
    ("checkpoint_every", "int", 1, None),
    ("num_workers", "int", 0, None),
    ("eval_batch_size", "int", 1, None),
    ("recal_batches", "int", 0, None),
    ("eval_limit", "int", 1, None),
)
NULLABLE = ("eval_limit",)


@dataclass(frozen=True)
class Recipe:
    """Optimizer, schedule, losses, regularisation, checkpoints and training-time evaluation
    of one training run; `section` names the options in sentences."""

    epochs: int
    batch_size: int
    lr: float
    min_lr: float
    weight_decay: float
    warmup_epochs: float
    label_smoothing: float
    mixup: float               # timm Mixup alpha (0: off)
    cutmix: float              # timm CutMix alpha (0: off)
    grad_clip: float           # 0: off
    drop_path: float
    checkpoint_every: int      # steps between checkpoints (and one at every epoch end)
    num_workers: int           # DataLoader workers
    eval_batch_size: int
    recal_batches: int
    eval_limit: int | None
    section: str = field(default="train", compare=False)

    def __post_init__(self):
        check_rules(self.section, dataclasses.asdict(self), RULES, NULLABLE)
        if self.warmup_epochs > self.epochs:
            raise UserError(f"{self.section}.warmup_epochs={self.warmup_epochs:g} is longer "
                            f"than the training ({self.section}.epochs={self.epochs}), so the "
                            f"learning rate would never reach {self.section}.lr; give a "
                            f"shorter warm-up.")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "section")

    @classmethod
    def of(cls, node: Mapping[str, Any], section: str = "train") -> Recipe:
        """From a configuration node (a `train` section, as plain data or a DictConfig)."""
        return cls(**section_values(node, cls.names(), section), section=section)

    def with_overrides(self, overrides: Mapping[str, Any], section: str) -> Recipe:
        """This recipe with the values of `overrides` that are not None (`section.name`
        options), checked again."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, section=section, **given)

    @property
    def mixes_batches(self) -> bool:
        """Whether the recipe pairs the images of a batch (timm's mixup or cutmix)."""
        return self.mixup > 0 or self.cutmix > 0

    def evaluation(self, amp: str | None) -> EvalSetting:
        """How training-time evaluation runs (the recipe's batch, BatchNorm re-estimation,
        limit and workers)."""
        from ._eval import EvalSetting

        return EvalSetting(self.eval_batch_size, self.recal_batches, self.eval_limit,
                           self.num_workers, amp)

    def fingerprint(self) -> dict[str, Any]:
        """The values that change a standalone run's model (see STANDALONE_RECIPE_KEYS)."""
        return {k: getattr(self, k) for k in STANDALONE_RECIPE_KEYS}
