"""The numbers behind a search run's plots, computed from its stored result files only
(`trials.csv`, `run.json`): no supernet, no GPU. Each `*_info` returns a small NamedTuple
that tests check; `_draw` renders them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..cost import COST_NAMES, describe_setting
from ..errors import UserError
from ..search import (
    RANKING_CSV,
    RANKING_JSON,
    RunResults,
    hypervolume_history,
    objective_directions,
    pareto_mask,
)
from ..spec import FAMILIES

MEASURED = "latency_ms_measured"

FAMILY_NAMES = {info.code: name for name, info in FAMILIES.items()}


def axis_label(score: dict) -> str:
    """The y-axis label of a run's accuracy axis: the score's key and what it is."""
    better = "higher" if score.get("direction", "maximize") == "maximize" else "lower"
    if score.get("key") == "accuracy":  # a run written before scores existed
        return "top-1 accuracy (inherited weights)"
    return f"{score['key']}: {score['label']} ({better} is better)"


PLOTTED = ("mflops", "latency_ms")  # the costs a run's Pareto plots are drawn against


def plotted_costs(results: RunResults) -> list[str]:
    """The costs of PLOTTED that the run has values of."""
    return [c for c in PLOTTED if c in results.trials and results.trials[c].notna().any()]


class Point(NamedTuple):
    x: float
    y: float
    arch: str
    label: str  # seed label ("all-cycle", ...) or ""


class ParetoPlotInfo(NamedTuple):
    x_name: str                        # the cost on the x axis
    y_name: str                        # the score of the accuracy axis (its key)
    front: list[Point]                 # the sampler's feasible Pareto front, by x
    dominated: list[Point]             # feasible, not on the front
    infeasible: list[Point]            # violating a budget
    random_front: list[Point]          # the random-sampling study's front
    seeds: list[Point]                 # the enqueued uniform architectures
    budget: float | None               # the budget on this cost, if any
    sampler: str
    y_label: str = "top-1 accuracy (inherited weights)"   # what the score is
    y_direction: str = "maximize"


def _front(frame: pd.DataFrame, x: str, axis_direction: str) -> pd.DataFrame:
    feas = frame[frame["feasible"].astype(bool)].drop_duplicates("arch")
    feas = feas[feas[x].notna()]
    if feas.empty:
        return feas
    mask = pareto_mask(feas[["accuracy", x]].to_numpy(float),
                       objective_directions(["accuracy", x], axis_direction))
    return feas[mask].sort_values(x)


def _points(frame: pd.DataFrame, x: str) -> list[Point]:
    return [Point(float(r[x]), float(r["accuracy"]), r["arch"], str(r["seed"] or ""))
            for _, r in frame.iterrows()]


def pareto_info(results: RunResults, x: str = "mflops") -> ParetoPlotInfo:
    t = results.trials
    if x not in t.columns or t[x].isna().all():
        have = [c for c in COST_NAMES if c in t and t[c].notna().any()]
        raise UserError(f"this run has no '{x}' values; plot against one of its costs: "
                        f"{', '.join(have)}.")
    main = t[t["sampler"] == results.sampler]
    rand = t[t["sampler"] == "random"] if results.sampler != "random" else t.iloc[0:0]
    d = results.axis_direction
    front = _front(main, x, d)
    feasible = main[main["feasible"].astype(bool)]
    dominated = feasible[~feasible["arch"].isin(front["arch"])].drop_duplicates("arch")
    infeasible = main[~main["feasible"].astype(bool)].drop_duplicates("arch")
    seeds = main[main["seed"].astype(str) != ""].drop_duplicates("seed")
    budget = results.run.get("budgets", {}).get(x)
    score = results.score
    return ParetoPlotInfo(x, score["key"], _points(front, x), _points(dominated, x),
                          _points(infeasible, x), _points(_front(rand, x, d), x),
                          _points(seeds, x), budget, results.sampler, axis_label(score), d)


class MeasuredLatencyInfo(NamedTuple):
    """The Pareto architectures (of the search's own costs) against their end-to-end latency
    as measured at the end of the search, beside the latency the table predicted."""
    points: list[Point]                # (measured ms, accuracy), by measured latency
    front: list[Point]                 # those no other one beats in both, by latency
    predicted: list[float | None]      # the table's latency of each point, if it has one
    setting: str                       # how latency was measured (device, batch, threads)
    sampler: str
    y_label: str = "top-1 accuracy (inherited weights)"


def has_measured_latency(results: RunResults) -> bool:
    p = results.pareto
    return p is not None and MEASURED in p.columns and p[MEASURED].notna().any()


def measured_latency_info(results: RunResults) -> MeasuredLatencyInfo:
    if not has_measured_latency(results):
        raise UserError("this run has no measured latencies (pareto.csv has no "
                        f"{MEASURED} values); run the search with "
                        "search.measure_pareto_latency=true.")
    p = results.pareto[results.pareto[MEASURED].notna()].sort_values(MEASURED)
    mask = pareto_mask(p[["accuracy", MEASURED]].to_numpy(float),
                       objective_directions(["accuracy", "latency_ms"],
                                            results.axis_direction))
    if "seed" in p:  # an all-empty seed column reads back as float NaN
        seed = p["seed"].astype(object).fillna("").astype(str)
    else:
        seed = pd.Series("", index=p.index)
    points = [Point(float(r[MEASURED]), float(r["accuracy"]), r["arch"], seed[i])
              for i, r in p.iterrows()]
    front = [pt for pt, keep in zip(points, mask) if keep]
    predicted = ([None if pd.isna(v) else float(v) for v in p["latency_ms"]]
                 if "latency_ms" in p else [None] * len(points))
    setting = describe_setting(results.run.get("latency_setting") or {})
    return MeasuredLatencyInfo(points, front, predicted, setting, results.sampler,
                               axis_label(results.score))


class HypervolumeInfo(NamedTuple):
    sampler: str
    trials: list[int]              # 1..n
    sampler_hv: list[float]        # hypervolume after each of the sampler's trials
    random_hv: list[float]         # the same for random sampling (may be shorter or empty)
    final: float
    final_random: float | None
    improvement: float | None      # (final - final_random) / final_random


def hypervolume_info(results: RunResults) -> HypervolumeInfo:
    objs, scales = results.objectives, results.run["hv_reference"]
    t = results.trials
    d = results.axis_direction
    main = hypervolume_history(t[t["sampler"] == results.sampler], objs, scales, d)
    rand = (hypervolume_history(t[t["sampler"] == "random"], objs, scales, d)
            if results.sampler != "random" else [])
    final = main[-1] if main else 0.0
    final_r = rand[-1] if rand else None
    improvement = (final - final_r) / final_r if final_r else None
    return HypervolumeInfo(results.sampler, list(range(1, len(main) + 1)), main, rand, final,
                           final_r, improvement)


class ChoiceInfo(NamedTuple):
    """How often the Pareto architectures pick each family / kernel, per stage."""
    stages: list[dict[str, int]]       # per stage: {"cycle 3": n, "shift 5": n, ...}
    families: list[dict[str, int]]     # per stage: {"cycle": n, ...}
    n_archs: int


def choice_info(results: RunResults) -> ChoiceInfo:
    x = next(o for o in results.objectives if o != "accuracy")
    t = results.trials
    front = _front(t[t["sampler"] == results.sampler], x, results.axis_direction)
    n_stages = len(front["arch"].iloc[0].split("_")) if len(front) else 0
    stages = [Counter() for _ in range(n_stages)]
    fams = [Counter() for _ in range(n_stages)]
    for key in front["arch"]:
        for i, stage in enumerate(key.split("_")):
            for token in stage.split("-"):
                fam = FAMILY_NAMES[token[0]]
                kernel = token[1:].split("r")[0]
                stages[i][f"{fam} {kernel}"] += 1
                fams[i][fam] += 1
    return ChoiceInfo([dict(sorted(c.items())) for c in stages],
                      [dict(sorted(c.items())) for c in fams], len(front))


def summary_numbers(results: RunResults) -> dict:
    """Everything a plot shows, as plain data (for tests and for `plot_numbers.json`)."""
    costs = plotted_costs(results)
    out = {"pareto": {c: pareto_info(results, c)._asdict() for c in costs},
           "measured_latency": (measured_latency_info(results)._asdict()
                                if has_measured_latency(results) else None),
           "hypervolume": hypervolume_info(results)._asdict(),
           "choices": choice_info(results)._asdict()}
    return json.loads(json.dumps(out, default=_plain))


class RankingPoint(NamedTuple):
    arch: str
    score: float           # the search's accuracy axis (its score) of the architecture
    standalone: float      # mean standalone accuracy over seeds
    low: float             # lowest and highest seed
    high: float
    mflops: float
    source: str            # front, random or given


class RankingInfo(NamedTuple):
    points: list[RankingPoint]
    kendall_tau: float
    kendall_tau_ci: list[float]
    seed_ceiling_tau: float | None
    mflops_tau: float | None
    seeds: int
    regret_pick: str | None
    score: str = "supernet_acc"          # which score the x axis shows
    score_label: str = "accuracy with supernet weights (holdout)"


def has_ranking(folder: str | Path) -> bool:
    d = Path(folder)
    return (d / RANKING_CSV).is_file() and (d / RANKING_JSON).is_file()


def load_ranking(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """ranking.csv and ranking.json written by `mlpnas rank`."""
    d = Path(folder)
    if not has_ranking(d):
        raise UserError(f"'{d}' holds no {RANKING_CSV} and {RANKING_JSON}; run `mlpnas rank "
                        f"RUN_DIR` first.")
    return pd.read_csv(d / RANKING_CSV), json.loads((d / RANKING_JSON).read_text())


def ranking_info(folder: str | Path) -> RankingInfo:
    """The run's own accuracy axis (or, for a report without it, the first score it has of
    supernet_acc, naswot, mflops) against the standalone accuracy."""
    from ..rank import score_column

    table, stats = load_ranking(folder)
    seeds = [c for c in table.columns if c.startswith("seed") and c[4:].isdigit()]
    acc = table[seeds].to_numpy(float)
    scores = stats.get("scores") or {"supernet_acc": stats}
    name = stats.get("axis_score") or next(
        (n for n in ("supernet_acc", "naswot", "mflops") if n in scores), next(iter(scores)))
    s = scores[name]
    col = score_column(name)
    points = [RankingPoint(r["arch"], float(r[col]), float(acc[i].mean()),
                           float(acc[i].min()), float(acc[i].max()), float(r["mflops"]),
                           str(r["source"]))
              for i, r in table.iterrows()]
    label = ("accuracy with supernet weights (holdout)" if name == "supernet_acc" else
             f"{name}" + (f": {stats['axis_label']}" if name == stats.get("axis_score")
                          and stats.get("axis_label") else ""))
    return RankingInfo(points, s["kendall_tau"], s["kendall_tau_ci"],
                       stats.get("seed_ceiling_tau"), stats.get("mflops_tau"), len(seeds),
                       s.get("regret_pick"), name, label)


def _plain(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o))
