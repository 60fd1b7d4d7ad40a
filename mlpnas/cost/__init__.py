"""Cost of an architecture: FLOPs (fvcore is the oracle), parameters, latency."""

from ._fvcore import ELEMENTWISE_OPS, count_params, fvcore_count

__all__ = ["ELEMENTWISE_OPS", "count_params", "fvcore_count"]
