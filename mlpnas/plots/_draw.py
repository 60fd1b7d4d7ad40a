"""Render the plot infos of `_info` with matplotlib (Agg, no screen needed)."""

from __future__ import annotations

import json
from pathlib import Path

from ..cost import COST_TABLE
from ..search import RANKING_PNG, load_results
from ._info import (
    ChoiceInfo,
    HypervolumeInfo,
    MeasuredLatencyInfo,
    ParetoPlotInfo,
    RankingInfo,
    choice_info,
    has_measured_latency,
    has_ranking,
    hypervolume_info,
    measured_latency_info,
    pareto_info,
    plotted_costs,
    ranking_info,
    summary_numbers,
)

MEASURED_LATENCY_PLOT = "pareto_latency_measured.png"



def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, ax, path: Path, title: str, legend: dict | None = None) -> Path:
    plt = _plt()
    ax.grid(alpha=0.3)
    ax.legend(**(legend or {"fontsize": 8}))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _step(points):
    """Staircase through a front sorted by cost: accuracy holds until the next point."""
    xs, ys = [], []
    for i, p in enumerate(points):
        if i:
            xs.append(p.x)
            ys.append(points[i - 1].y)
        xs.append(p.x)
        ys.append(p.y)
    return xs, ys


def draw_pareto(info: ParetoPlotInfo, path: Path, title: str = "") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    if info.infeasible:
        ax.scatter([p.x for p in info.infeasible], [p.y for p in info.infeasible], marker="x",
                   s=18, color="tab:red", alpha=0.5, label="infeasible (over budget)")
    if info.dominated:
        ax.scatter([p.x for p in info.dominated], [p.y for p in info.dominated], s=14,
                   color="0.6", alpha=0.6, label="dominated")
    if info.random_front:
        xs, ys = _step(info.random_front)
        ax.plot(xs, ys, "--", color="tab:orange", lw=1.2, label="random sampling: front")
        ax.scatter([p.x for p in info.random_front], [p.y for p in info.random_front], s=14,
                   color="tab:orange")
    if info.front:
        xs, ys = _step(info.front)
        ax.plot(xs, ys, "-", color="tab:blue", lw=1.8, label=f"{info.sampler}: Pareto front")
        ax.scatter([p.x for p in info.front], [p.y for p in info.front], s=26,
                   color="tab:blue", zorder=3)
    for p in info.seeds:
        ax.scatter([p.x], [p.y], marker="*", s=140, color="tab:green", edgecolor="k", zorder=4)
        ax.annotate(p.label, (p.x, p.y), textcoords="offset points", xytext=(6, -10),
                    fontsize=8, color="darkgreen")
    if info.budget is not None:
        ax.axvline(info.budget, color="tab:red", ls=":", lw=1.5, label="budget")
    ax.set_xlabel(COST_TABLE[info.x_name].label if info.x_name in COST_TABLE else info.x_name)
    ax.set_ylabel(info.y_label, fontsize=8 if len(info.y_label) > 40 else None)
    return _finish(fig, ax, path, title, {"fontsize": 8, "loc": "lower right"})


