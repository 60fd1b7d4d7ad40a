"""Zero-fill channel-group shifts along one spatial axis of a channels-last map.

Both CycleFC (CycleMLP) and the axial shift (AS-MLP) move groups of channels by a few pixels
along H or W, filling with zeros; they differ only in which channels form a group. One op
serves both: `group_shift(x, axis, groups)` with `groups` a tuple of
`(start, stop, step, d)`: the channels `start:stop:step` are moved by `d` along `axis`,
out[p] = x[p - d] (zero where p - d is outside the map).

Eagerly the op is an autograd Function: the forward writes each group once into a new
buffer (zeroing only the uncovered strips), the backward is the same op with every `d`
negated (a zero-fill shift's adjoint), so neither direction allocates a full-size tensor per
group. While tracing (fvcore, ONNX) the
same result is computed with plain narrow / cat ops that every tracer (fvcore, torch.compile,
torch.export / ONNX) understands and that count as zero FLOPs.
"""

from __future__ import annotations

import functools
import math

import torch

Group = tuple[int, int, int, int]  # (start, stop, step, d)


@functools.lru_cache(maxsize=256)
def cycle_groups(channels: int, kernel: int) -> tuple[Group, ...]:
    """CycleFC: channel i reads offset r_i = ((i + K//2) mod K) - K//2, i.e. it is moved by
    d = -r_i. Channels sharing i mod K form one strided group."""
    half = kernel // 2
    groups = []
    for m in range(min(kernel, channels)):
        r = ((m + half) % kernel) - half
        groups.append((m, channels, kernel, -r))
    return tuple(groups)


@functools.lru_cache(maxsize=256)
def axial_groups(channels: int, shift_size: int) -> tuple[Group, ...]:
    """AS-MLP: contiguous groups of ceil(C / s) channels (the last may be smaller, and small C
    gives fewer than s groups); group g is moved by d = g - s//2."""
    size = math.ceil(channels / shift_size)
    half = shift_size // 2
    return tuple(
        (g * size, min((g + 1) * size, channels), 1, g - half)
        for g in range(math.ceil(channels / size))
    )


def _negate(groups: tuple[Group, ...]) -> tuple[Group, ...]:
    return tuple((a, b, s, -d) for a, b, s, d in groups)


def _shift_eager(x: torch.Tensor, axis: int, groups) -> torch.Tensor:
    """Write each group once into an uninitialised buffer and zero only the |d|-wide strips
    it leaves uncovered (cheaper than zero-filling the whole buffer first)."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    L = x.shape[axis]
    for start, stop, step, d in groups:
        dst = out[..., start:stop:step]
        if abs(d) >= L:
            dst.zero_()
            continue
        src = x[..., start:stop:step]
        if d >= 0:
            dst.narrow(axis, d, L - d).copy_(src.narrow(axis, 0, L - d))
            dst.narrow(axis, 0, d).zero_()
        else:
            dst.narrow(axis, 0, L + d).copy_(src.narrow(axis, -d, L + d))
            dst.narrow(axis, L + d, -d).zero_()
    return out


class _GroupShift(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, axis, groups):
        ctx.axis, ctx.groups = axis, groups
        return _shift_eager(x, axis, groups)

    @staticmethod
    def backward(ctx, grad):
        return _GroupShift.apply(grad.contiguous(), ctx.axis, _negate(ctx.groups)), None, None


def _shift_one(t: torch.Tensor, axis: int, d: int) -> torch.Tensor:
    if d == 0:
        return t
    L = t.shape[axis]
    if abs(d) >= L:
        return torch.zeros_like(t)
    zshape = list(t.shape)
    zshape[axis] = abs(d)
    z = t.new_zeros(zshape)
    if d > 0:
        return torch.cat([z, t.narrow(axis, 0, L - d)], dim=axis)
    return torch.cat([t.narrow(axis, -d, L + d), z], dim=axis)


def group_shift_functional(x: torch.Tensor, axis: int, groups) -> torch.Tensor:
    """The same result as `group_shift`, built from narrow / cat only (for tracers)."""
    C = x.shape[-1]
    parts, order = [], []
    for start, stop, step, d in groups:
        parts.append(_shift_one(x[..., start:stop:step], axis, d))
        order.extend(range(start, stop, step))
    y = torch.cat(parts, dim=-1)
    if order != list(range(C)):
        inverse = [0] * C
        for pos, ch in enumerate(order):
            inverse[ch] = pos
        y = y.index_select(-1, torch.tensor(inverse, device=x.device))
    return y


def _tracing() -> bool:
    """True under torch.jit tracing (fvcore), torch.compile and torch.export (ONNX)."""
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()
            or torch.compiler.is_exporting())


def group_shift(x: torch.Tensor, axis: int, groups: tuple[Group, ...]) -> torch.Tensor:
    """Shift channel groups of a channels-last tensor along `axis` (1 = H, 2 = W), zero fill."""
    if axis < 0:
        axis += x.dim()
    if _tracing():
        return group_shift_functional(x, axis, groups)
    return _GroupShift.apply(x.contiguous(), axis, groups)
