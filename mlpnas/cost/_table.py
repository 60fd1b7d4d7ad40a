"""Per-block cost tables: the cost of an architecture is a fixed part (stem, downsamplers,
final norm and head) plus the sum of its blocks, so a table built once per space (and, for
latency, per hardware setting) prices any architecture with a few lookups.

FLOPs and parameters come from fvcore and the exact parameter count of each block built on
its own at its stage's resolution; a test proves that the table's totals equal fvcore's and
the exact parameter count of the extracted model for random architectures of every shipped
space.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .._io import write_text_atomic
from ..space import Arch, BlockChoice, Space, stable_repr
from ..spec import BlockSpec

TABLE_VERSION = 3  # 3: CPU shifts became one-hot depthwise convolutions (faster)


@dataclass
class BlockTable:
    """`scale[metric] * (fixed[metric] + sum of blocks["<stage>:<token>"][metric])` for
    every block choice; `scale` is 1 unless the table was calibrated against end-to-end
    measurements (latency)."""

    metrics: tuple[str, ...]
    fixed: dict[str, float]
    blocks: dict[str, dict[str, float]]
    meta: dict = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    def raw_cost(self, arch: Arch, metric: str) -> float:
        """The fixed part plus the blocks, before calibration."""
        total = self.fixed[metric]
        for i, _, b in arch.blocks():
            total += self.blocks[f"{i}:{b.token}"][metric]
        return total

    def cost(self, arch: Arch, metric: str) -> float:
        return self.raw_cost(arch, metric) * self.scale.get(metric, 1.0)

    def costs(self, arch: Arch) -> dict[str, float]:
        return {m: self.cost(arch, m) for m in self.metrics}

    def extreme(self, space: Space, metric: str, largest: bool = False) -> tuple[float, Arch]:
        """The smallest (or largest) achievable value of `metric` over the space and an
        architecture that attains it (costs add up per block and are non-negative)."""
        pick = max if largest else min
        stages = []
        for i, st in enumerate(space.stages):
            best = pick(st.block_choices, key=lambda b: self.blocks[f"{i}:{b.token}"][metric])
            stages.append((best,) * pick(st.depths))
        arch = Arch(tuple(stages))
        return self.cost(arch, metric), arch

    def to_json(self) -> str:
        return json.dumps({"version": TABLE_VERSION, "metrics": list(self.metrics),
                           "fixed": self.fixed, "blocks": self.blocks, "scale": self.scale,
                           "meta": self.meta}, indent=1)

    @staticmethod
    def from_json(text: str) -> BlockTable:
        d = json.loads(text)
        if d.get("version") != TABLE_VERSION:
            raise ValueError("cost table version mismatch")
        return BlockTable(tuple(d["metrics"]), d["fixed"], d["blocks"], d.get("meta", {}),
                          d.get("scale", {}))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, self.to_json())


def space_digest(space: Space, num_classes: int) -> str:
    """A short hash of everything that changes the networks of a space."""
    text = stable_repr((space.input_size, space.stem, space.downsample, space.norm, space.stages,
                 num_classes))
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def block_spec(space: Space, stage: int, choice: BlockChoice) -> BlockSpec:
    width = space.stages[stage].width
    return BlockSpec.make(choice.family, int(width * choice.mlp_ratio), **dict(choice.options))


def each_block(space: Space) -> Iterable[tuple[int, BlockChoice]]:
    for i, st in enumerate(space.stages):
        for b in st.block_choices:
            yield i, b


def arch_model(space: Space, arch: Arch, num_classes: int) -> nn.Module:
    """The static network of an architecture (freshly initialised)."""
    from ..models import MlpBackbone

    return MlpBackbone(space.to_netspec(arch, num_classes))


def skeleton(space: Space, num_classes: int):
    """The fixed part of the space's networks: stem, downsamplers, final norm and head, with
    no blocks."""
    model = arch_model(space, space.smallest(), num_classes)
    for stage in model.stages:
        stage.blocks = torch.nn.Sequential()
    return model


def build_flops_table(space: Space, num_classes: int) -> BlockTable:
    """MACs (fvcore, batch 1) and exact parameter counts per block, plus the fixed part."""
    from ..models import make_block
    from ._fvcore import count_params, fvcore_count

    blocks = {}
    for i, b in each_block(space):
        st = space.stages[i]
        block = make_block(st.width, block_spec(space, i, b), st.resolution, space.norm)
        macs, _ = fvcore_count(block, (*st.resolution, st.width))
        blocks[f"{i}:{b.token}"] = {"macs": float(macs), "params": float(count_params(block))}
    skel = skeleton(space, num_classes)
    macs, _ = fvcore_count(skel, space.input_size)
    fixed = {"macs": float(macs), "params": float(count_params(skel))}
    return BlockTable(("macs", "params"), fixed, blocks,
                      {"space": space.name, "scale": space.scale, "num_classes": num_classes,
                       "digest": space_digest(space, num_classes)})


def flops_table(space: Space, num_classes: int, cache_dir: str | Path | None,
                write: bool = True) -> BlockTable:
    """The FLOPs/params table of a space, from `cache_dir` when it was built before (and
    saved there when not, unless `write` is false: a folder named by a received run)."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / (f"flops-{space.name}-{space.scale}-"
                                  f"{space_digest(space, num_classes)}.json")
        if path.is_file():
            try:
                return BlockTable.from_json(path.read_text())
            except (ValueError, KeyError):
                pass  # stale or foreign file: rebuild
    table = build_flops_table(space, num_classes)
    if path is not None and write:
        table.save(path)
    return table
