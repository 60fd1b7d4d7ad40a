"""Plots of a search run, reproduced from its stored results: compute the numbers (small
NamedTuples, tested), then draw them (matplotlib, imported only when drawing)."""

from ._draw import (
    MEASURED_LATENCY_PLOT,
    draw_choices,
    draw_hypervolume,
    draw_measured_latency,
    draw_pareto,
    plot_run,
)
from ._info import (
    ChoiceInfo,
    HypervolumeInfo,
    MeasuredLatencyInfo,
    ParetoPlotInfo,
    RunResults,
    choice_info,
    has_measured_latency,
    hypervolume_info,
    load_results,
    measured_latency_info,
    pareto_info,
    summary_numbers,
)

__all__ = [
    "MEASURED_LATENCY_PLOT",
    "ChoiceInfo",
    "HypervolumeInfo",
    "MeasuredLatencyInfo",
    "ParetoPlotInfo",
    "RunResults",
    "choice_info",
    "draw_choices",
    "draw_hypervolume",
    "draw_measured_latency",
    "draw_pareto",
    "has_measured_latency",
    "hypervolume_info",
    "load_results",
    "measured_latency_info",
    "pareto_info",
    "plot_run",
    "summary_numbers",
]
