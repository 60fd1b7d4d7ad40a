"""The elastic MLP, and how weights are shared. The elastic mixers live beside their static
ones in `mlpnas.mixers` (one file per family), found through the family table
(`mlpnas.spec.FAMILIES`). Each elastic op subclasses the static op of the same role, so
parameter names match and extraction is slicing. Every one has `set_active(...)` (explicit
state set by the supernet) and `extract_state(...)` (the state dict of the static op with
that setting).

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

from ..layers import Mlp


class ElasticMlp(Mlp):
    """timm's Mlp running its first `active_hidden` hidden channels."""

    def __init__(self, dim: int, max_hidden: int, drop: float = 0.0):
        super().__init__(dim, max_hidden, drop=drop)
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
        x = self.drop1(self.act(x))
        return self.drop2(F.linear(x, self.fc2.weight[:, :h], self.fc2.bias))

    def forward_masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The largest hidden layer with its channels scaled by `mask` (hidden,): a weighted
        mixture of MLP ratios as channel masks (FBNetV2), differentiable in the mask."""
        x = self.drop1(self.act(self.fc1(x)) * mask.to(x.dtype))
        return self.drop2(self.fc2(x))

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
