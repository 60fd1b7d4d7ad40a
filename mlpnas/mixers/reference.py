"""The authors' formulations of the shift ops, written from their published semantics.

They are slow by design and exist for two reasons: tests check that the fast ops give the
same numbers, and `experiments/ops_speed` measures how much faster the fast ops are.
Channels-first (B, C, H, W), as in the authors' code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cycle_offsets(channels: int, kernel: int, axis: str) -> torch.Tensor:
    """deform_conv2d offsets (1, 2C, 1, 1) of CycleFC: (dy, dx) per input channel."""
    off = torch.zeros(1, 2 * channels, 1, 1)
    for i in range(channels):
        r = (i + kernel // 2) % kernel - kernel // 2
        off[0, 2 * i + (1 if axis == "w" else 0), 0, 0] = r
    return off


def cyclefc_deform(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   offsets: torch.Tensor) -> torch.Tensor:
    """CycleFC as the authors compute it: deform_conv2d with a 1x1 kernel and fixed integer
    offsets. `weight` is (out, in) or (out, in, 1, 1)."""
    from torchvision.ops import deform_conv2d

    B, _, H, W = x.shape
    w = weight if weight.dim() == 4 else weight[:, :, None, None]
    return deform_conv2d(x, offsets.to(x).expand(B, -1, H, W), w, bias)


def axial_shift_roll(x: torch.Tensor, shift_size: int, dim: int) -> torch.Tensor:
    """AS-MLP shift as zero-pad / chunk / roll / cat / narrow (dim 2 = H, 3 = W)."""
    pad = shift_size // 2
    _, _, H, W = x.shape
    x = F.pad(x, (pad, pad, pad, pad), "constant", 0)
    chunks = torch.chunk(x, shift_size, 1)
    shifted = [torch.roll(c, s, dim) for c, s in zip(chunks, range(-pad, pad + 1))]
    x = torch.cat(shifted, 1)
    return torch.narrow(torch.narrow(x, 2, pad, H), 3, pad, W)
