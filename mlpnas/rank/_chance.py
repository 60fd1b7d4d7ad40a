"""Whether a ranking study's standalone runs learnt anything: when every architecture's
standalone accuracy is within noise of guessing, its rankings are noise too."""

from __future__ import annotations

import math
from collections.abc import Sequence


def chance_warning(standalone: Sequence[float], num_classes: int, n_images: int) -> str | None:
    """A warning line when every (seed-mean) standalone accuracy is at most chance
    (1 / classes) plus two binomial standard deviations of an accuracy measured on
    `n_images` images; None otherwise."""
    if not len(standalone) or num_classes < 2 or n_images < 1:
        return None
    chance = 1.0 / num_classes
    noise = 2 * math.sqrt(chance * (1 - chance) / n_images)
    best = max(float(a) for a in standalone)
    if best > chance + noise:
        return None
    return (f"warning: every standalone accuracy (best {best:.3f}) is within noise of chance "
            f"({chance:.3f} for {num_classes} classes, +-{noise:.3f} on {n_images} images): "
            f"the standalone runs learnt nothing, so these rankings are noise; train longer "
            f"(rank.epochs) or on more data.")
