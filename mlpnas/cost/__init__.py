"""Cost of an architecture: FLOPs (fvcore is the oracle), parameters, latency; per-block
tables so that the search prices an architecture with a few lookups.

The cost vocabulary (`COST_TABLE`: names, units, labels, budget options) and the latency
setting's one-line description are torch-free; the rest (tables, fvcore, the latency
harness) loads torch when first used, so that the search package and the plots can name
costs without it."""

from __future__ import annotations

import importlib

from ._names import BUDGET_OPTIONS, COST_NAMES, COST_TABLE, CostInfo, describe_setting

_LAZY = {
    "ELEMENTWISE_OPS": "_fvcore", "count_params": "_fvcore", "fvcore_count": "_fvcore",
    "LatencySetting": "_latency", "arch_model": "_latency",
    "build_latency_table": "_latency", "device_name": "_latency",
    "latency_table": "_latency", "machine_description": "_latency",
    "measure_arch": "_latency", "measure_archs": "_latency", "measure_latency": "_latency",
    "measure_many": "_latency",
    "COSTS": "_model", "CostModel": "_model",
    "BlockTable": "_table", "build_flops_table": "_table", "flops_table": "_table",
    "space_digest": "_table",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


__all__ = ["BUDGET_OPTIONS", "COST_NAMES", "COST_TABLE", "CostInfo", "describe_setting",
           *_LAZY]
