"""The numbers of a ranking study from its table: one row per architecture with its supernet
accuracy, its costs, whether it meets the budget, and one standalone accuracy per seed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

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

SCORES = {"supernet": "supernet_acc", "mflops": "mflops", "params": "params_m"}
TOP_K = (0.1, 0.3)


def seed_columns(table: pd.DataFrame) -> list[str]:
    return sorted((c for c in table.columns if c.startswith("seed") and c[4:].isdigit()),
                  key=lambda c: int(c[4:]))


def _r(x: float, nd: int = 4):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


def _ci(ci: Sequence[float]) -> list:
    return [_r(float(v)) for v in ci]


def ranking_stats(table: pd.DataFrame) -> dict:
    """Kendall tau and Spearman rho of every score (supernet accuracy, MFLOPs, parameters)
    against the seed-mean standalone accuracy, with 95% bootstrap intervals (the same
    resamples for all, so the paired differences are meaningful); the seed ceiling;
    precision at the top 10% and 30%; the regret of each score's pick within the budget
    (`feasible` column) in accuracy points; seed noise and the spread between architectures."""
    seeds = seed_columns(table)
    acc = table[seeds].to_numpy(float)
    truth = acc.mean(axis=1)
    n = len(table)
    idx = bootstrap_indices(n)
    out: dict = {"n_archs": n, "seeds": len(seeds)}
    for name, col in SCORES.items():
        score = table[col].to_numpy(float)
        tau = correlation(score, truth, kendall_tau, idx)
        rho = correlation(score, truth, spearman_rho, idx)
        prefix = "" if name == "supernet" else f"{name}_"
        out[f"{prefix}kendall_tau"] = _r(tau.value)
        out[f"{prefix}kendall_tau_ci"] = _ci(tau.ci)
        out[f"{prefix}spearman_rho"] = _r(rho.value)
        out[f"{prefix}spearman_rho_ci"] = _ci(rho.ci)
        for f in TOP_K:
            out[f"{prefix}precision_at_{round(100 * f)}"] = _r(precision_at_k(score, truth, f))
    # short names the experiment READMEs use for the proxies' taus
    out["mflops_tau"], out["params_tau"] = out["mflops_kendall_tau"], out["params_kendall_tau"]
    sn = table["supernet_acc"].to_numpy(float)
    for name in ("mflops", "params"):
        d = difference(sn, table[SCORES[name]].to_numpy(float), truth, kendall_tau, idx)
        out[f"tau_minus_{name}_tau"] = _r(d.value)
        out[f"tau_minus_{name}_tau_ci"] = _ci(d.ci)
    ceiling = seed_ceiling(acc, kendall_tau, idx)
    out["seed_ceiling_tau"] = _r(ceiling.value)
    out["seed_ceiling_tau_ci"] = _ci(ceiling.ci)
    out["seed01_tau"] = _r(kendall_tau(acc[:, 0], acc[:, 1])) if len(seeds) > 1 else None
    feasible = table["feasible"].astype(bool).to_numpy() if "feasible" in table else None
    r, pick = regret(sn, truth, feasible)
    out["regret"] = _r(100 * r, 3)
    out["regret_pick"] = str(table["arch"].iloc[pick]) if pick >= 0 else None
    out["regret_mflops"] = _r(100 * regret(table["mflops"].to_numpy(float), truth,
                                           feasible)[0], 3)
    out["regret_random"] = _r(100 * mean_random_regret(truth, feasible), 3)
    out["n_feasible"] = int(n if feasible is None else feasible.sum())
    out["best_standalone"] = _r(float(truth[feasible].max() if feasible is not None
                                      and feasible.any() else truth.max()))
    out["seed_noise_std"] = _r(seed_noise(acc))
    out["standalone_spread_std"] = _r(float(np.std(truth, ddof=1)) if n > 1 else math.nan)
    out["standalone_range"] = [_r(float(truth.min())), _r(float(truth.max()))]
    return out


def summary_lines(stats: dict, budget_text: str, recipe_text: str) -> list[str]:
    """The short table `mlpnas rank` prints."""
    def row(label: str, prefix: str) -> str:
        ci = stats[f"{prefix}kendall_tau_ci"]
        return (f"  {label:<14} {stats[f'{prefix}kendall_tau']:>6.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
                f"   {stats[f'{prefix}spearman_rho']:>6.3f}"
                f"   {stats[f'{prefix}precision_at_10']:>5.2f}"
                f"   {stats[f'{prefix}precision_at_30']:>5.2f}")

    ceiling = stats["seed_ceiling_tau_ci"]
    return [
        f"ranking of {stats['n_archs']} architectures x {stats['seeds']} seeds "
        f"({recipe_text})",
        "  score          Kendall tau [95% CI]   Spearman  P@10%   P@30%",
        row("supernet", ""), row("MFLOPs", "mflops_"), row("parameters", "params_"),
        f"  seed ceiling   {_fmt(stats['seed_ceiling_tau'])} [{_fmt(ceiling[0])}, "
        f"{_fmt(ceiling[1])}]   (one standalone seed against another)",
        f"  supernet tau - MFLOPs tau {_fmt(stats['tau_minus_mflops_tau'])} "
        f"{_fmt_ci(stats['tau_minus_mflops_tau_ci'])}, - parameters tau "
        f"{_fmt(stats['tau_minus_params_tau'])} {_fmt_ci(stats['tau_minus_params_tau_ci'])}",
        f"  regret {budget_text}: supernet's pick {_fmt(stats['regret'], 2)} points "
        f"below the best of the {stats['n_feasible']}, MFLOPs' pick "
        f"{_fmt(stats['regret_mflops'], 2)}, a random pick {_fmt(stats['regret_random'], 2)} "
        f"on average",
        f"  standalone accuracy {_fmt(stats['standalone_range'][0])} to "
        f"{_fmt(stats['standalone_range'][1])} (std {_fmt(stats['standalone_spread_std'])} "
        f"between architectures, {_fmt(stats['seed_noise_std'])} between seeds)",
    ]


def _fmt(v, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def _fmt_ci(ci) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"
