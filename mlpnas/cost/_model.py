"""The cost model the search uses: table lookups for MFLOPs, parameters and latency."""

from __future__ import annotations

from ..space import Arch, Space
from ._table import BlockTable

# search-facing cost name -> (table metric, scale)
COSTS = {"mflops": ("macs", 1e-6), "params_m": ("params", 1e-6),
         "latency_ms": ("latency_ms", 1.0)}


class CostModel:
    def __init__(self, flops: BlockTable, latency: BlockTable | None = None):
        self.flops = flops
        self.latency = latency

    def _table(self, name: str) -> BlockTable:
        if name == "latency_ms":
            if self.latency is None:
                raise ValueError("no latency table: latency was not asked for")
            return self.latency
        return self.flops

    @property
    def names(self) -> tuple[str, ...]:
        return ("mflops", "params_m") + (("latency_ms",) if self.latency is not None else ())

    def cost(self, arch: Arch, name: str) -> float:
        metric, scale = COSTS[name]
        return self._table(name).cost(arch, metric) * scale

    def costs(self, arch: Arch) -> dict[str, float]:
        return {n: self.cost(arch, n) for n in self.names}

    def extreme(self, space: Space, name: str, largest: bool = False) -> tuple[float, Arch]:
        metric, scale = COSTS[name]
        value, arch = self._table(name).extreme(space, metric, largest)
        return value * scale, arch
