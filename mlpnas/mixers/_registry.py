from __future__ import annotations

from torch import nn

from ..spec import FAMILIES, family

# registry name -> static mixer class, from the family table (mlpnas.spec.FAMILIES)
MIXERS: dict[str, type[nn.Module]] = {name: info.static_class()
                                       for name, info in FAMILIES.items()}


def create_mixer(name: str, dim: int, input_size: tuple[int, int] | None = None,
                 **options) -> nn.Module:
    """Build the mixer `name` for width `dim`. `input_size` (H, W) of the feature map is
    passed to the families whose parameters depend on it (the permutator)."""
    info = family(name)
    full = info.check(options, dim, input_size)
    cls = info.static_class()
    if getattr(cls, "needs_input_size", False):
        full["input_size"] = input_size
    return cls(dim, **full)
