"""The Hire-MLP token mixer (hierarchical rearrangement), channels-last.

Height branch: roll the map by +step along H (circularly), pad the bottom with rows copied
circularly from the top until H is a multiple of the region size p, fold each run of p rows
into the channels, apply fc (C*p -> C/2, no bias), BatchNorm, ReLU, fc (C/2 -> C*p), unfold,
keep the first H rows, roll back by -step. Width branch: the same along W. Channel branch: a
linear map with bias. Then the reweight fusion and a projection.

Differences from the authors' code that do not change the result:
- the roll and the circular pad are one index_select (and so are the crop and the roll back);
  this also works when the map is smaller than the region (the authors' F.pad cannot wrap
  more than once);
- the folded channel index is k*C + c (k the row inside the run) instead of the authors'
  c*p + k, so the width branch folds without a copy and a smaller region uses a prefix of the
  weights of a larger one (weight sharing in the supernet); `models.official` permutes the
  authors' weights accordingly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import BatchNormCL
from ._fusion import ThreeBranchMixer


def _cyclic_index(n: int, length: int, offset: int, device) -> torch.Tensor | None:
    idx = (torch.arange(n, device=device) + offset) % length
    if n == length and offset % length == 0:
        return None
    return idx


def fold(x: torch.Tensor, axis: int, region: int, step: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, H'/p, W, p*C) for axis=1, (B, H, W'/p, p*C) for axis=2."""
    L = x.shape[axis]
    padded = -(-L // region) * region
    idx = _cyclic_index(padded, L, -step, x.device)
    if idx is not None:
        x = x.index_select(axis, idx)
    B, H, W, C = x.shape
    if axis == 2:
        return x.reshape(B, H, W // region, region * C)
    x = x.reshape(B, H // region, region, W, C).permute(0, 1, 3, 2, 4)
    return x.reshape(B, H // region, W, region * C)


def unfold(u: torch.Tensor, axis: int, region: int, step: int, length: int) -> torch.Tensor:
    """Inverse of `fold`: back to (B, H, W, C) with the original `length` along `axis`."""
    B, H, W, PC = u.shape
    C = PC // region
    if axis == 2:
        u = u.reshape(B, H, W * region, C)
    else:
        u = u.reshape(B, H, W, region, C).permute(0, 1, 3, 2, 4).reshape(B, H * region, W, C)
    idx = _cyclic_index(length, length, step, u.device)
    if idx is None and u.shape[axis] == length:
        return u
    if idx is None:
        return u.narrow(axis, 0, length)
    return u.index_select(axis, idx)


class HireMixer(ThreeBranchMixer):
    def __init__(self, dim: int, region: int = 2, step: int = 0):
        super().__init__(dim)
        if region < 1 or step < 0:
            raise ValueError(f"hire needs region >= 1 and step >= 0, got {region}, {step}.")
        self.region = region
        self.step = step
        hidden = dim // 2
        self.fc_h1 = nn.Linear(dim * region, hidden, bias=False)
        self.norm_h = BatchNormCL(hidden)
        self.fc_h2 = nn.Linear(hidden, dim * region)
        self.fc_w1 = nn.Linear(dim * region, hidden, bias=False)
        self.norm_w = BatchNormCL(hidden)
        self.fc_w2 = nn.Linear(hidden, dim * region)
        self.act = nn.ReLU()
        self.fc_c = nn.Linear(dim, dim)

    def axis_mlp(self, t: torch.Tensor, fc1: nn.Linear, norm: nn.Module, fc2: nn.Linear):
        return fc2(self.act(norm(fc1(t))))

    def _axis(self, x, axis, fc1, norm, fc2):
        t = fold(x, axis, self.region, self.step)
        t = self.axis_mlp(t, fc1, norm, fc2)
        return unfold(t, axis, self.region, self.step, x.shape[axis])

    def branches(self, x):
        h = self._axis(x, 1, self.fc_h1, self.norm_h, self.fc_h2)
        w = self._axis(x, 2, self.fc_w1, self.norm_w, self.fc_w2)
        return h, w, self.fc_c(x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, region={self.region}, step={self.step}"

# --------------------------------------------------------------------------------------------
# The elastic version (supernet): runs every option value of a space with shared weights
# --------------------------------------------------------------------------------------------


class ElasticHireMixer(HireMixer):
    """Built with the largest region of the space; smaller regions use weight prefixes (the
    folded channel index is k*C + c, so region p uses the first p*C input columns of fc_*1
    and output rows of fc_*2); steps share everything."""

    @classmethod
    def for_options(cls, dim: int, options: dict, resolution) -> ElasticHireMixer:
        """The elastic mixer able to run every region and step listed in `options`."""
        return cls(dim, max(options["region"]), 0)

    def __init__(self, dim: int, region: int = 2, step: int = 0):
        super().__init__(dim, region, step)
        self.max_region = region

    def set_active(self, region: int, step: int) -> None:
        if not 1 <= region <= self.max_region:
            raise ValueError(f"region {region} outside 1..{self.max_region}")
        self.region, self.step = region, step

    def axis_mlp(self, t, fc1, norm, fc2):
        n = self.region * self.dim
        if n == fc1.in_features:
            return super().axis_mlp(t, fc1, norm, fc2)
        t = F.linear(t, fc1.weight[:, :n])
        return F.linear(self.act(norm(t)), fc2.weight[:n], fc2.bias[:n])

    def extract_state(self, region: int, step: int) -> dict[str, torch.Tensor]:
        n = region * self.dim
        state = dict(self.state_dict())
        for b in ("h", "w"):
            state[f"fc_{b}1.weight"] = state[f"fc_{b}1.weight"][:, :n]
            state[f"fc_{b}2.weight"] = state[f"fc_{b}2.weight"][:n]
            state[f"fc_{b}2.bias"] = state[f"fc_{b}2.bias"][:n]
        return state
