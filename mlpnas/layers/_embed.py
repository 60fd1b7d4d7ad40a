"""Stems and stage-entry downsamplers. Input of a stem: an image (B, C, H, W). Everything
after the stem is channels-last (B, H, W, C)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._norms import create_act, create_norm


class ConvCL(nn.Conv2d):
    """Conv2d applied to a channels-last (B, H, W, C) map, returning (B, H', W', C').

    The permuted views are channels_last NCHW tensors; the conv kernel consumes and produces
    that memory format, so no layout copies are made.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).contiguous()


class ConvEmbed(nn.Module):
    """conv(kernel, stride, padding) [+ norm] [+ act]. Used as the stem (image in, NCHW,
    `channels_first_input=True`) and as a conv downsampler (channels-last in)."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int, padding: int = 0,
                 norm: str | None = None, act: str | None = None,
                 channels_first_input: bool = False):
        super().__init__()
        self.channels_first_input = channels_first_input
        self.conv = ConvCL(in_chs, out_chs, kernel, stride, padding)
        self.norm = create_norm(norm, out_chs) if norm else nn.Identity()
        self.act = create_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_first_input:
            x = x.permute(0, 2, 3, 1)
        return self.act(self.norm(self.conv(x)))


class PatchMerging(nn.Module):
    """2x2 neighbours concatenated in the order (0,0), (1,0), (0,1), (1,1) (row, column),
    norm over the 4C channels, then a linear map 4C -> C_out without bias (AS-MLP / Swin).
    Odd heights or widths are zero-padded at the bottom / right first."""

    def __init__(self, in_chs: int, out_chs: int, norm: str | None = "group"):
        super().__init__()
        self.norm = create_norm(norm, 4 * in_chs) if norm else nn.Identity()
        self.reduction = nn.Linear(4 * in_chs, out_chs, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[1], x.shape[2]
        if H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]],
                      dim=-1)
        return self.reduction(self.norm(x))
