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

from ..cost import describe_setting
from ..errors import UserError
from ..search import DIRECTIONS, hypervolume_history, pareto_mask
from ..spec import FAMILIES

TRIALS_FILE = "trials.csv"
RUN_FILE = "run.json"
PARETO_FILE = "pareto.csv"
RANKING_CSV, RANKING_JSON, RANKING_PNG = "ranking.csv", "ranking.json", "ranking.png"
MEASURED = "latency_ms_measured"

FAMILY_NAMES = {info.code: name for name, info in FAMILIES.items()}


class RunResults(NamedTuple):
    trials: pd.DataFrame
    run: dict
    pareto: pd.DataFrame | None = None   # pareto.csv (with measured latencies), if written

    @property
    def objectives(self) -> list[str]:
        return list(self.run["objectives"])

    @property
    def sampler(self) -> str:
        return self.run["sampler"]


def load_results(run_dir: str | Path) -> RunResults:
    """trials.csv, run.json and (if written) pareto.csv of a search run, checked as files
    that may come from someone else: a damaged or foreign one is one sentence, never a
    table read in part."""
    d = Path(run_dir)
    if not (d / TRIALS_FILE).is_file() or not (d / RUN_FILE).is_file():
        raise UserError(f"'{d}' is not a search run folder (it has no {TRIALS_FILE} and "
                        f"{RUN_FILE}); give the folder `mlpnas search` printed at its start.")
    run = _run_record(d / RUN_FILE)
    costs = [o for o in run["objectives"] if o != "accuracy"]
    numeric = ("accuracy", "mflops", "params_m", "latency_ms", "violation")
    trials = _table(d / TRIALS_FILE, ("number", "sampler", "arch", "accuracy", "feasible",
                                      *costs),
                    keep_default_na=False, na_values={c: [""] for c in numeric})
    pareto = None
    if (d / PARETO_FILE).is_file() and (d / PARETO_FILE).stat().st_size:
        pareto = _table(d / PARETO_FILE, ("arch", "accuracy", *costs))
    return RunResults(trials, run, pareto)


def _damaged(path: Path, why: str, verb: str = "search") -> UserError:
    return UserError(f"'{path}' is damaged or was not written by mlpnas ({why}); run the same "
                     f"`mlpnas {verb}` again to write it anew.")


def _run_record(path: Path) -> dict:
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise _damaged(path, f"not JSON: {type(e).__name__}") from None
    if not isinstance(run, dict):
        raise _damaged(path, "not a JSON object")
    objectives = run.get("objectives")
    if not isinstance(run.get("sampler"), str) or not isinstance(objectives, list) \
            or "accuracy" not in objectives or len(objectives) < 2 \
            or not all(o in DIRECTIONS for o in objectives):
        raise _damaged(path, "no sampler, or no known objectives with accuracy among them")
    if not set(run.get("budgets") or {}) <= set(DIRECTIONS) - {"accuracy"}:
        raise _damaged(path, "a budget on something other than a cost")
    for key in ("budgets", "hv_reference"):
        numbers = run.get(key, {})
        if not isinstance(numbers, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                for v in numbers.values()):
            raise _damaged(path, f"its {key} are not numbers")
    if not set(objectives) <= set(run.get("hv_reference", {})):
        raise _damaged(path, "no hypervolume reference point for every objective")
    return run


def _table(path: Path, columns: tuple[str, ...], verb: str = "search", **read) -> pd.DataFrame:
    """A CSV table mlpnas wrote: whole (mlpnas ends it with a newline; a cut file does not),
    with `columns`, numbers where numbers belong and True/False in `feasible`."""
    try:
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raise _damaged(path, "its last line is cut short", verb)
        frame = pd.read_csv(path, **read)
    except (OSError, ValueError, pd.errors.ParserError) as e:  # also EmptyData, Unicode
        raise _damaged(path, f"not a CSV table: {type(e).__name__}", verb) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise _damaged(path, f"no '{missing[0]}' column", verb)
    for c in ("number", "accuracy", "mflops", "params_m", "latency_ms", MEASURED):
        if c in frame.columns and not pd.api.types.is_numeric_dtype(frame[c]):
            raise _damaged(path, f"its '{c}' column holds values that are not numbers", verb)
    if "feasible" in frame.columns and frame["feasible"].dtype != bool:
        raise _damaged(path, "its 'feasible' column holds values other than True and False",
                       verb)
    return frame


class Point(NamedTuple):
    x: float
    y: float
    arch: str
    label: str  # seed label ("all-cycle", ...) or ""


class ParetoPlotInfo(NamedTuple):
    x_name: str                        # the cost on the x axis
    y_name: str                        # "accuracy"
    front: list[Point]                 # the sampler's feasible Pareto front, by x
    dominated: list[Point]             # feasible, not on the front
    infeasible: list[Point]            # violating a budget
    random_front: list[Point]          # the random-sampling study's front
    seeds: list[Point]                 # the enqueued uniform architectures
    budget: float | None               # the budget on this cost, if any
    sampler: str


