"""Ranking studies: does the supernet order architectures the way standalone training does?
Which architectures to train, the standalone jobs shared by several workers, and the
statistics (Kendall tau, Spearman rho, bootstrap intervals, seed ceiling, precision at k,
regret). `mlpnas rank RUN_DIR` (tasks/rank.py) wires them to a search run."""

from ..score import seed_columns
from ._chance import chance_warning
from ._jobs import Job, JobsDone, claimed, make_jobs, read_result, run_jobs, worker_order
from ._pick import MIN_ARCHS, front_layers, pick_archs, plan_entries, random_feasible, read_keys
from ._report import ranking_stats, score_column, score_stats, summary_lines
from ._stats import (
    Estimate,
    bootstrap_indices,
    correlation,
    difference,
    kendall_tau,
    mean_random_regret,
    percentile_ci,
    precision_at_k,
    regret,
    seed_ceiling,
    seed_noise,
    spearman_rho,
    top_k,
)

__all__ = [
    "MIN_ARCHS",
    "Estimate",
    "Job",
    "JobsDone",
    "bootstrap_indices",
    "chance_warning",
    "claimed",
    "correlation",
    "difference",
    "front_layers",
    "kendall_tau",
    "make_jobs",
    "mean_random_regret",
    "percentile_ci",
    "pick_archs",
    "plan_entries",
    "precision_at_k",
    "random_feasible",
    "ranking_stats",
    "read_keys",
    "read_result",
    "regret",
    "run_jobs",
    "seed_ceiling",
    "score_column",
    "score_stats",
    "seed_columns",
    "seed_noise",
    "spearman_rho",
    "summary_lines",
    "top_k",
    "worker_order",
]
