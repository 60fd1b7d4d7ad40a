"""Plots of a search run, reproduced from its stored results: compute the numbers (small
NamedTuples, tested), then draw them (matplotlib, imported only when drawing)."""

from ._draw import draw_choices, draw_hypervolume, draw_pareto, plot_run
from ._info import (
    ChoiceInfo,
    HypervolumeInfo,
    ParetoPlotInfo,
    RunResults,
    choice_info,
    hypervolume_info,
    load_results,
    pareto_info,
    summary_numbers,
)

__all__ = [
    "ChoiceInfo",
    "HypervolumeInfo",
    "ParetoPlotInfo",
    "RunResults",
    "choice_info",
    "draw_choices",
    "draw_hypervolume",
    "draw_pareto",
    "hypervolume_info",
    "load_results",
    "pareto_info",
    "plot_run",
    "summary_numbers",
]