def _front(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    feas = frame[frame["feasible"].astype(bool)].drop_duplicates("arch")
    feas = feas[feas[x].notna()]
    if feas.empty:
        return feas
    mask = pareto_mask(feas[["accuracy", x]].to_numpy(float),
                       [DIRECTIONS["accuracy"], DIRECTIONS[x]])
    return feas[mask].sort_values(x)


def _points(frame: pd.DataFrame, x: str) -> list[Point]:
    return [Point(float(r[x]), float(r["accuracy"]), r["arch"], str(r["seed"] or ""))
            for _, r in frame.iterrows()]


def pareto_info(results: RunResults, x: str = "mflops") -> ParetoPlotInfo:
    t = results.trials
    if x not in t.columns or t[x].isna().all():
        have = [c for c in ("mflops", "params_m", "latency_ms") if c in t and t[c].notna().any()]
        raise UserError(f"this run has no '{x}' values; plot against one of its costs: "
                        f"{', '.join(have)}.")
    main = t[t["sampler"] == results.sampler]
    rand = t[t["sampler"] == "random"] if results.sampler != "random" else t.iloc[0:0]
    front = _front(main, x)
    feasible = main[main["feasible"].astype(bool)]
    dominated = feasible[~feasible["arch"].isin(front["arch"])].drop_duplicates("arch")
    infeasible = main[~main["feasible"].astype(bool)].drop_duplicates("arch")
    seeds = main[main["seed"].astype(str) != ""].drop_duplicates("seed")
    budget = results.run.get("budgets", {}).get(x)
    return ParetoPlotInfo(x, "accuracy", _points(front, x), _points(dominated, x),
                          _points(infeasible, x), _points(_front(rand, x), x),
                          _points(seeds, x), budget, results.sampler)


class MeasuredLatencyInfo(NamedTuple):
    """The Pareto architectures (of the search's own costs) against their end-to-end latency
    as measured at the end of the search, beside the latency the table predicted."""
    points: list[Point]                # (measured ms, accuracy), by measured latency
    front: list[Point]                 # those no other one beats in both, by latency
    predicted: list[float | None]      # the table's latency of each point, if it has one
    setting: str                       # how latency was measured (device, batch, threads)
    sampler: str


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
                       [DIRECTIONS["accuracy"], DIRECTIONS["latency_ms"]])
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
    return MeasuredLatencyInfo(points, front, predicted, setting, results.sampler)


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
    main = hypervolume_history(t[t["sampler"] == results.sampler], objs, scales)
    rand = (hypervolume_history(t[t["sampler"] == "random"], objs, scales)
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
    front = _front(t[t["sampler"] == results.sampler], x)
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
    costs = [c for c in ("mflops", "latency_ms") if c in results.trials
             and results.trials[c].notna().any()]
    out = {"pareto": {c: pareto_info(results, c)._asdict() for c in costs},
           "measured_latency": (measured_latency_info(results)._asdict()
                                if has_measured_latency(results) else None),
           "hypervolume": hypervolume_info(results)._asdict(),
           "choices": choice_info(results)._asdict()}
    return json.loads(json.dumps(out, default=_plain))


class RankingPoint(NamedTuple):
    arch: str
    supernet: float        # accuracy with the supernet's weights (the search's measure)
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


def has_ranking(folder: str | Path) -> bool:
    d = Path(folder)
    return (d / RANKING_CSV).is_file() and (d / RANKING_JSON).is_file()


def load_ranking(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """ranking.csv and ranking.json written by `mlpnas rank`."""
    d = Path(folder)
    if not has_ranking(d):
        raise UserError(f"'{d}' holds no {RANKING_CSV} and {RANKING_JSON}; run `mlpnas rank "
                        f"RUN_DIR` first.")
    table = _table(d / RANKING_CSV, ("arch",), "rank")
    try:
        stats = json.loads((d / RANKING_JSON).read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise _damaged(d / RANKING_JSON, f"not JSON: {type(e).__name__}", "rank") from None
    if not isinstance(stats, dict):
        raise _damaged(d / RANKING_JSON, "not a JSON object", "rank")
    return table, stats


def ranking_info(folder: str | Path) -> RankingInfo:
    try:
        return _ranking_info(folder)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, UserError):
            raise
        raise _damaged(Path(folder) / RANKING_CSV, f"it or ranking.json lacks what `mlpnas "
                       f"rank` writes: {type(e).__name__} {e}", "rank") from None


def _ranking_info(folder: str | Path) -> RankingInfo:
    table, stats = load_ranking(folder)
    seeds = [c for c in table.columns if c.startswith("seed") and c[4:].isdigit()]
    acc = table[seeds].to_numpy(float)
    points = [RankingPoint(r["arch"], float(r["supernet_acc"]), float(acc[i].mean()),
                           float(acc[i].min()), float(acc[i].max()), float(r["mflops"]),
                           str(r["source"]))
              for i, r in table.iterrows()]
    return RankingInfo(points, stats["kendall_tau"], stats["kendall_tau_ci"],
                       stats.get("seed_ceiling_tau"), stats.get("mflops_tau"), len(seeds),
                       stats.get("regret_pick"))


def _plain(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o))
