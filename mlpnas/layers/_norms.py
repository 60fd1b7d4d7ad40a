"""Norm layers for channels-last (B, H, W, C) feature maps.

All three keep the parameter and buffer names of their torch counterparts, so checkpoints map
one to one, and all call the same aten op as the channels-first original (fvcore counts them
the same way).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNormCL(nn.LayerNorm):
    """LayerNorm over the channel dimension of a (B, H, W, C) map (per token)."""


class GroupNorm1CL(nn.GroupNorm):
    """GroupNorm with one group on a (B, H, W, C) map: normalises over H, W and C of each
    sample, then applies a per-channel affine, exactly as `nn.GroupNorm(1, C)` on (B, C, H, W).

    The permuted view is a channels_last NCHW tensor, which the group_norm kernel reads without
    a copy; its output permutes back to a contiguous channels-last tensor.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__(1, num_channels, eps=eps, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # (N, C): a single token per sample
            return F.group_norm(x, 1, self.weight, self.bias, self.eps)
        y = F.group_norm(x.permute(0, 3, 1, 2), 1, self.weight, self.bias, self.eps)
        return y.permute(0, 2, 3, 1)


class BatchNormCL(nn.BatchNorm2d):
    """BatchNorm over the channel (last) dimension of a (B, H, W, C) or (N, C) tensor.

    Subclasses BatchNorm2d so that state-dict keys and `isinstance(m, nn.BatchNorm2d)` checks
    (norm recalibration, weight decay filters) treat it like the channels-first original.
    """

    def _check_input_dim(self, input):  # accept any rank, channels last
        if input.dim() < 2:
            raise ValueError(f"BatchNormCL expects at least 2 dims, got {input.dim()}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = super().forward(x.reshape(-1, shape[-1]))
        return y.reshape(shape)


_NORMS = {"layer": LayerNormCL, "group": GroupNorm1CL, "batch": BatchNormCL}


def create_norm(kind: str, dim: int) -> nn.Module:
    """`kind` is one of 'layer', 'group', 'batch' (see mlpnas.spec.NORMS)."""
    try:
        return _NORMS[kind](dim)
    except KeyError:
        raise ValueError(f"unknown norm '{kind}'; use one of {', '.join(_NORMS)}.") from None


def create_act(kind: str | None) -> nn.Module:
    if kind is None:
        return nn.Identity()
    if kind == "relu":
        return nn.ReLU()
    if kind == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation '{kind}'; use relu, gelu or null.")
