from __future__ import annotations

from torch import nn

from ..spec import family
from .cycle import CycleMixer
from .hire import HireMixer
from .permute import PermuteMixer
from .shift import ShiftMixer

# registry name -> class; the names and their options are described in mlpnas.spec.FAMILIES
MIXERS: dict[str, type[nn.Module]] = {
    "cycle": CycleMixer,
    "shift": ShiftMixer,
    "hire": HireMixer,
    "permute": PermuteMixer,
}


def create_mixer(name: str, dim: int, input_size: tuple[int, int] | None = None,
                 **options) -> nn.Module:
    """Build the mixer `name` for width `dim`. `input_size` (H, W) of the feature map is
    passed to the families whose parameters depend on it (the permutator)."""
    full = family(name).check(options, dim, input_size)
    cls = MIXERS[name]
    if getattr(cls, "needs_input_size", False):
        full["input_size"] = input_size
    return cls(dim, **full)
