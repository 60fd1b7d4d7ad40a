"""Ranking statistics: how well a score (supernet accuracy, MFLOPs, parameters) orders
architectures the way their standalone accuracy does.

Plain numpy. Kendall's tau is tau-b (ties in either variable count as neither concordant nor
discordant, as scipy's default), Spearman's rho the Pearson correlation of average ranks
(scipy's rankdata).
Confidence intervals are percentile bootstraps over architectures: resample the N
architectures with replacement, recompute the statistic, take the 2.5% and 97.5% points.
Every bootstrap here is vectorised and seeded, so a report is the same on every run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

N_BOOT = 2000
LEVEL = 0.95


def _as_batch(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[None, :] if a.ndim == 1 else a


def kendall_tau(x, y) -> np.ndarray | float:
    """Kendall's tau-b of x and y (1-D: a float; 2-D (B, n): one tau per row). NaN where a
    variable is constant."""
    single = np.asarray(x).ndim == 1
    xb, yb = _as_batch(x), _as_batch(y)
    sx = np.sign(xb[:, :, None] - xb[:, None, :])
    sy = np.sign(yb[:, :, None] - yb[:, None, :])
    num = (sx * sy).sum(axis=(1, 2))
    den = np.sqrt((sx * sx).sum(axis=(1, 2)) * (sy * sy).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(tau[0]) if single else tau


def spearman_rho(x, y) -> np.ndarray | float:
    """Spearman's rho of x and y (1-D: a float; 2-D (B, n): one per row). NaN where a
    variable is constant."""
    single = np.asarray(x).ndim == 1
    from scipy.stats import rankdata

    rx, ry = rankdata(_as_batch(x), axis=1), rankdata(_as_batch(y), axis=1)
    rx = rx - rx.mean(axis=1, keepdims=True)
    ry = ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, (rx * ry).sum(1) / np.where(den > 0, den, 1.0), np.nan)
    return float(rho[0]) if single else rho


def bootstrap_indices(n: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """(n_boot, n) indices drawn with replacement, the same for a given (n, n_boot, seed)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_ci(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` interval of bootstrap samples (NaN samples dropped)."""
    s = np.asarray(samples, dtype=float)
    s = s[~np.isnan(s)]
    if len(s) == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))


class Estimate(NamedTuple):
    value: float
    ci: tuple[float, float]


def correlation(score, truth, stat: Callable = kendall_tau, idx: np.ndarray | None = None
                ) -> Estimate:
    """A correlation statistic with its bootstrap interval (resampling architectures)."""
    score, truth = np.asarray(score, float), np.asarray(truth, float)
    idx = bootstrap_indices(len(score)) if idx is None else idx
    return Estimate(stat(score, truth), percentile_ci(stat(score[idx], truth[idx])))


def difference(score_a, score_b, truth, stat: Callable = kendall_tau,
               idx: np.ndarray | None = None) -> Estimate:
    """stat(a, truth) - stat(b, truth) with a paired bootstrap interval: whether score a
    orders the architectures better than score b, beyond chance."""
    a, b, t = (np.asarray(v, float) for v in (score_a, score_b, truth))
    idx = bootstrap_indices(len(t)) if idx is None else idx
    boots = stat(a[idx], t[idx]) - stat(b[idx], t[idx])
    return Estimate(stat(a, t) - stat(b, t), percentile_ci(boots))


def seed_ceiling(acc: np.ndarray, stat: Callable = kendall_tau,
                 idx: np.ndarray | None = None) -> Estimate:
    """How well one standalone seed orders the architectures like another: the mean of
    stat(seed i, seed j) over all pairs of seeds, with its bootstrap interval. `acc` is
    (n_archs, n_seeds). No ranking score can be expected to agree with standalone training
    better than standalone training agrees with itself."""
    acc = np.asarray(acc, float)
    n, s = acc.shape
    if s < 2:
        return Estimate(math.nan, (math.nan, math.nan))
    pairs = [(i, j) for i in range(s) for j in range(i + 1, s)]
    idx = bootstrap_indices(n) if idx is None else idx
    value = float(np.mean([stat(acc[:, i], acc[:, j]) for i, j in pairs]))
    with warnings.catch_warnings():  # a resample of one architecture has no tau at all
        warnings.simplefilter("ignore", RuntimeWarning)
        boots = np.nanmean(np.stack([stat(acc[idx, i], acc[idx, j]) for i, j in pairs]), 0)
    return Estimate(value, percentile_ci(boots))


def top_k(score, k: int) -> set[int]:
    """Indices of the k highest scores (ties: the earlier index first)."""
    order = np.argsort(-np.asarray(score, float), kind="stable")
    return set(order[:k].tolist())


def precision_at_k(score, truth, fraction: float) -> float:
    """Share of the top ceil(fraction * n) architectures by `score` that are also among the
    top ceil(fraction * n) by `truth`."""
    n = len(truth)
    k = max(1, math.ceil(fraction * n - 1e-9))
    return len(top_k(score, k) & top_k(truth, k)) / k


def regret(score, truth, feasible: Sequence[bool] | None = None) -> tuple[float, int]:
    """(best truth among the feasible architectures - truth of the one `score` ranks first
    among them, index of that pick). Truth in accuracy units; 0 means the pick is the best."""
    score, truth = np.asarray(score, float), np.asarray(truth, float)
    ok = np.ones(len(truth), bool) if feasible is None else np.asarray(feasible, bool)
    if not ok.any():
        return (math.nan, -1)
    candidates = np.flatnonzero(ok)
    pick = int(candidates[np.argmax(score[candidates])])
    return (float(truth[candidates].max() - truth[pick]), pick)


def mean_random_regret(truth, feasible: Sequence[bool] | None = None) -> float:
    """The regret of picking a feasible architecture at random, on average."""
    truth = np.asarray(truth, float)
    ok = np.ones(len(truth), bool) if feasible is None else np.asarray(feasible, bool)
    if not ok.any():
        return math.nan
    t = truth[ok]
    return float(t.max() - t.mean())


def seed_noise(acc: np.ndarray) -> float:
    """Pooled standard deviation of one architecture's accuracy across seeds."""
    acc = np.asarray(acc, float)
    if acc.shape[1] < 2:
        return math.nan
    return float(np.sqrt(np.mean(np.var(acc, axis=1, ddof=1))))
