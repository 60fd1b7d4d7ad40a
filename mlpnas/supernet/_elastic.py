"""Elastic ops: each subclasses the static op of the same role, so parameter names match and
extraction is slicing. Every one has `set_active(...)` (explicit state set by the supernet)
and `extract_state(...)` (the state dict of the static op with that setting).

Weight sharing:
- CycleFC pseudo-kernels and axial shift sizes share all weights (the kernel only changes
  which pixel each channel reads);
- Hire-MLP region sizes share a prefix of the branch FCs: the folded channel index is k*C + c,
  so region p uses the first p*C input columns of fc_*1 and output rows of fc_*2; steps share
  everything;
- the permutator's per-axis FCs have size H*S and cannot be shared between segment counts:
  each segment option keeps its own `fc_h` / `fc_w`; its channel FC, fusion and projection
  are shared;
- MLP ratios share the first k hidden channels (sorted by importance, see
  `sort_mlp_channels`);
- different families keep their own weights.

Meta kernels (MetaKernel, arXiv 1912.04749): `ElasticCycleMixer` and `ElasticShiftMixer` can
also run a weighted mixture of their kernel options (`set_mixture(options, weights)`). The
candidates' shifts are merged into one depthwise kernel before the shared Linear, so the
mixture costs one feature map, and it equals the weighted sum of the separate candidates'
CycleFC / shift-then-Linear outputs exactly (`mlpnas.mixers.merged_shift`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Mlp
from ..mixers import CycleMixer, HireMixer, PermuteMixer, ShiftMixer
from ..mixers._shift_op import axial_groups, cycle_groups, merged_shift
from ..mixers.cycle import kernel_pair


def _mixture_weights(options: list, weights: torch.Tensor) -> torch.Tensor:
    if not options:
        raise ValueError("a kernel mixture needs at least one option")
    if weights.dim() != 1 or weights.shape[0] != len(options):
        raise ValueError(f"{len(options)} kernel options need a weight vector of that length, "
                         f"got shape {tuple(weights.shape)}")
    return weights


class ElasticMlp(Mlp):
    def __init__(self, dim: int, max_hidden: int, drop: float = 0.0):
        super().__init__(dim, max_hidden, drop)
        self.active_hidden = max_hidden

    def set_active(self, hidden: int) -> None:
        if not 1 <= hidden <= self.fc1.out_features:
            raise ValueError(f"hidden width {hidden} outside 1..{self.fc1.out_features}")
        self.active_hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.active_hidden
        if h == self.fc1.out_features:
            return super().forward(x)
        x = F.linear(x, self.fc1.weight[:h], self.fc1.bias[:h])
        x = self.drop(self.act(x))
        return self.drop(F.linear(x, self.fc2.weight[:, :h], self.fc2.bias))

    def forward_masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The largest hidden layer with its channels scaled by `mask` (hidden,): a weighted
        mixture of MLP ratios as channel masks (FBNetV2), differentiable in the mask."""
        x = self.drop(self.act(self.fc1(x)) * mask.to(x.dtype))
        return self.drop(self.fc2(x))

    def extract_state(self, hidden: int) -> dict[str, torch.Tensor]:
        return {
            "fc1.weight": self.fc1.weight.detach()[:hidden],
            "fc1.bias": self.fc1.bias.detach()[:hidden],
            "fc2.weight": self.fc2.weight.detach()[:, :hidden],
            "fc2.bias": self.fc2.bias.detach(),
        }

    @torch.no_grad()
    def importance_order(self) -> torch.Tensor:
        """Hidden channels by decreasing importance (L1 norm of their outgoing weights)."""
        return self.fc2.weight.abs().sum(0).argsort(descending=True)


class ElasticCycleMixer(CycleMixer):
    mixture: tuple[tuple[tuple[int, int], ...], torch.Tensor] | None = None

    def set_active(self, kernel) -> None:
        kh, kw = kernel_pair(kernel)
        self.along_h.kernel, self.along_w.kernel = kh, kw
        self.mixture = None

    def set_mixture(self, kernels: list, weights: torch.Tensor) -> None:
        """Run sum_i weights[i] * CycleFC_{kernels[i]} in both CycleFC branches (one weight
        per kernel option, shared by the two axes), as one merged kernel each."""
        self.mixture = (tuple(kernel_pair(k) for k in kernels),
                        _mixture_weights(kernels, weights))

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


