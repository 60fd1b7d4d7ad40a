"""Zero-fill channel-group shifts along one spatial axis of a channels-last map.

Both CycleFC (CycleMLP) and the axial shift (AS-MLP) move groups of channels by a few pixels
along H or W, filling with zeros; they differ only in which channels form a group. One op
serves both: `group_shift(x, axis, groups)` with `groups` a tuple of
`(start, stop, step, d)`: the channels `start:stop:step` are moved by `d` along `axis`,
out[p] = x[p - d] (zero where p - d is outside the map).

Three exact implementations, chosen by where the tensor lives:

- CPU (fp32 / bf16, oneDNN at IEEE precision): a depthwise convolution whose kernel holds a
  single 1 per channel, at tap `half - d`. Every output is 1 * x + 0 * (neighbours), so
  the values are the shift's (up to the sign of zero, and an inf in the window turns into
  NaN); autograd's convolution backward is the adjoint shift. On a channels-last map a
  channel group is a run of only ceil(C/s) contiguous floats, which a strided copy moves
  slowly; oneDNN's depthwise kernel walks the map once, vectorised over channels
  (experiments/ops_speed).
- elsewhere (CUDA, where cuDNN may round convolution inputs to TF32; other dtypes): an
  autograd Function whose forward writes each group once into a new buffer (zeroing only
  the uncovered strips) and whose backward is the same op with every `d` negated.
- while tracing (fvcore, ONNX): plain narrow / cat ops that every tracer (fvcore,
  torch.compile, torch.export / ONNX) understands and that count as zero FLOPs.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

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


@functools.lru_cache(maxsize=256)
def _onehot_kernel(groups: tuple[Group, ...], axis: int, dtype: torch.dtype) -> torch.Tensor:
    """Depthwise kernel (C, 1, k, 1) for axis 1 or (C, 1, 1, k) for axis 2, k = 2 max|d| + 1.
    The convolution computes out[p] = sum_t w[t] x[p + t - half], so a channel moved by d
    holds its single 1 at t = half - d."""
    C = max(stop for _, stop, _, _ in groups)
    half = max(abs(d) for *_, d in groups)
    with torch.inference_mode(False):  # cached: must stay usable by autograd later
        w = torch.zeros(C, 1, 2 * half + 1, dtype=dtype)
        for start, stop, step, d in groups:
            w[start:stop:step, 0, half - d] = 1
        return w.unsqueeze(4 - axis)


def _conv_exact_on_cpu(x: torch.Tensor) -> bool:
    """oneDNN computes an fp32 / bf16 convolution at IEEE precision unless the user allowed
    TF32 / bf16 arithmetic for fp32; only then is the one-hot convolution an exact shift."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bfloat16):
        return False
    if not torch.backends.mkldnn.is_available() or not torch.backends.mkldnn.enabled:
        return False
    if x.dtype == torch.float32:
        conv = getattr(torch.backends.mkldnn, "conv", None)
        if conv is not None and hasattr(conv, "fp32_precision"):
            # the per-backend setting (torch >= 2.9) resolves the inherited global one
            return conv.fp32_precision in ("none", "ieee")
        try:
            return torch.get_float32_matmul_precision() == "highest"
        except RuntimeError:  # legacy and new precision APIs mixed: play safe
            return False
    return True


def _shift_conv(x: torch.Tensor, axis: int, groups: tuple[Group, ...]) -> torch.Tensor:
    w = _onehot_kernel(groups, axis, x.dtype)
    half = (w.shape[1 + axis] - 1) // 2
    padding = (half, 0) if axis == 1 else (0, half)
    with torch.autocast("cpu", enabled=False):
        y = F.conv2d(x.permute(0, 3, 1, 2), w, padding=padding, groups=x.shape[-1])
    return y.permute(0, 2, 3, 1)


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
    if x.dim() == 4 and axis in (1, 2) and _conv_exact_on_cpu(x):
        return _shift_conv(x.contiguous(), axis, groups)
    return _GroupShift.apply(x.contiguous(), axis, groups)


# --- meta kernels (MetaKernel, arXiv 1912.04749): a weighted sum of shift candidates as one
# depthwise convolution. A shift candidate is a depthwise kernel with a single 1 per channel,
# so sum_i a_i shift_i(x) = conv(x, sum_i a_i onehot_i): one feature map instead of one per
# candidate, and since CycleFC / the axial shift apply the same Linear after every candidate,
# sum_i a_i W shift_i(x) = W conv(x, sum_i a_i onehot_i) exactly.


@functools.lru_cache(maxsize=256)
def _onehot_stack(candidates: tuple[tuple[Group, ...], ...], dtype: torch.dtype,
                  device: torch.device) -> torch.Tensor:
    """(n, C, k) one-hot kernels of the n candidates, centred on one common width
    k = 2 max|d| + 1 (a candidate moving a channel by d holds its 1 at k//2 - d)."""
    C = max(stop for groups in candidates for _, stop, _, _ in groups)
    half = max(abs(d) for groups in candidates for *_, d in groups)
    with torch.inference_mode(False):
        w = torch.zeros(len(candidates), C, 2 * half + 1, dtype=dtype)
        for i, groups in enumerate(candidates):
            for start, stop, step, d in groups:
                w[i, start:stop:step, half - d] = 1
        return w.to(device)


def merged_shift_kernel(candidates, weights: torch.Tensor, dtype: torch.dtype,
                        device: torch.device) -> torch.Tensor:
    """The meta kernel (C, k): sum_i weights[i] * onehot_i, differentiable in `weights`."""
    stack = _onehot_stack(tuple(candidates), dtype, device)
    if weights.shape != (stack.shape[0],):
        raise ValueError(f"{stack.shape[0]} shift candidates need {stack.shape[0]} weights, "
                         f"got a tensor of shape {tuple(weights.shape)}")
    return torch.einsum("n,nck->ck", weights.to(dtype), stack)


def merged_shift(x: torch.Tensor, axis: int, candidates, weights: torch.Tensor) -> torch.Tensor:
    """sum_i weights[i] * group_shift(x, axis, candidates[i]) for a channels-last (B, H, W, C)
    map, computed as one depthwise convolution with the merged kernel (values and gradients,
    including those of `weights`, equal the weighted sum of the separate shifts up to
    floating-point rounding)."""
    if axis < 0:
        axis += x.dim()
    if x.dim() != 4 or axis not in (1, 2):
        raise ValueError("merged_shift takes a (B, H, W, C) map and axis 1 (H) or 2 (W)")
    kernel = merged_shift_kernel(candidates, weights, x.dtype, x.device)
    half = (kernel.shape[1] - 1) // 2
    w = kernel.unsqueeze(1).unsqueeze(4 - axis)  # (C, 1, k, 1) along H, (C, 1, 1, k) along W
    padding = (half, 0) if axis == 1 else (0, half)
    y = F.conv2d(x.permute(0, 3, 1, 2), w, padding=padding, groups=x.shape[-1])
    return y.permute(0, 2, 3, 1)


def mixture_weights(options: list, weights: torch.Tensor) -> torch.Tensor:
    if not options:
        raise ValueError("a kernel mixture needs at least one option")
    if weights.dim() != 1 or weights.shape[0] != len(options):
        raise ValueError(f"{len(options)} kernel options need a weight vector of that length, "
                         f"got shape {tuple(weights.shape)}")
    return weights