def draw_measured_latency(info: MeasuredLatencyInfo, path: Path, title: str = "") -> Path:
    """Accuracy of the Pareto architectures against their measured end-to-end latency, with
    the table's prediction of each (hollow, joined to the measurement) when there is one."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    shown = False
    for p, pred in zip(info.points, info.predicted):
        if pred is not None:
            ax.plot([pred, p.x], [p.y, p.y], color="0.6", lw=0.8, zorder=1)
            ax.scatter([pred], [p.y], s=26, facecolor="none", edgecolor="0.4", zorder=2,
                       label=None if shown else "predicted by the latency table")
            shown = True
    ax.scatter([p.x for p in info.points], [p.y for p in info.points], s=26,
               color="tab:blue", zorder=3, label=f"{info.sampler} Pareto architectures")
    if info.front:
        xs, ys = _step(info.front)
        ax.plot(xs, ys, "-", color="tab:blue", lw=1.4, label="front in measured latency")
    for p in info.points:
        if p.label:
            ax.annotate(p.label, (p.x, p.y), textcoords="offset points", xytext=(6, -10),
                        fontsize=8, color="darkgreen")
    xlabel = "latency (ms, measured end to end)"
    ax.set_xlabel(f"{xlabel}: {info.setting}" if info.setting else xlabel, fontsize=9)
    ax.set_ylabel(info.y_label, fontsize=8 if len(info.y_label) > 40 else None)
    return _finish(fig, ax, path, title, {"fontsize": 8, "loc": "lower right"})


def draw_hypervolume(info: HypervolumeInfo, path: Path, title: str = "") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(info.trials, info.sampler_hv, color="tab:blue", label=info.sampler)
    if info.random_hv:
        ax.plot(range(1, len(info.random_hv) + 1), info.random_hv, color="tab:orange",
                ls="--", label="random")
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (feasible trials)")
    if info.improvement is not None:
        title = f"{title}: {info.sampler} vs random {100 * info.improvement:+.1f}%"
    return _finish(fig, ax, path, title)


def draw_choices(info: ChoiceInfo, path: Path, title: str = "") -> Path:
    plt = _plt()
    options = sorted({k for s in info.stages for k in s})
    fig, ax = plt.subplots(figsize=(7, 4))
    bottoms = [0] * len(info.stages)
    cmap = plt.get_cmap("tab20")
    for n, opt in enumerate(options):
        counts = [s.get(opt, 0) for s in info.stages]
        ax.bar(range(len(info.stages)), counts, bottom=bottoms, color=cmap(n % 20), label=opt)
        bottoms = [b + c for b, c in zip(bottoms, counts)]
    ax.set_xticks(range(len(info.stages)), [f"stage {i}" for i in range(len(info.stages))])
    ax.set_ylabel(f"blocks in the {info.n_archs} Pareto architectures")
    return _finish(fig, ax, path, title, {"fontsize": 7, "ncol": 2, "bbox_to_anchor": (1.01, 1),
                                          "loc": "upper left"})


def draw_ranking(info: RankingInfo, path: Path, title: str = "") -> Path:
    """Standalone accuracy (seed mean, bars from the lowest to the highest seed) against the
    search's score, coloured by MFLOPs; random picks as squares, the score's pick within the
    budget circled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    pts = info.points
    ax.errorbar([p.score for p in pts], [p.standalone for p in pts],
                yerr=[[p.standalone - p.low for p in pts], [p.high - p.standalone for p in pts]],
                fmt="none", ecolor="0.6", elinewidth=0.8, zorder=1)
    lo, hi = min(p.mflops for p in pts), max(p.mflops for p in pts)
    for source, marker in (("front", "o"), ("given", "o"), ("random", "s")):
        sel = [p for p in pts if p.source == source]
        if not sel:
            continue
        sc = ax.scatter([p.score for p in sel], [p.standalone for p in sel],
                        c=[p.mflops for p in sel], cmap="viridis", vmin=lo, vmax=hi, s=30,
                        marker=marker, edgecolor="k", linewidth=0.4, zorder=2,
                        label={"front": "from the search's front layers",
                               "random": "random feasible", "given": "given"}[source])
    fig.colorbar(sc, ax=ax, label="MFLOPs")
    for p in pts:
        if p.arch == info.regret_pick:
            ax.scatter([p.score], [p.standalone], s=160, facecolor="none",
                       edgecolor="tab:red", lw=1.5, zorder=3, label=f"{info.score}'s pick")
    ax.set_xlabel(info.score_label, fontsize=8 if len(info.score_label) > 50 else None)
    ax.set_ylabel(f"standalone accuracy (val, mean of {info.seeds} seeds)")
    ci = info.kendall_tau_ci
    head = (f"Kendall tau {info.kendall_tau:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
            + (f", seed ceiling {info.seed_ceiling_tau:.2f}"
               if info.seed_ceiling_tau is not None else "")
            + (f", MFLOPs {info.mflops_tau:.2f}" if info.mflops_tau is not None else ""))
    return _finish(fig, ax, path, f"{title}\n{head}" if title else head,
                   {"fontsize": 8, "loc": "lower right"})


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw every plot of a search run from its stored results; also write the numbers
    behind them to `plot_numbers.json`. Returns the files written."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir
    out.mkdir(parents=True, exist_ok=True)
    results = load_results(run_dir)
    title = f"{results.run.get('space')} ({results.run.get('scale')}), {results.run.get('data')}"
    written = []
    for cost in plotted_costs(results):
        written.append(draw_pareto(pareto_info(results, cost), out / f"pareto_{cost}.png", title))
    if has_measured_latency(results):
        written.append(draw_measured_latency(measured_latency_info(results),
                                             out / MEASURED_LATENCY_PLOT, title))
    written.append(draw_hypervolume(hypervolume_info(results), out / "hypervolume.png", title))
    written.append(draw_choices(choice_info(results), out / "pareto_choices.png", title))
    if has_ranking(run_dir):
        written.append(draw_ranking(ranking_info(run_dir), out / RANKING_PNG, title))
    numbers = out / "plot_numbers.json"
    numbers.write_text(json.dumps(summary_numbers(results), indent=1) + "\n")
    written.append(numbers)
    return written