class ElasticShiftMixer(ShiftMixer):
    mixture: tuple[tuple[int, ...], torch.Tensor] | None = None

    def set_active(self, shift_size: int) -> None:
        self.shift_size = shift_size
        self.mixture = None

    def set_mixture(self, shift_sizes: list, weights: torch.Tensor) -> None:
        """Run sum_i weights[i] * shift_{shift_sizes[i]} before the shared fc_w / fc_h (one
        weight per option, shared by the two axes), as one merged kernel per axis."""
        self.mixture = (tuple(int(s) for s in shift_sizes),
                        _mixture_weights(shift_sizes, weights))

    def shifted(self, t: torch.Tensor, axis: int) -> torch.Tensor:
        """The active size's shift, or the mixture's merged one."""
        if self.mixture is None:
            return super().shifted(t, axis)
        sizes, weights = self.mixture
        return merged_shift(t, axis, tuple(axial_groups(t.shape[-1], s) for s in sizes),
                            weights)

    def extract_state(self, shift_size: int) -> dict[str, torch.Tensor]:
        return dict(self.state_dict())


class ElasticHireMixer(HireMixer):
    """Built with the largest region of the space; smaller regions use weight prefixes."""

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


class ElasticPermuteMixer(PermuteMixer):
    """One (fc_h, fc_w) pair per segment option; channel FC, fusion and projection shared."""

    def __init__(self, dim: int, segments: tuple[int, ...], input_size: tuple[int, int]):
        super().__init__(dim, segments[0], input_size)
        H, W = input_size
        self.fc_h = nn.ModuleDict({str(g): nn.Linear(H * dim // g, H * dim // g, bias=False)
                                   for g in segments})
        self.fc_w = nn.ModuleDict({str(g): nn.Linear(W * dim // g, W * dim // g, bias=False)
                                   for g in segments})
        self._active = str(segments[0])

    def set_active(self, segments: int) -> None:
        self.segments, self.seg_width = segments, self.dim // segments
        self._active = str(segments)

    def branches(self, x):
        B, H, W, C = x.shape
        self._check(H, W)
        g, S = self.segments, self.seg_width
        fc_h, fc_w = self.fc_h[self._active], self.fc_w[self._active]
        xs = x.reshape(B, H, W, g, S)
        h = xs.permute(0, 3, 2, 1, 4).reshape(B, g, W, H * S)
        h = fc_h(h).reshape(B, g, W, H, S).permute(0, 3, 2, 1, 4).reshape(B, H, W, C)
        w = xs.permute(0, 1, 3, 2, 4).reshape(B, H, g, W * S)
        w = fc_w(w).reshape(B, H, g, W, S).permute(0, 1, 3, 2, 4).reshape(B, H, W, C)
        return h, w, self.fc_c(x)

    def extract_state(self, segments: int) -> dict[str, torch.Tensor]:
        g = str(segments)
        state = {}
        for k, v in self.state_dict().items():
            if k.startswith(("fc_h.", "fc_w.")):
                axis, opt, rest = k.split(".", 2)
                if opt == g:
                    state[f"{axis}.{rest}"] = v
            else:
                state[k] = v
        return state


def sort_mlp_channels(mlp: ElasticMlp, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Reorder the hidden channels of `mlp` by importance, in place, so that the first k of
    them (what an MLP ratio smaller than the largest uses) are the most important ones.
    Optimizer state (AdamW moments) is permuted with the parameters."""
    order = mlp.importance_order()
    with torch.no_grad():
        for param, dim in ((mlp.fc1.weight, 0), (mlp.fc1.bias, 0), (mlp.fc2.weight, 1)):
            param.copy_(param.index_select(dim, order))
            if optimizer is not None:
                for value in optimizer.state.get(param, {}).values():
                    if torch.is_tensor(value) and value.shape == param.shape:
                        value.copy_(value.index_select(dim, order))
