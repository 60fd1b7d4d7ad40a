"""Cost of an architecture: FLOPs (fvcore is the oracle), parameters, latency; per-block
tables so that the search prices an architecture with a few lookups."""

from ._fvcore import ELEMENTWISE_OPS, count_params, fvcore_count
from ._latency import (
    LatencySetting,
    arch_model,
    build_latency_table,
    describe_setting,
    device_name,
    latency_table,
    machine_description,
    measure_arch,
    measure_archs,
    measure_latency,
    measure_many,
)
from ._model import COSTS, CostModel
from ._table import BlockTable, build_flops_table, flops_table, space_digest

__all__ = [
    "COSTS",
    "ELEMENTWISE_OPS",
    "BlockTable",
    "CostModel",
    "LatencySetting",
    "arch_model",
    "build_flops_table",
    "build_latency_table",
    "count_params",
    "describe_setting",
    "device_name",
    "flops_table",
    "fvcore_count",
    "latency_table",
    "machine_description",
    "measure_arch",
    "measure_archs",
    "measure_latency",
    "measure_many",
    "space_digest",
]
