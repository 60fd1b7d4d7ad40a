"""CycleFC and the CycleMLP token mixer (channels-last, pure PyTorch).

CycleFC with pseudo-kernel K along one axis: input channel i is shifted along that axis by
r_i = ((i + K//2) mod K) - K//2 (zero fill, reading in[p + r_i]), then a full channel
projection follows. The authors implement it with `deform_conv2d` and integer offsets; here it
is a grouped zero-fill shift plus `F.linear`, which is exact and several times faster, and
which fvcore counts as the linear layer it is (the shift is data movement).
"""

from __future__ import annotations

import torch
from torch import nn

from ._fusion import ThreeBranchMixer
from ._shift_op import cycle_groups, group_shift

_AXES = {"h": 1, "w": 2}


class CycleFC(nn.Linear):
    """CycleFC on a (B, H, W, C_in) map. `axis='w'` is the authors' kernel (1, K),
    `axis='h'` their (K, 1). K = 1 is a plain channel FC. Parameters are those of the
    `nn.Linear` it subclasses (weight (out, in), bias)."""

    def __init__(self, in_features: int, out_features: int, kernel: int = 3, axis: str = "w",
                 bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if axis not in _AXES:
            raise ValueError(f"CycleFC axis must be 'h' or 'w', got {axis!r}.")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"CycleFC kernel must be a positive odd integer, got {kernel}.")
        self.kernel = kernel
        self.axis = axis

    def shift(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == 1:
            return x
        return group_shift(x, _AXES[self.axis], cycle_groups(x.shape[-1], self.kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.shift(x))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kernel={self.kernel}, axis={self.axis}"


def kernel_pair(kernel) -> tuple[int, int]:
    """`kernel` is one odd K for both axes or a pair (K_h, K_w)."""
    if isinstance(kernel, int):
        return kernel, kernel
    kh, kw = kernel
    return int(kh), int(kw)


class CycleMixer(ThreeBranchMixer):
    """CycleMLP token mixer: along-W CycleFC (1 x K_w), along-H CycleFC (K_h x 1) and a
    channel FC without bias, fused by reweighting, then a projection. The published models
    use kernel=3 on both axes. Branch order in the fusion follows the authors (the 1xK branch
    first)."""

    def __init__(self, dim: int, kernel=3):
        super().__init__(dim)
        kh, kw = kernel_pair(kernel)
        self.along_w = CycleFC(dim, dim, kw, axis="w")
        self.along_h = CycleFC(dim, dim, kh, axis="h")
        self.fc_c = nn.Linear(dim, dim, bias=False)

    def branches(self, x):
        return self.along_w(x), self.along_h(x), self.fc_c(x)
