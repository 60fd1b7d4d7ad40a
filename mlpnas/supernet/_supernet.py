"""The weight-sharing supernet of a search space.

`Supernet` is an `MlpBackbone` (same stem, downsamplers, final norm and head, same names)
whose blocks are `SuperBlock`s: every block of the deepest setting exists, each holding one
elastic mixer per family allowed at its stage and an elastic MLP of the largest ratio.
`set_active(arch)` tells every block explicitly what to run (blocks beyond a stage's active
depth pass their input through), so only the active path computes; `extract(arch)` returns
the static `MlpBackbone` of that architecture with the shared weights copied in.
"""

from __future__ import annotations

import re

import torch
from timm.layers import DropPath
from torch import nn

from ..layers import create_norm
from ..models import MlpBackbone, residual
from ..space import Arch, BlockChoice, Space, StageChoices
from ..spec import BlockSpec, NetSpec, StageSpec, family
from ._elastic import ElasticMlp, sort_mlp_channels


class SuperBlock(nn.Module):
    """x + mixer(norm1(x)), x + mlp(norm2(x)) with the mixer chosen among families; the same
    residual branches as the static block (`mlpnas.models.residual`), `skip_lam` and MLP
    dropout included."""

    def __init__(self, dim: int, stage: StageChoices, norm: str, drop_path: float = 0.0,
                 skip_lam: float = 1.0, drop: float = 0.0):
        super().__init__()
        self.norm1 = create_norm(norm, dim)
        self.mixers = nn.ModuleDict({
            fam: family(fam).elastic_class().for_options(dim, dict(opts), stage.resolution)
            for fam, opts in stage.mixers})
        self.norm2 = create_norm(norm, dim)
        self.mlp = ElasticMlp(dim, int(dim * max(stage.mlp_ratios)), drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.skip_lam = skip_lam
        self.dim = dim
        self.active: BlockChoice | None = None

    def set_active(self, choice: BlockChoice | None) -> None:
        self.active = choice
        if choice is not None:
            self.mixers[choice.family].set_active(**dict(choice.options))
            self.mlp.set_active(int(self.dim * choice.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active is None:  # beyond the active depth
            return x
        return residual(x, self, self.mixers[self.active.family], self.mlp)

    def extract_state(self, choice: BlockChoice) -> dict[str, torch.Tensor]:
        state = {f"norm1.{k}": v for k, v in self.norm1.state_dict().items()}
        state.update({f"norm2.{k}": v for k, v in self.norm2.state_dict().items()})
        mixer = self.mixers[choice.family].extract_state(**dict(choice.options))
        state.update({f"mixer.{k}": v for k, v in mixer.items()})
        mlp = self.mlp.extract_state(int(self.dim * choice.mlp_ratio))
        state.update({f"mlp.{k}": v for k, v in mlp.items()})
        return state


def _skeleton(space: Space, num_classes: int) -> NetSpec:
    """A NetSpec with the deepest setting of every stage; its blocks are placeholders that
    `Supernet.create_block` replaces with SuperBlocks."""
    base = space.to_netspec(space.largest(), num_classes, check=False)
    stages = tuple(
        StageSpec(st.dim, (st.blocks[0],) * max(sp.depths), st.downsample)
        for st, sp in zip(base.stages, space.stages))
    return base.replace(stages=stages)


class Supernet(MlpBackbone):
    def __init__(self, space: Space, num_classes: int, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0):
        self.space = space
        super().__init__(_skeleton(space, num_classes), drop_rate=drop_rate,
                         drop_path_rate=drop_path_rate)
        self.active_arch: Arch | None = None
        self.set_active(space.largest())

    def create_block(self, stage: int, index: int, dim: int, block: BlockSpec,
                     resolution, drop_path: float) -> nn.Module:
        return SuperBlock(dim, self.space.stages[stage], self.spec.norm, drop_path,
                          self.spec.skip_lam, self.drop_rate)

    def super_blocks(self):
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage.blocks):
                yield i, j, block

    def set_active(self, arch: Arch) -> None:
        """Run `arch` from now on (explicit state in every block; no global switch)."""
        self.space.check_arch(arch)
        for i, j, block in self.super_blocks():
            blocks = arch.stages[i]
            block.set_active(blocks[j] if j < len(blocks) else None)
        self.active_arch = arch

    def netspec(self, arch: Arch) -> NetSpec:
        return self.space.to_netspec(arch, self.num_classes)

    @torch.no_grad()
    def extract(self, arch: Arch) -> MlpBackbone:
        """The static backbone of `arch` with the supernet's weights (and norm statistics)."""
        static = MlpBackbone(self.netspec(arch))
        own = self.state_dict()
        state = {}
        for key in static.state_dict():
            m = re.match(r"stages\.(\d+)\.blocks\.(\d+)\.", key)
            if m is None:
                state[key] = own[key]
        for i, j, block in self.super_blocks():
            if j < len(arch.stages[i]):
                for k, v in block.extract_state(arch.stages[i][j]).items():
                    state[f"stages.{i}.blocks.{j}.{k}"] = v
        static.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
        ref = next(self.parameters())
        return static.to(device=ref.device).train(self.training)

    def sort_channels(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Sort every block's MLP hidden channels by importance (see sort_mlp_channels)."""
        for _, _, block in self.super_blocks():
            sort_mlp_channels(block.mlp, optimizer)

class FewShotSupernet(nn.Module):
    """Few-shot NAS (Zhao et al., arXiv 2006.06863) split on the first block: one Supernet
    per mixer family allowed in the first block of the first stage, each trained only on the
    architectures whose first block is of its family, and each architecture scored by its
    own part. Same verbs as `Supernet` (`set_active`, `extract`, `sort_channels`)."""

    def __init__(self, space: Space, num_classes: int, **kwargs):
        super().__init__()
        self.space = space
        self.families = tuple(space.stages[0].families)
        self.parts = nn.ModuleDict({f: Supernet(space, num_classes, **kwargs)
                                    for f in self.families})
        self.num_classes = num_classes
        self.active_arch: Arch | None = None
        self.set_active(space.largest())

    @staticmethod
    def part_of(arch: Arch) -> str:
        return arch.stages[0][0].family

    def set_active(self, arch: Arch) -> None:
        self.parts[self.part_of(arch)].set_active(arch)
        self.active_arch = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.parts[self.part_of(self.active_arch)](x)

    def extract(self, arch: Arch) -> MlpBackbone:
        return self.parts[self.part_of(arch)].extract(arch)

    def sort_channels(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        for part in self.parts.values():
            part.sort_channels(optimizer)

    def load_shared(self, state: dict[str, torch.Tensor]) -> None:
        """Start every part from the weights of one trained (one-shot) supernet."""
        for part in self.parts.values():
            part.load_state_dict(state)


def build_supernet(space: Space, num_classes: int, few_shot: str | None = None,
                   **kwargs) -> Supernet | FewShotSupernet:
    """The weight-sharing supernet of `space`; `few_shot="first_block"` splits it into one
    supernet per mixer family of the first block (see FewShotSupernet)."""
    if few_shot in (None, "none"):
        return Supernet(space, num_classes, **kwargs)
    if few_shot == "first_block":
        return FewShotSupernet(space, num_classes, **kwargs)
    raise ValueError(f"unknown few-shot split '{few_shot}'; use none or first_block")
