"""The AS-MLP axial-shift token mixer (channels-last, pure PyTorch, no cupy).

t = GELU(GN(fc_in(x))); a = GELU(fc_w(shift_W(t))); b = GELU(fc_h(shift_H(t)));
out = fc_out(GN(a + b)), GN being GroupNorm with one group. The shift cuts the channels into
contiguous groups of ceil(C/s) and moves group g by g - s//2 pixels with zero fill.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import GroupNorm1CL
from ._shift_op import axial_groups, group_shift, merged_shift, mixture_weights


def axial_shift(x: torch.Tensor, shift_size: int, axis: int) -> torch.Tensor:
    """AS-MLP shift of a (B, H, W, C) map along `axis` (1 = H, 2 = W)."""
    if shift_size == 1:
        return x
    return group_shift(x, axis, axial_groups(x.shape[-1], shift_size))


class ShiftMixer(nn.Module):
    def __init__(self, dim: int, shift_size: int = 5, bias: bool = True):
        super().__init__()
        if shift_size < 1 or shift_size % 2 == 0:
            raise ValueError(f"shift_size must be a positive odd integer, got {shift_size}.")
        self.dim = dim
        self.shift_size = shift_size
        self.fc_in = nn.Linear(dim, dim, bias=bias)
        self.norm_in = GroupNorm1CL(dim)
        self.fc_w = nn.Linear(dim, dim, bias=bias)
        self.fc_h = nn.Linear(dim, dim, bias=bias)
        self.norm_out = GroupNorm1CL(dim)
        self.fc_out = nn.Linear(dim, dim, bias=bias)
        self.act = nn.GELU()

    def shifted(self, t: torch.Tensor, axis: int) -> torch.Tensor:
        """The axial shift of t along axis 1 (H) or 2 (W)."""
        return axial_shift(t, self.shift_size, axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.act(self.norm_in(self.fc_in(x)))
        a = self.act(self.fc_w(self.shifted(t, 2)))
        b = self.act(self.fc_h(self.shifted(t, 1)))
        return self.fc_out(self.norm_out(a + b))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, shift_size={self.shift_size}"

# --------------------------------------------------------------------------------------------
# The elastic version (supernet): runs every option value of a space with shared weights
# --------------------------------------------------------------------------------------------


class ElasticShiftMixer(ShiftMixer):
    """ShiftMixer running any shift size: all sizes share every weight. It can also run a
    weighted mixture of sizes as one merged kernel per axis (`set_mixture`, meta kernels)."""

    mixture: tuple[tuple[int, ...], torch.Tensor] | None = None

    @classmethod
    def for_options(cls, dim: int, options: dict, resolution) -> ElasticShiftMixer:
        """The elastic mixer able to run every value listed in `options["shift_size"]`."""
        return cls(dim, max(options["shift_size"]))

    def set_active(self, shift_size: int) -> None:
        self.shift_size = shift_size
        self.mixture = None

    def set_mixture(self, shift_sizes: list, weights: torch.Tensor) -> None:
        """Run sum_i weights[i] * shift_{shift_sizes[i]} before the shared fc_w / fc_h (one
        weight per option, shared by the two axes), as one merged kernel per axis."""
        self.mixture = (tuple(int(s) for s in shift_sizes),
                        mixture_weights(shift_sizes, weights))

    def shifted(self, t: torch.Tensor, axis: int) -> torch.Tensor:
        """The active size's shift, or the mixture's merged one."""
        if self.mixture is None:
            return super().shifted(t, axis)
        sizes, weights = self.mixture
        return merged_shift(t, axis, tuple(axial_groups(t.shape[-1], s) for s in sizes),
                            weights)

    def extract_state(self, shift_size: int) -> dict[str, torch.Tensor]:
        return dict(self.state_dict())
