"""The cost model the search uses: table lookups for MFLOPs, parameters and latency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..space import Arch, BlockChoice, Space
from ._names import COST_TABLE
from ._table import BlockTable

# search-facing cost name -> (table metric, scale)
COSTS = {c.name: (c.metric, c.factor) for c in COST_TABLE.values()}


class CostModel:
    def __init__(self, flops: BlockTable, latency: BlockTable | None = None):
        self.flops = flops
        self.latency = latency

    def _table(self, name: str) -> BlockTable:
        if COST_TABLE[name].measured:
            if self.latency is None:
                raise ValueError("no latency table: latency was not asked for")
            return self.latency
        return self.flops

    @property
    def names(self) -> tuple[str, ...]:
        """The costs this model prices: the counted ones, and the measured ones when it has
        a latency table."""
        return tuple(n for n, c in COST_TABLE.items() if not c.measured or
                     self.latency is not None)

    def cost(self, arch: Arch, name: str) -> float:
        metric, scale = COSTS[name]
        return self._table(name).cost(arch, metric) * scale

    def costs(self, arch: Arch) -> dict[str, float]:
        return {n: self.cost(arch, n) for n in self.names}

    def fixed_cost(self, name: str) -> float:
        """The part of cost `name` that every architecture has (stem, downsamplers, head)."""
        return self._table(name).fixed[COSTS[name][0]] * self._factor(name)

    def block_cost(self, name: str, stage: int, choice: BlockChoice) -> float:
        """Cost `name` of one block `choice` at `stage`: an architecture's cost is the fixed
        part plus the sum over its blocks."""
        return self._table(name).blocks[f"{stage}:{choice.token}"][COSTS[name][0]] \
            * self._factor(name)

    def extreme(self, space: Space, name: str, largest: bool = False) -> tuple[float, Arch]:
        metric, scale = COSTS[name]
        value, arch = self._table(name).extreme(space, metric, largest)
        return value * scale, arch

    def _factor(self, name: str) -> float:
        metric, scale = COSTS[name]
        return self._table(name).scale.get(metric, 1.0) * scale

    def frontier(self, space: Space, names: Sequence[str]) -> list[tuple[tuple[float, ...],
                                                                             Arch]]:
        """Every achievable combination of the costs `names` that no architecture of the
        space beats in all of them at once, each with an architecture that attains it.

        Costs add up per block, so this is exact: per stage, the non-dominated sums of each
        allowed depth's blocks, then the non-dominated sums over the stages (a budget check
        asks whether any of these points is within every budget)."""
        names = list(names)
        metrics = [COSTS[n][0] for n in names]
        factors = np.array([self._factor(n) for n in names])
        fixed = np.array([self._table(n).fixed[m] for n, m in zip(names, metrics)]) * factors
        total = [(fixed, ())]
        for i, st in enumerate(space.stages):
            choices = [(np.array([self._table(n).blocks[f"{i}:{b.token}"][m]
                                  for n, m in zip(names, metrics)]) * factors, b)
                       for b in st.block_choices]
            sums, stage = [(np.zeros(len(names)), ())], []
            for depth in range(1, max(st.depths) + 1):
                sums = _non_dominated([(v + c, blocks + (b,)) for v, blocks in sums
                                       for c, b in choices])
                if depth in st.depths:
                    stage += sums
            stage = _non_dominated(stage)
            total = _non_dominated([(v + w, stages + (blocks,)) for v, stages in total
                                    for w, blocks in stage])
        return [(tuple(float(x) for x in v), Arch(stages)) for v, stages in total]


def _non_dominated(points: list) -> list:
    """The (vector, payload) pairs whose vector no other one is <= in every component (one
    of each set of equal vectors kept); vectors are compared after rounding off float noise."""
    if not points:
        return points
    values = np.round(np.stack([v for v, _ in points]), 9)
    order = np.lexsort(values.T[::-1])
    kept: list[int] = []
    for i in order:
        if kept and np.any(np.all(values[kept] <= values[i], axis=1)):
            continue
        kept.append(int(i))
    return [points[i] for i in kept]
