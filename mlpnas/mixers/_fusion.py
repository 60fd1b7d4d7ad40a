"""The "reweight" fusion of three branches, shared by CycleMLP, Hire-MLP and ViP.

s = spatial mean of (a + b + c), one C-vector per image; z = fc2(GELU(fc1(s))) with
fc1: C -> C//4 and fc2: C//4 -> 3C; z is read as (C, 3) and soft-maxed over the 3 branches;
the result is z0 * a + z1 * b + z2 * c.
"""

from __future__ import annotations

import torch
from torch import nn


class Reweight(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        hidden = max(dim // 4, 1)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, 3 * dim)

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        B, C = a.shape[0], a.shape[-1]
        s = (a + b + c).mean(dim=(1, 2))
        z = self.fc2(self.act(self.fc1(s))).reshape(B, 1, 1, C, 3).softmax(dim=-1)
        return a * z[..., 0] + b * z[..., 1] + c * z[..., 2]


class ThreeBranchMixer(nn.Module):
    """Base of the mixers that fuse three branches (`branches(x) -> (a, b, c)`) with the
    reweight fusion and a final projection."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.reweight = Reweight(dim)
        self.proj = nn.Linear(dim, dim)

    def branches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.reweight(*self.branches(x)))
