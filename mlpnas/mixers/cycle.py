"""CycleFC and the CycleMLP token mixer (channels-last, pure PyTorch).

CycleFC with pseudo-kernel K along one axis: input channel i is shifted along that axis by
r_i = ((i + K//2) mod K) - K//2 (zero fill, reading in[p + r_i]), then a full channel
projection follows. The authors implement it with `deform_conv2d` and integer offsets; here it
is a grouped zero-fill shift plus `F.linear`, which is exact and several times faster, and
which fvcore counts as the linear layer it is (the shift is data movement).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._fusion import ThreeBranchMixer
from ._shift_op import cycle_groups, group_shift, merged_shift, mixture_weights

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

# --------------------------------------------------------------------------------------------
# The elastic version (supernet): runs every option value of a space with shared weights
# --------------------------------------------------------------------------------------------


class ElasticCycleMixer(CycleMixer):
    """CycleMixer running any pseudo-kernel up to the one it was built with: every kernel
    shares all weights (the kernel only changes which pixel each channel reads). It can also
    run a weighted mixture of kernels as one merged kernel (`set_mixture`, meta kernels)."""

    mixture: tuple[tuple[tuple[int, int], ...], torch.Tensor] | None = None

    @classmethod
    def for_options(cls, dim: int, options: dict, resolution) -> ElasticCycleMixer:
        """The elastic mixer able to run every value listed in `options["kernel"]`."""
        kernels = [k if isinstance(k, int) else max(k) for k in options["kernel"]]
        return cls(dim, max(kernels))

    def set_active(self, kernel) -> None:
        kh, kw = kernel_pair(kernel)
        self.along_h.kernel, self.along_w.kernel = kh, kw
        self.mixture = None

    def set_mixture(self, kernels: list, weights: torch.Tensor) -> None:
        """Run sum_i weights[i] * CycleFC_{kernels[i]} in both CycleFC branches (one weight
        per kernel option, shared by the two axes), as one merged kernel each."""
        self.mixture = (tuple(kernel_pair(k) for k in kernels),
                        mixture_weights(kernels, weights))

    def branches(self, x):
        if self.mixture is None:
            return super().branches(x)
        pairs, weights = self.mixture
        C = x.shape[-1]
        along_w = merged_shift(x, 2, tuple(cycle_groups(C, kw) for _, kw in pairs), weights)
        along_h = merged_shift(x, 1, tuple(cycle_groups(C, kh) for kh, _ in pairs), weights)
        # CycleFC.forward is Linear(shift(x)); the Linear is shared by every kernel option
        return (F.linear(along_w, self.along_w.weight, self.along_w.bias),
                F.linear(along_h, self.along_h.weight, self.along_h.bias), self.fc_c(x))

    def extract_state(self, kernel) -> dict[str, torch.Tensor]:
        return dict(self.state_dict())
