"""The numbers of a ranking study from its table: one row per architecture with its supernet
accuracy, its costs, whether it meets the budget, and one standalone accuracy per seed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..score import oriented, score_column, seed_columns
from ._stats import (
    bootstrap_indices,
    correlation,
    difference,
    kendall_tau,
    mean_random_regret,
    precision_at_k,
    regret,
    seed_ceiling,
    seed_noise,
    spearman_rho,
)

TOP_K = (0.1, 0.3)
# the cheap proxies every score is compared with (their score names; `score_column` gives
# their table columns)
PROXIES = ("mflops", "params")
LEGACY_AXIS = "supernet_acc"


def _r(x: float, nd: int = 4):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


def _ci(ci: Sequence[float]) -> list:
    return [_r(float(v)) for v in ci]


def score_stats(table: pd.DataFrame, name: str, direction: str, idx: np.ndarray,
                feasible: np.ndarray | None, seconds: float | None = None) -> dict:
    """How well one score (a column of `table`) orders the architectures like their
    seed-mean standalone accuracy: Kendall tau and Spearman rho with bootstrap intervals,
    the paired interval of its tau minus the MFLOPs proxy's, precision at the top 10% and
    30%, the regret of its pick within the budget (accuracy points)."""
    truth = table[seed_columns(table)].to_numpy(float).mean(axis=1)
    score = oriented(table[score_column(name)].to_numpy(float), direction)
    finite = np.isfinite(score)
    if not finite.all():  # a failed score (inf, NaN) ranks last
        score = np.where(finite, score, (score[finite].min() if finite.any() else 0.0) - 1.0)
    tau = correlation(score, truth, kendall_tau, idx)
    rho = correlation(score, truth, spearman_rho, idx)
    d = difference(score, table[score_column("mflops")].to_numpy(float), truth, kendall_tau,
                   idx)
    r, pick = regret(score, truth, feasible)
    out = {"direction": direction, "kendall_tau": _r(tau.value), "kendall_tau_ci": _ci(tau.ci),
           "spearman_rho": _r(rho.value), "spearman_rho_ci": _ci(rho.ci),
           "tau_minus_mflops": _r(d.value), "tau_minus_mflops_ci": _ci(d.ci)}
    for f in TOP_K:
        out[f"precision_at_{round(100 * f)}"] = _r(precision_at_k(score, truth, f))
    out["regret"] = _r(100 * r, 3)
    out["regret_pick"] = str(table["arch"].iloc[pick]) if pick >= 0 else None
    out["seconds_per_arch"] = None if seconds is None else round(float(seconds), 4)
    return out


def ranking_stats(table: pd.DataFrame, scores: Mapping[str, str] | None = None,
                  axis: str = LEGACY_AXIS, seconds: Mapping[str, float | None] | None = None
                  ) -> dict:
    """The statistics of every score in `scores` ({name: direction}; by default the
    supernet's accuracy and the two proxies) against the seed-mean standalone accuracy,
    all on the same bootstrap resamples (so paired differences are meaningful), under
    `scores` in the result; the run's own accuracy axis (`axis`) also at the top level
    (`kendall_tau`, `regret`, ...: the keys earlier reports had for the supernet); the seed
    ceiling, seed noise and the spread between architectures."""
    scores = dict(scores or {LEGACY_AXIS: "maximize", "mflops": "maximize",
                             "params": "maximize"})
    seconds = dict(seconds or {})
    seeds = seed_columns(table)
    acc = table[seeds].to_numpy(float)
    truth = acc.mean(axis=1)
    n = len(table)
    idx = bootstrap_indices(n)
    feasible = table["feasible"].astype(bool).to_numpy() if "feasible" in table else None
    per = {name: score_stats(table, name, d, idx, feasible, seconds.get(name))
           for name, d in scores.items()}
    out: dict = {"n_archs": n, "seeds": len(seeds), "axis_score": axis if axis in per else None,
                 "scores": per}
    top = per.get(axis) or {}
    for key in ("kendall_tau", "kendall_tau_ci", "spearman_rho", "spearman_rho_ci",
                "precision_at_10", "precision_at_30", "regret", "regret_pick"):
        out[key] = top.get(key)
    for name in PROXIES:
        p = per.get(name) or score_stats(table, name, "maximize", idx, feasible)
        for key in ("kendall_tau", "kendall_tau_ci", "spearman_rho", "spearman_rho_ci",
                    "precision_at_10", "precision_at_30"):
            out[f"{name}_{key}"] = p[key]
        out[f"{name}_tau"] = p["kendall_tau"]  # short names the experiment READMEs use
        if top:
            col = table[score_column(axis)].to_numpy(float)
            d = difference(oriented(col, scores[axis]),
                           table[score_column(name)].to_numpy(float), truth, kendall_tau, idx)
            out[f"tau_minus_{name}_tau"] = _r(d.value)
            out[f"tau_minus_{name}_tau_ci"] = _ci(d.ci)
    out["regret_mflops"] = (per.get("mflops") or score_stats(
        table, "mflops", "maximize", idx, feasible))["regret"]
    ceiling = seed_ceiling(acc, kendall_tau, idx)
    out["seed_ceiling_tau"] = _r(ceiling.value)
    out["seed_ceiling_tau_ci"] = _ci(ceiling.ci)
    out["seed01_tau"] = _r(kendall_tau(acc[:, 0], acc[:, 1])) if len(seeds) > 1 else None
    out["regret_random"] = _r(100 * mean_random_regret(truth, feasible), 3)
    out["n_feasible"] = int(n if feasible is None else feasible.sum())
    out["best_standalone"] = _r(float(truth[feasible].max() if feasible is not None
                                      and feasible.any() else truth.max()))
    out["seed_noise_std"] = _r(seed_noise(acc))
    out["standalone_spread_std"] = _r(float(np.std(truth, ddof=1)) if n > 1 else math.nan)
    out["standalone_range"] = [_r(float(truth.min())), _r(float(truth.max()))]
    return out


def summary_lines(stats: dict, budget_text: str, recipe_text: str) -> list[str]:
    """The table `mlpnas rank` prints: one row per score, best Kendall tau first."""
    ceiling = stats["seed_ceiling_tau_ci"]
    width = max([len(n) for n in stats["scores"]] + [12])
    lines = [f"ranking of {stats['n_archs']} architectures x {stats['seeds']} seeds "
             f"({recipe_text})",
             f"  {'score':<{width}}  Kendall tau [95% CI]    Spearman  P@10%  P@30%  "
             f"tau - MFLOPs [95% CI]    regret  s/arch"]
    order = sorted(stats["scores"].items(),
                   key=lambda kv: -(kv[1]["kendall_tau"] if kv[1]["kendall_tau"] is not None
                                    else -2))
    for name, s in order:
        mark = " *" if name == stats.get("axis_score") else ""
        diff = ("" if name == "mflops" else
                f"{_fmt(s['tau_minus_mflops']):>6} {_fmt_ci(s['tau_minus_mflops_ci'])}")
        lines.append(
            f"  {name:<{width}}  {_fmt(s['kendall_tau']):>6} {_fmt_ci(s['kendall_tau_ci']):<16}"
            f"  {_fmt(s['spearman_rho']):>6}  {_fmt(s['precision_at_10'], 2):>5}"
            f"  {_fmt(s['precision_at_30'], 2):>5}  {diff:<23}  {_fmt(s['regret'], 2):>6}"
            f"  {_fmt(s['seconds_per_arch'], 3):>6}{mark}")
    lines += [
        f"  {'seed ceiling':<{width}}  {_fmt(stats['seed_ceiling_tau']):>6} "
        f"{_fmt_ci(ceiling):<16}  (one standalone seed against another)",
        f"  (* the search's own accuracy axis; regret: points below the best of the "
        f"{stats['n_feasible']} {budget_text}; a random pick: "
        f"{_fmt(stats['regret_random'], 2)} on average)",
        f"  standalone accuracy {_fmt(stats['standalone_range'][0])} to "
        f"{_fmt(stats['standalone_range'][1])} (std {_fmt(stats['standalone_spread_std'])} "
        f"between architectures, {_fmt(stats['seed_noise_std'])} between seeds)",
    ]
    return lines


def _fmt(v, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def _fmt_ci(ci) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"
